// The journal mode Open chooses from the filesystem probe, VFSes that do not
// lock or have no shared memory, and conversion between WAL and DELETE.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlsteward/database.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::StatusIs;
using testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Status CreateTable(Database& db) {
  return db.Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE IF NOT EXISTS t(v); INSERT INTO t VALUES(1)");
  });
}

TEST(JournalPolicyTest, LocalDiskGetsWal) {
  TempDir tmp;
  auto db = Database::Open(tmp.File("local.db"));
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ((*db)->journal_mode(), JournalMode::kWal);
}

// Through FUSE the probe cannot vouch for shared memory that another mount
// or host would see: kAuto chooses a rollback journal, explicit WAL is
// refused with the reason, and the loudly named override is obeyed.
TEST(JournalPolicyTest, FuseMountGetsRollbackJournalAndRefusesWal) {
  TempDir tmp;
  std::string source = tmp.File("source");
  std::string view = tmp.File("view");
  ::mkdir(source.c_str(), 0700);
  ::mkdir(view.c_str(), 0700);
  testing::BindfsMount mount(source, view);
  ASSERT_THAT(mount.error(), IsEmpty());
  {
    auto db = Database::Open(view + "/auto.db");
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    EXPECT_EQ((*db)->journal_mode(), JournalMode::kDelete);
    SQLSTEWARD_EXPECT_OK(CreateTable(**db));
  }
  Options wal;
  wal.journal_mode = JournalMode::kWal;
  auto refused = Database::Open(view + "/wal.db", wal);
  EXPECT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("WAL is unsafe"));
  EXPECT_FALSE(refused.error().hint().empty());

  wal.unsafe_ignore_filesystem_probe = true;
  std::vector<std::string> warnings;
  wal.on_warning = [&](std::string_view w) { warnings.emplace_back(w); };
  auto forced = Database::Open(view + "/forced.db", wal);
  ASSERT_TRUE(forced.has_value()) << testing::Describe(forced);
  EXPECT_EQ((*forced)->journal_mode(), JournalMode::kWal);
  ASSERT_FALSE(warnings.empty());
  EXPECT_THAT(warnings[0], HasSubstr("unsafe_ignore_filesystem_probe"));
}

TEST(JournalPolicyTest, UnixNoneVfsTakesNoLocksAndIsRefused) {
  TempDir tmp;
  Options options;
  options.vfs = "unix-none";
  auto db = Database::Open(tmp.File("none.db"), options);
  EXPECT_THAT(db, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(db.error().message()), HasSubstr("takes no locks"));
}

// Accepted because it really locks: while a write transaction is open, the
// lock is SQLite's "<db>.lock" entry and another connection through the
// same VFS is kept out (SQLITE_BUSY at once, without a busy timeout).
TEST(JournalPolicyTest, UnixDotfileVfsLocksAndIsAccepted) {
  TempDir tmp;
  const std::string path = tmp.File("dot.db");
  Options options;
  options.vfs = "unix-dotfile";
  options.journal_mode = JournalMode::kDelete;  // Dot-file locking has no shared memory.
  auto db = Database::Open(path, options);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  SQLSTEWARD_ASSERT_OK(CreateTable(**db));

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &other, SQLITE_OPEN_READONLY, "unix-dotfile"),
            SQLITE_OK);
  auto read_other = [other] {
    return sqlite3_exec(other, "SELECT count(*) FROM t", nullptr, nullptr, nullptr);
  };
  EXPECT_FALSE(Exists(path + ".lock"));
  EXPECT_EQ(read_other(), SQLITE_OK);
  SQLSTEWARD_EXPECT_OK((*db)->Write([&](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t VALUES(2)"));
    EXPECT_TRUE(Exists(path + ".lock")) << "no dot-file lock during a write";
    EXPECT_EQ(read_other(), SQLITE_BUSY) << "another connection read during a write";
    return Status::Ok();
  }));
  EXPECT_FALSE(Exists(path + ".lock"));
  EXPECT_EQ(read_other(), SQLITE_OK);
  sqlite3_close(other);
}

// unix-dotfile locks with dot files and its I/O methods have no shared
// memory, so SQLite refuses WAL through it without an error: PRAGMA
// journal_mode=WAL answers the old mode. Open must read the mode back and
// say so.
TEST(JournalPolicyTest, WalSilentlyRefusedByAVfsIsDetected) {
  TempDir tmp;
  Options options;
  options.vfs = "unix-dotfile";
  options.journal_mode = JournalMode::kWal;
  auto db = Database::Open(tmp.File("dotfile.db"), options);
  EXPECT_THAT(db, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(db.error().message()), HasSubstr("journal_mode wal was refused"));
  EXPECT_THAT(std::string(db.error().hint()), HasSubstr("kDelete"));
}

TEST(JournalPolicyTest, ConvertingWalToDeleteLeavesNoWalFile) {
  TempDir tmp;
  std::string path = tmp.File("convert.db");
  {
    Options wal;
    wal.journal_mode = JournalMode::kWal;
    wal.checkpoint_wal_bytes = 0;  // Leave content in the WAL.
    auto db = Database::Open(path, wal);
    ASSERT_TRUE(db.has_value());
    SQLSTEWARD_ASSERT_OK(CreateTable(**db));
    EXPECT_TRUE(Exists(path + "-wal"));
  }
  Options rollback;
  rollback.journal_mode = JournalMode::kDelete;
  auto db = Database::Open(path, rollback);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ((*db)->journal_mode(), JournalMode::kDelete);
  EXPECT_FALSE(Exists(path + "-wal"));
  EXPECT_EQ(testing::CountRows(path, "t"), 1);  // Nothing lost in the conversion.
}

TEST(JournalPolicyTest, ConversionIsRefusedWhileAnotherHandleIsOpen) {
  TempDir tmp;
  std::string path = tmp.File("busy.db");
  Options wal;
  wal.journal_mode = JournalMode::kWal;
  auto first = Database::Open(path, wal);
  ASSERT_TRUE(first.has_value());
  SQLSTEWARD_ASSERT_OK(CreateTable(**first));
  Options rollback;
  rollback.journal_mode = JournalMode::kDelete;
  rollback.write_timeout = std::chrono::milliseconds(300);
  auto second = Database::Open(path, rollback);
  EXPECT_THAT(second, StatusIs(StatusCode::kFailedPrecondition));
  SQLSTEWARD_EXPECT_OK(CreateTable(**first));  // The first handle is unharmed.
  EXPECT_EQ((*first)->journal_mode(), JournalMode::kWal);
}

}  // namespace
}  // namespace sqlsteward
