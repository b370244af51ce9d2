// Issue 11, classes 2, 6 and 7, end to end with the built CLI on real
// mounts: a restore onto the snapshot itself; a read-only bind mount; a
// full disk; a restore that runs out of space; a damaged database restored
// from a snapshot.
//
// The mounts are made in a mount namespace of this test process's own
// (unshare(CLONE_NEWNS), propagation private), so they cannot leak to the
// host even if the test dies; each is also unmounted by its guard.
#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/run_cli.h"
#include "sqlsteward/probe.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/sqlsteward.h"
#include "support/snapshot_fixtures.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::CliResult;
using testing::FileSha;
using testing::OpenDb;
using testing::QueryInt;
using testing::SeedBank;
using testing::StatusIs;
using testing::TempDir;

const std::string kCli = SQLSTEWARD_CLI;

CliResult Cli(const std::vector<std::string>& args) { return testing::RunCli(kCli, args); }

nlohmann::json Json(const CliResult& r) {
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
  return doc;
}

void Seed(const std::string& path, int accounts, int filler_rows = 0) {
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, accounts, filler_rows);
  SQLSTEWARD_ASSERT_OK(db->Close());
}

// Every entry in `dir`: its bytes' sha256 (directories by name only) and
// its mode.
std::map<std::string, std::string> Contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    struct stat st {};
    EXPECT_EQ(::lstat(entry.path().c_str(), &st), 0) << entry.path();
    out[entry.path().filename().string()] =
        (entry.is_regular_file() ? FileSha(entry.path().string()) : "dir") + " mode " +
        std::to_string(st.st_mode & 07777);
  }
  return out;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The test process's own mount namespace, entered once, before any thread.
void PrivateMountNamespace() {
  static const bool entered = [] {
    if (::unshare(CLONE_NEWNS) != 0) return false;
    return ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
  }();
  ASSERT_TRUE(entered) << "unshare(CLONE_NEWNS) needs root (CAP_SYS_ADMIN): " << strerror(errno);
}

// A mount made for one test; unmounted when it goes out of scope.
class MountGuard {
 public:
  static void Tmpfs(MountGuard* guard, const std::string& dir, const char* size) {
    std::filesystem::create_directories(dir);
    const std::string data = std::string("size=") + size + ",mode=0700";
    ASSERT_EQ(::mount("tmpfs", dir.c_str(), "tmpfs", 0, data.c_str()), 0) << strerror(errno);
    guard->dir_ = dir;
  }
  static void ReadOnlyBind(MountGuard* guard, const std::string& from, const std::string& dir) {
    std::filesystem::create_directories(dir);
    ASSERT_EQ(::mount(from.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);
    guard->dir_ = dir;
    ASSERT_EQ(::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0)
        << strerror(errno);
  }
  MountGuard() = default;
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard() {
    if (!dir_.empty()) {
      EXPECT_EQ(::umount2(dir_.c_str(), MNT_DETACH), 0) << strerror(errno);
    }
  }

 private:
  std::string dir_;
};

// Writes zeros to `path` until the filesystem says ENOSPC.
void FillDisk(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::vector<char> block(4096, 0);
  for (;;) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n < 0) {
      ASSERT_EQ(errno, ENOSPC);
      break;
    }
    if (n == 0) break;
  }
  ::close(fd);
}

// ---- Class 2: a restore onto the snapshot itself ----------------------

TEST(RestoreOntoItselfTest, RefusedForEveryNameOfTheSameFile) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  Seed(db_path, 10);
  auto snap = Snapshot(db_path, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  const std::string& s = snap->path;
  ASSERT_EQ(::link(s.c_str(), dir.File("hardlink.db").c_str()), 0);
  ASSERT_EQ(::symlink(dir.File("snaps").c_str(), dir.File("via").c_str()), 0);
  const std::string through_link =
      dir.File("via") + "/" + std::filesystem::path(s).filename().string();
  const auto before = Contents(dir.File("snaps"));

  EXPECT_THAT(Restore(s, s), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Restore(s, dir.File("hardlink.db")), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Restore(through_link, s), StatusIs(StatusCode::kInvalidArgument));
  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    auto onto_open = Restore(*db, db_path);
    EXPECT_THAT(onto_open, StatusIs(StatusCode::kInvalidArgument));
    if (!onto_open.has_value()) {
      EXPECT_THAT(std::string(onto_open.error().message()), HasSubstr("same file"));
      EXPECT_THAT(std::string(onto_open.error().hint()), HasSubstr("sqlsteward verify"));
    }
  }

  CliResult cli = Cli({"restore", s, s, "--json"});
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  auto doc = Json(cli);
  EXPECT_EQ(doc["error"]["code"], "invalid_argument");
  // Nothing was written: no -wal, -shm, sidecar or pre-restore beside it.
  EXPECT_EQ(Contents(dir.File("snaps")), before);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(s).status());
}

// ---- Class 2: commands that read write nothing ------------------------

// A database another program made: stock SQLite, 0644, closed cleanly in
// `journal_mode` (a closed WAL database has no -wal or -shm, the case in
// which a plain read-only open creates both).
void MakeForeignDatabase(const std::string& path, const char* journal_mode) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  const std::string sql = std::string("PRAGMA journal_mode=") + journal_mode +
                          "; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);";
  EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(raw);
  ASSERT_EQ(sqlite3_close(raw), SQLITE_OK);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
}

TEST(ReadCommandsTest, LeaveEveryByteAndModeOfASnapshotAndAForeignDatabase) {
  TempDir dir;
  const std::string snaps = dir.File("snaps");
  std::filesystem::create_directories(snaps);
  Seed(dir.File("app.db"), 5);
  auto snap = Snapshot(dir.File("app.db"), snaps);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  const std::string foreign = dir.File("foreign");
  std::filesystem::create_directories(foreign);
  ASSERT_NO_FATAL_FAILURE(MakeForeignDatabase(foreign + "/wal.db", "wal"));
  ASSERT_NO_FATAL_FAILURE(MakeForeignDatabase(foreign + "/delete.db", "delete"));
  const auto snaps_before = Contents(snaps);
  const auto foreign_before = Contents(foreign);

  for (const std::string& db : {snap->path, foreign + "/wal.db", foreign + "/delete.db"}) {
    SCOPED_TRACE(db);
    CliResult query = Cli({"query", db, "SELECT count(*) FROM sqlite_master", "--json"});
    EXPECT_EQ(query.exit_code, 0) << query.out << query.err;
    CliResult version = Cli({"version", db, "--json"});
    EXPECT_EQ(version.exit_code, 0) << version.out << version.err;
    // status and doctor may report findings (no sidecar, a foreign file):
    // their exit status is not what this test is about, what they write is.
    Cli({"status", db, "--json"});
    Cli({"doctor", db, "--json"});
  }
  CliResult verify = Cli({"verify", snap->path, "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  EXPECT_EQ(Contents(snaps), snaps_before);
  EXPECT_EQ(Contents(foreign), foreign_before);
  // The snapshot still verifies and restores after being read.
  CliResult again = Cli({"verify", snap->path, "--json"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  CliResult restore = Cli({"restore", snap->path, dir.File("restored.db"), "--json"});
  EXPECT_EQ(restore.exit_code, 0) << restore.out << restore.err;
}

// ---- Class 7: a damaged database replaced from a snapshot -------------

enum class Damage { kGarbage, kCorruptPage, kTruncated };

class RestoreDamagedTest : public ::testing::TestWithParam<Damage> {};

// A database in rollback-journal mode (no WAL to shadow a damaged page).
void CloseToRollbackJournal(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST_P(RestoreDamagedTest, DamagedFilesAreKeptAsideAndTheSnapshotRestored) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  Seed(db_path, 100, 60);
  auto snap = Snapshot(db_path, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) {
      return tx.Exec("UPDATE accounts SET balance = 0 WHERE id <= 50");
    }));
    SQLSTEWARD_ASSERT_OK(db->Close());
  }
  CloseToRollbackJournal(db_path);
  std::filesystem::remove(db_path + "-shm");
  const auto size = static_cast<off_t>(std::filesystem::file_size(db_path));
  switch (GetParam()) {
    case Damage::kGarbage:
      testing::WriteFile(db_path, std::string(20000, 'x'));
      testing::WriteFile(db_path + "-wal", "a stale log the damaged file leaves behind");
      break;
    case Damage::kCorruptPage: {
      int fd = ::open(db_path.c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      std::string junk(4096, '\xa5');
      ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 4096), 4096);  // Page 2.
      ::close(fd);
      break;
    }
    case Damage::kTruncated:
      ASSERT_EQ(::truncate(db_path.c_str(), size / 4096 / 3 * 4096), 0);
      break;
  }
  std::map<std::string, std::string> original;  // Suffix -> sha of the damaged bytes.
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (std::filesystem::exists(db_path + suffix)) original[suffix] = FileSha(db_path + suffix);
  }

  CliResult cli = Cli({"restore", snap->path, db_path, "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  auto doc = Json(cli);
  EXPECT_EQ(doc["ok"], true);
  EXPECT_TRUE(doc["pre_restore"].is_null());
  ASSERT_TRUE(doc["damaged"].is_object()) << cli.out;
  EXPECT_FALSE(doc["damaged"]["reason"].get<std::string>().empty());
  std::vector<std::string> kept = doc["damaged"]["kept"];
  ASSERT_EQ(kept.size(), original.size()) << cli.out;
  for (const std::string& path : kept) {
    EXPECT_THAT(path, StartsWith(db_path + ".damaged-"));
    std::string suffix;
    for (const char* s : {"-wal", "-shm", "-journal"}) {
      if (path.size() > std::strlen(s) && path.ends_with(s)) suffix = s;
    }
    ASSERT_TRUE(original.count(suffix)) << path;
    EXPECT_EQ(FileSha(path), original[suffix]) << path << " does not hold the original bytes";
    struct stat st;
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
  }

  // The restored database holds the snapshot's content and is sound.
  EXPECT_EQ(QueryInt(db_path, "SELECT sum(balance) FROM accounts"), 100 * 1000);
  EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");
  CliResult check = Cli({"query", db_path, "SELECT count(*) FROM filler"});
  EXPECT_EQ(check.exit_code, 0) << check.err;

  // The text output says where the damaged files went.
  CliResult again = Cli({"restore", snap->path, db_path});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("Previous"));  // Healthy now: today's rules.
}

INSTANTIATE_TEST_SUITE_P(Kinds, RestoreDamagedTest,
                         ::testing::Values(Damage::kGarbage, Damage::kCorruptPage,
                                           Damage::kTruncated),
                         [](const ::testing::TestParamInfo<Damage>& param) {
                           switch (param.param) {
                             case Damage::kGarbage:
                               return "Garbage";
                             case Damage::kCorruptPage:
                               return "CorruptPage";
                             case Damage::kTruncated:
                               return "Truncated";
                           }
                           return "Unknown";
                         });

// ---- Class 6: a read-only bind mount ----------------------------------

TEST(HostileMountTest, ReadOnlyBindMountReadsWorkAndWritesNameTheMount) {
  PrivateMountNamespace();
  TempDir dir;
  const std::string src = dir.File("src");
  std::filesystem::create_directories(src);
  std::filesystem::permissions(src, std::filesystem::perms::owner_all);
  Seed(src + "/app.db", 10);
  auto snap = Snapshot(src + "/app.db", src);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  const std::string snap_name = std::filesystem::path(snap->path).filename().string();
  const auto before = Contents(src);

  MountGuard mount;
  const std::string ro = dir.File("ro");
  ASSERT_NO_FATAL_FAILURE(MountGuard::ReadOnlyBind(&mount, src, ro));
  const std::string db = ro + "/app.db";

  CliResult query = Cli({"query", db, "SELECT count(*) FROM accounts", "--json"});
  EXPECT_EQ(query.exit_code, 0) << query.out << query.err;
  EXPECT_EQ(Json(query)["rows"][0][0], 10);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"version", db}, {"status", db}, {"doctor", db},
        {"verify", ro + "/" + snap_name}}) {
    CliResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ":\n" << r.out << r.err;
  }

  CliResult exec = Cli({"exec", db, "UPDATE accounts SET balance = 0", "--json"});
  EXPECT_EQ(exec.exit_code, 1) << exec.out << exec.err;
  auto doc = Json(exec);
  EXPECT_EQ(doc["error"]["code"], "permission_denied");
  EXPECT_THAT(doc["error"]["hint"].get<std::string>(), HasSubstr("mounted read-only"));
  EXPECT_THAT(doc["error"]["hint"].get<std::string>(), ::testing::Not(HasSubstr("owner")));
  EXPECT_EQ(Contents(src), before);
}

// ---- Class 6: a full disk ---------------------------------------------

TEST(HostileMountTest, FullDiskReadsAndSnapshotsElsewhereWorkWritesAreTyped) {
  PrivateMountNamespace();
  TempDir dir;
  MountGuard mount;
  const std::string full = dir.File("full");
  ASSERT_NO_FATAL_FAILURE(MountGuard::Tmpfs(&mount, full, "2m"));
  const std::string db = full + "/app.db";
  Seed(db, 10);
  ASSERT_NO_FATAL_FAILURE(FillDisk(full + "/filler"));
  const auto before = Names(full);

  // The probe cannot write its file: the report comes from the kind.
  ClearProbeCache();
  auto report = ProbeDirectory(full);
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);
  EXPECT_TRUE(report->inferred);
  EXPECT_EQ(report->kind, FsKind::kTmpfs);
  EXPECT_TRUE(ChoosePolicy(*report).allow_wal);

  CliResult query = Cli({"query", db, "SELECT count(*) FROM accounts", "--json"});
  EXPECT_EQ(query.exit_code, 0) << query.out << query.err;
  EXPECT_EQ(Json(query)["rows"][0][0], 10);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"version", db}, {"status", db}, {"doctor", db}}) {
    CliResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ":\n" << r.out << r.err;
  }
  const std::string out = dir.File("out");
  CliResult snap = Cli({"snapshot", db, out, "--json"});
  EXPECT_EQ(snap.exit_code, 0) << snap.out << snap.err;
  EXPECT_EQ(Names(out).size(), 2u);  // The snapshot and its manifest.

  CliResult exec = Cli({"exec", db, "INSERT INTO transfers(n, amount) VALUES (1, 1)", "--json"});
  EXPECT_EQ(exec.exit_code, 1) << exec.out << exec.err;
  EXPECT_EQ(Json(exec)["error"]["code"], "resource_exhausted");
  EXPECT_EQ(Names(full), before);  // No probe file or other leftover.
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM transfers"), 0);
}

// ---- Class 6: a restore that runs out of space -------------------------

TEST(HostileMountTest, RestoreOutOfSpaceLeavesNothingAndTheOldDatabaseIntact) {
  PrivateMountNamespace();
  TempDir dir;
  const std::string big = dir.File("big.db");
  Seed(big, 100, 700);  // Larger than the whole disk below.
  auto snap = Snapshot(big, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);

  MountGuard mount;
  const std::string small = dir.File("small");
  ASSERT_NO_FATAL_FAILURE(MountGuard::Tmpfs(&mount, small, "2m"));
  const std::string db = small + "/app.db";
  Seed(db, 10);
  const std::string db_sha = FileSha(db);
  const auto names = Names(small);
  const auto snaps = Names(dir.File("snaps"));
  const std::uintmax_t free_before = std::filesystem::space(small).available;

  CliResult cli = Cli({"restore", snap->path, db, "--json"});
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  EXPECT_EQ(Json(cli)["error"]["code"], "resource_exhausted");

  EXPECT_EQ(Names(small), names);  // No temporary, no -journal left.
  EXPECT_EQ(Names(dir.File("snaps")), snaps) << "the pre-restore copy was left behind";
  EXPECT_EQ(FileSha(db), db_sha);
  EXPECT_GE(std::filesystem::space(small).available, free_before) << "the WAL kept the space";
  EXPECT_EQ(testing::IntegrityCheck(db), "ok");
  EXPECT_EQ(QueryInt(db, "SELECT sum(balance) FROM accounts"), 10 * 1000);
  CliResult write = Cli({"exec", db, "INSERT INTO transfers(n, amount) VALUES (1, 1)"});
  EXPECT_EQ(write.exit_code, 0) << write.err;
}

// A damaged database whose restore runs out of space: the damaged files
// are put back under their own names, bytes unchanged, nothing else left.
TEST(HostileMountTest, DamagedDatabaseIsPutBackWhenTheRestoreFails) {
  PrivateMountNamespace();
  TempDir dir;
  const std::string big = dir.File("big.db");
  Seed(big, 100, 700);
  auto snap = Snapshot(big, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);

  MountGuard mount;
  const std::string small = dir.File("small");
  ASSERT_NO_FATAL_FAILURE(MountGuard::Tmpfs(&mount, small, "2m"));
  const std::string db = small + "/app.db";
  Seed(db, 10);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
  testing::WriteFile(db, std::string(20000, 'x'));
  const std::string damaged_sha = FileSha(db);
  const auto before = Names(small);

  CliResult cli = Cli({"restore", snap->path, db, "--json"});
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  auto doc = Json(cli);
  EXPECT_EQ(doc["error"]["code"], "resource_exhausted");
  EXPECT_THAT(doc["error"]["message"].get<std::string>(), HasSubstr("back in place"));
  EXPECT_EQ(Names(small), before);  // The sidecar's slots change; no file is added.
  EXPECT_EQ(FileSha(db), damaged_sha);
}

}  // namespace
}  // namespace sqlsteward
