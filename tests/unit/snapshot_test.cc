// Snapshots, verification, retention and restore in one process, on real
// SQLite files. Several processes (writers, kill -9, disk full, a live
// second instance) are in tests/multiprocess/snapshot_multiprocess_test.cc.
#include "sqlsteward/snapshot.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "base/time.h"
#include "core/database_access.h"
#include "core/read_only_open.h"
#include "posix/env.h"
#include "base/sha256.h"
#include "snapshot/entry_points.h"
#include "snapshot/manifest.h"
#include "snapshot/names.h"
#include "snapshot/sqlite_util.h"
#include "snapshot/temp_file.h"
#include "support/fault_env.h"
#include "sqlsteward/sqlsteward.h"
#include "support/snapshot_fixtures.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::FileSha;
using testing::OpenDb;
using testing::QueryInt;
using testing::ReadFile;
using testing::SeedBank;
using testing::StatusIs;
using testing::TempDir;
using testing::WriteFile;

Status Transfer(Database& db, int accounts, std::uint32_t r) {
  return db.Write([&](Transaction& tx) -> Status {
    const int from = static_cast<int>(r % static_cast<std::uint32_t>(accounts));
    const int to = static_cast<int>((r / 7) % static_cast<std::uint32_t>(accounts));
    const int amount = static_cast<int>(r % 50);
    SQLSTEWARD_RETURN_IF_ERROR(
        tx.Exec("UPDATE accounts SET balance = balance - ? WHERE id = ?", amount, from));
    SQLSTEWARD_RETURN_IF_ERROR(
        tx.Exec("UPDATE accounts SET balance = balance + ? WHERE id = ?", amount, to));
    return tx.Exec("INSERT INTO transfers(amount) VALUES(?)", amount);
  });
}

// A thread that commits transfers until destroyed, counting its commits.
class TransferLoop {
 public:
  TransferLoop(Database& db, int accounts,
               std::chrono::microseconds pause = std::chrono::microseconds(0))
      : thread_([this, &db, accounts, pause] {
          std::uint32_t r = 1;
          while (!stop_.load()) {
            r = r * 1103515245u + 12345u;
            if (Transfer(db, accounts, r).ok()) commits_.fetch_add(1);
            if (pause.count() > 0) std::this_thread::sleep_for(pause);
          }
        }) {}
  ~TransferLoop() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int commits() const { return commits_.load(); }
  // Returns once one more transfer has committed, or after 200 ms: called
  // between two backup steps, it lets a commit land in between.
  void WaitForNextCommit() const {
    const int seen = commits_.load();
    for (int i = 0; i < 200 && commits_.load() == seen; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> commits_{0};
  std::thread thread_;
};

std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void FlipByte(const std::string& path, off_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, offset), 1);
  byte ^= 0x01;
  ASSERT_EQ(::pwrite(fd, &byte, 1, offset), 1);
  ::close(fd);
}

TEST(SnapshotTest, WalSnapshotIsCompleteVerifiedAndPrivate) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  auto db = OpenDb(db_path);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(db->journal_mode(), JournalMode::kWal);
  SeedBank(*db, 50, 500);

  const mode_t old_umask = ::umask(0);  // The modes must not come from the umask.
  auto snap = Snapshot(*db, dir.File("snaps"));
  ::umask(old_umask);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);

  const SnapshotManifest& m = snap->manifest;
  EXPECT_THAT(std::filesystem::path(snap->path).filename().string(), StartsWith("app-"));
  EXPECT_TRUE(internal::ParseSnapshotFileName(m.file, "app").has_value()) << m.file;
  EXPECT_EQ(snap->manifest_path, ManifestPathFor(snap->path));
  EXPECT_EQ(ModeOf(snap->path), 0600u);
  EXPECT_EQ(ModeOf(snap->manifest_path), 0600u);
  EXPECT_EQ(ModeOf(dir.File("snaps")), 0700u);
  // Only the pair: no temporary, no -journal, -wal or -shm beside it.
  EXPECT_EQ(ListDir(dir.File("snaps")),
            (std::set<std::string>{m.file, std::filesystem::path(snap->manifest_path)
                                               .filename()
                                               .string()}));

  const std::string bytes = ReadFile(snap->path);
  EXPECT_EQ(m.sha256, internal::Sha256Hex(bytes));
  EXPECT_EQ(m.size_bytes, static_cast<std::int64_t>(bytes.size()));
  EXPECT_EQ(m.page_size * m.page_count, m.size_bytes);
  EXPECT_EQ(m.schema_version, 7);
  EXPECT_EQ(m.kind, "snapshot");
  EXPECT_EQ(m.source, db_path);
  EXPECT_EQ(m.source_journal_mode, "wal");
  EXPECT_EQ(m.integrity_check, "quick");
  EXPECT_EQ(m.sqlite_version, sqlite3_libversion());
  EXPECT_THAT(m.created_at, ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"));
  // A self-contained rollback-journal file: header bytes 18-19 are 1.
  EXPECT_EQ(bytes[18], 1);
  EXPECT_EQ(bytes[19], 1);
  EXPECT_EQ(snap->restarts, 0);
  EXPECT_FALSE(snap->copied_under_write_lock);

  auto manifest = ReadManifest(snap->manifest_path);
  ASSERT_TRUE(manifest.has_value()) << testing::Describe(manifest);
  EXPECT_EQ(manifest->sha256, m.sha256);
  EXPECT_EQ(manifest->file, m.file);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
  EXPECT_EQ(QueryInt(snap->path, "SELECT count(*) FROM filler"), 500);
  EXPECT_EQ(QueryInt(snap->path, "SELECT sum(balance) FROM accounts"), 50'000);
  EXPECT_EQ(testing::IntegrityCheck(snap->path), "ok");
}

TEST(SnapshotTest, ProgressReportsEveryPhaseWithPages) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"));
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 10, 300);
  std::vector<SnapshotProgress> reports;
  SnapshotOptions options;
  options.pages_per_step = 16;
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const SnapshotProgress& p) { reports.push_back(p); };
  auto snap = Snapshot(*db, dir.File("snaps"), options);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);

  std::set<SnapshotPhase> phases;
  std::int64_t last_copy = -1;
  int copy_reports = 0;
  for (const SnapshotProgress& p : reports) {
    phases.insert(p.phase);
    if (p.phase != SnapshotPhase::kCopy) continue;
    ++copy_reports;
    EXPECT_GE(p.pages_done, last_copy);
    EXPECT_EQ(p.bytes_done, p.pages_done * p.page_size);
    last_copy = p.pages_done;
    if (p.finished) {
      EXPECT_EQ(p.pages_done, snap->manifest.page_count);
      EXPECT_EQ(p.pages_total, snap->manifest.page_count);
    }
  }
  EXPECT_GT(copy_reports, snap->manifest.page_count / 16 - 2);
  EXPECT_EQ(phases, (std::set<SnapshotPhase>{SnapshotPhase::kCopy, SnapshotPhase::kSync,
                                             SnapshotPhase::kChecksum,
                                             SnapshotPhase::kIntegrityCheck}));
  EXPECT_TRUE(reports.back().finished);
}

// Options whose writer never checkpoints: commits stay in the WAL, so a
// snapshot's content is mostly in WAL frames.
std::unique_ptr<Database> OpenWithoutCheckpoints(const std::string& path) {
  Options options;
  options.checkpoint_wal_bytes = 0;
  auto db = Database::Open(path, options);
  EXPECT_TRUE(db.has_value()) << testing::Describe(db);
  return db.has_value() ? std::move(db).value() : nullptr;
}

void FlipFileByte(const std::string& path, off_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  unsigned char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, offset), 1);
  byte ^= 0x01;
  ASSERT_EQ(::pwrite(fd, &byte, 1, offset), 1);
  ::close(fd);
}

// Issue 14: in WAL mode the snapshot takes the file copy, and its content
// is the backup API's and the live database's: with the commits in WAL
// frames, after a checkpoint of all of them (the reader then takes WAL
// read slot 0 and reads the database file alone), and after the WAL
// restarted with new commits.
TEST(SnapshotFileCopyTest, WalTakesTheFileCopyWithTheBackupApisContent) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  const std::string snaps = dir.File("snaps");
  auto db = OpenWithoutCheckpoints(path);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 20, 400);
  for (std::uint32_t i = 0; i < 50; ++i) SQLSTEWARD_ASSERT_OK(Transfer(*db, 20, i * 2654435761u));
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 1u << 20) << "the commits are in the WAL";
  const std::string live = testing::DumpDatabase(path);

  auto fast = Snapshot(*db, snaps);
  ASSERT_TRUE(fast.has_value()) << testing::Describe(fast);
  EXPECT_EQ(fast->copy_method, SnapshotCopyMethod::kFileCopy);
  EXPECT_EQ(fast->fallback_reason, "");
  SnapshotOptions backup;
  backup.copy_method = SnapshotCopyMethod::kBackupApi;
  auto slow = Snapshot(*db, snaps, backup);
  ASSERT_TRUE(slow.has_value()) << testing::Describe(slow);
  EXPECT_EQ(slow->copy_method, SnapshotCopyMethod::kBackupApi);
  EXPECT_EQ(testing::DumpDatabase(fast->path), live);
  EXPECT_EQ(testing::DumpDatabase(slow->path), live);
  EXPECT_EQ(fast->manifest.page_count, slow->manifest.page_count);
  EXPECT_EQ(fast->manifest.sha256, FileSha(fast->path)) << "the hash taken while copying";
  const std::string head = ReadFile(fast->path).substr(0, 20);
  EXPECT_EQ(head[18], 1) << "a snapshot is a rollback-journal file";
  EXPECT_EQ(head[19], 1);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(fast->path));

  SQLSTEWARD_ASSERT_OK(db->Checkpoint());
  auto checkpointed = Snapshot(*db, snaps);
  ASSERT_TRUE(checkpointed.has_value()) << testing::Describe(checkpointed);
  EXPECT_EQ(checkpointed->copy_method, SnapshotCopyMethod::kFileCopy);
  EXPECT_EQ(testing::DumpDatabase(checkpointed->path), live);

  for (std::uint32_t i = 0; i < 20; ++i) SQLSTEWARD_ASSERT_OK(Transfer(*db, 20, i * 40503u + 7));
  const std::string later = testing::DumpDatabase(path);
  ASSERT_NE(later, live);
  auto restarted = Snapshot(*db, snaps);
  ASSERT_TRUE(restarted.has_value()) << testing::Describe(restarted);
  EXPECT_EQ(restarted->copy_method, SnapshotCopyMethod::kFileCopy);
  EXPECT_EQ(testing::DumpDatabase(restarted->path), later);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(restarted->path));
  SQLSTEWARD_EXPECT_OK(db->Close());
}

// A precondition of the file copy that fails (here: a WAL frame whose
// checksum does not check out; SQLite's readers do not look at it) sends
// the snapshot to the backup API, which says why; with copy_method
// kFileCopy it is an error naming the reason, and nothing is left behind.
TEST(SnapshotFileCopyTest, AFailedPreconditionFallsBackToTheBackupApi) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  const std::string snaps = dir.File("snaps");
  auto db = OpenWithoutCheckpoints(path);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 20, 100);
  for (std::uint32_t i = 0; i < 20; ++i) SQLSTEWARD_ASSERT_OK(Transfer(*db, 20, i * 2654435761u));
  const std::string live = testing::DumpDatabase(path);
  const off_t frame1_checksum = 32 + 16;  // WAL header, then the frame header's checksum.
  FlipFileByte(path + "-wal", frame1_checksum);

  auto snap = Snapshot(*db, snaps);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_EQ(snap->copy_method, SnapshotCopyMethod::kBackupApi);
  EXPECT_THAT(snap->fallback_reason, HasSubstr("frame 1 fails its checksum"));
  EXPECT_EQ(testing::DumpDatabase(snap->path), live);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));

  SnapshotOptions only;
  only.copy_method = SnapshotCopyMethod::kFileCopy;
  auto refused = Snapshot(*db, snaps, only);
  ASSERT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("frame 1 fails its checksum"));
  EXPECT_THAT(std::string(refused.error().hint()), HasSubstr("kAuto"));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(snaps)) {
    ++files;
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(StartsWith(".snapshot-")));
  }
  EXPECT_EQ(files, 2) << "only the first snapshot and its manifest";
  FlipFileByte(path + "-wal", frame1_checksum);
  SQLSTEWARD_EXPECT_OK(db->Close());
}

// Rollback-journal mode keeps the backup API; the file copy cannot be
// asked for there.
TEST(SnapshotFileCopyTest, RollbackJournalKeepsTheBackupApi) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"), JournalMode::kDelete);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 20, 50);
  auto snap = Snapshot(*db, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_EQ(snap->copy_method, SnapshotCopyMethod::kBackupApi);
  EXPECT_EQ(snap->fallback_reason, "");
  SnapshotOptions only;
  only.copy_method = SnapshotCopyMethod::kFileCopy;
  auto refused = Snapshot(*db, dir.File("snaps"), only);
  ASSERT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("needs a database in WAL mode"));
  EXPECT_THAT(std::string(refused.error().hint()), HasSubstr("kBackupApi"));
}

// Holding one read transaction for the whole copy means SQLite never has to
// restart the backup, whatever writers commit meanwhile; and they are not
// blocked: commits keep landing while the copy runs.
TEST(SnapshotTest, WalSnapshotDoesNotRestartUnderWrites) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"), JournalMode::kWal);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 20, 400);
  TransferLoop writer(*db, 20);
  int commits_during_copy = 0;
  int at_copy_start = -1;
  SnapshotOptions options;
  options.pages_per_step = 8;
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const SnapshotProgress& p) {
    if (p.phase != SnapshotPhase::kCopy) return;
    if (at_copy_start < 0) at_copy_start = writer.commits();
    if (p.finished) {
      commits_during_copy = writer.commits() - at_copy_start;
      return;
    }
    writer.WaitForNextCommit();
  };
  auto snap = Snapshot(*db, dir.File("snaps"), options);
  writer.Stop();
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_EQ(snap->restarts, 0);
  EXPECT_FALSE(snap->copied_under_write_lock);
  EXPECT_GT(commits_during_copy, 10);
  EXPECT_EQ(QueryInt(snap->path, "SELECT sum(balance) FROM accounts"), 20'000);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
}

// Rollback journal: a quiet database is copied in short read transactions;
// under constant commits the backup restarts, and after max_restarts the
// copy is made under the write lock. Both copies are consistent.
TEST(SnapshotTest, RollbackJournalCopiesWithoutLockWhenQuietUnderLockWhenBusy) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"), JournalMode::kDelete);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(db->journal_mode(), JournalMode::kDelete);
  SeedBank(*db, 20, 300);
  SnapshotOptions options;
  options.pages_per_step = 8;
  auto quiet = Snapshot(*db, dir.File("snaps"), options);
  ASSERT_TRUE(quiet.has_value()) << testing::Describe(quiet);
  EXPECT_EQ(quiet->restarts, 0);
  EXPECT_FALSE(quiet->copied_under_write_lock);
  EXPECT_EQ(quiet->manifest.source_journal_mode, "delete");

  TransferLoop writer(*db, 20, std::chrono::microseconds(200));
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const SnapshotProgress& p) {
    // Let a commit land between two steps while the copy runs without the
    // write lock (at most max_restarts restarts); under the lock none can.
    if (p.phase != SnapshotPhase::kCopy || p.finished || p.restarts > options.max_restarts) return;
    writer.WaitForNextCommit();
  };
  auto busy = Snapshot(*db, dir.File("snaps"), options);
  writer.Stop();
  ASSERT_TRUE(busy.has_value()) << testing::Describe(busy);
  EXPECT_GT(busy->restarts, 0);
  EXPECT_TRUE(busy->copied_under_write_lock);
  EXPECT_EQ(QueryInt(busy->path, "SELECT sum(balance) FROM accounts"), 20'000);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(busy->path));
}

TEST(SnapshotTest, SnapshotByPathOpensAndClosesTheDatabase) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("app.db"));
    ASSERT_NE(db, nullptr);
    SeedBank(*db, 5);
  }
  SnapshotOptions options;
  options.name = "nightly";
  options.integrity = IntegrityCheck::kFull;
  auto snap = Snapshot(dir.File("app.db"), dir.File("snaps"), options);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_THAT(snap->manifest.file, StartsWith("nightly-"));
  EXPECT_EQ(snap->manifest.integrity_check, "full");

  EXPECT_THAT(Snapshot(dir.File("missing.db"), dir.File("snaps")),
              StatusIs(StatusCode::kNotFound));
  EXPECT_FALSE(std::filesystem::exists(dir.File("missing.db")));
  options.name = "../escape";
  EXPECT_THAT(Snapshot(dir.File("app.db"), dir.File("snaps"), options),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(SnapshotTest, RetentionKeepsNewestAndOnlyTouchesCompletePairs) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"));
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 5);
  const std::string snaps = dir.File("snaps");
  std::filesystem::create_directories(snaps);
  // Things retention must leave alone: an old-looking snapshot without a
  // manifest, one whose manifest names another file, unrelated files, and
  // another database's snapshots.
  WriteFile(snaps + "/app-20000101T000000Z-1.db", "orphan");
  WriteFile(snaps + "/app-20000101T000000Z-2.db", "mismatched");
  WriteFile(snaps + "/app-20000101T000000Z-2.manifest.json", "{}");
  WriteFile(snaps + "/app-notes.txt", "notes");
  WriteFile(snaps + "/other-20000101T000000Z-1.db", "other db");

  SnapshotOptions options;
  options.keep = 2;
  std::vector<std::string> made;
  std::vector<std::string> removed;
  for (int i = 0; i < 4; ++i) {
    SQLSTEWARD_ASSERT_OK(Transfer(*db, 5, static_cast<std::uint32_t>(i + 3)));
    auto snap = Snapshot(*db, snaps, options);
    ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
    made.push_back(snap->path);
    removed.insert(removed.end(), snap->removed.begin(), snap->removed.end());
  }
  EXPECT_EQ(removed, (std::vector<std::string>{made[0], made[1]}));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(std::filesystem::exists(made[static_cast<std::size_t>(i)]), i >= 2) << i;
    EXPECT_EQ(std::filesystem::exists(ManifestPathFor(made[static_cast<std::size_t>(i)])), i >= 2);
  }
  for (const char* kept : {"app-20000101T000000Z-1.db", "app-20000101T000000Z-2.db",
                           "app-20000101T000000Z-2.manifest.json", "app-notes.txt",
                           "other-20000101T000000Z-1.db"}) {
    EXPECT_TRUE(std::filesystem::exists(snaps + "/" + kept)) << kept;
  }
  // Snapshots within one second get increasing sequence numbers.
  std::set<std::string> unique(made.begin(), made.end());
  EXPECT_EQ(unique.size(), made.size());
}

// A copy of the real pair `from` published as `<prefix>-<CompactUtc(ms)>-<seq>.db`,
// its manifest rewritten to match (file, created time) so that it is
// consistent in every way but `tweak`. Returns the snapshot's path.
std::string PlantPair(const std::string& dir, const std::string& from, std::int64_t unix_ms,
                      int seq, const std::function<void(SnapshotManifest&)>& tweak = {}) {
  auto m = internal::ReadManifest(posix::Env::Default(), ManifestPathFor(from));
  EXPECT_TRUE(m.has_value()) << testing::Describe(m);
  if (!m.has_value()) return "";
  m->file = "app-" + CompactUtc(unix_ms) + "-" + std::to_string(seq) + ".db";
  m->created_unix_ms = unix_ms;
  m->created_at = IsoUtc(unix_ms, /*millis=*/true);
  if (tweak) tweak(*m);
  const std::string path = dir + "/" + m->file;
  WriteFile(path, ReadFile(from));
  auto json = internal::ManifestToJson(*m);
  EXPECT_TRUE(json.has_value());
  WriteFile(ManifestPathFor(path), (json.has_value() ? *json : std::string()) + "\n");
  return path;
}

void Chown(const std::string& path, uid_t uid) {
  ASSERT_EQ(::lchown(path.c_str(), uid, static_cast<gid_t>(uid)), 0) << path << ": "
                                                                      << std::strerror(errno);
}

// Issue 11, class 5: retention ranked pairs by the time in their names, so
// a planted or future-dated pair made `--keep` delete the real snapshots.
// Now only pairs this user published count, ranked by their manifests,
// and nothing else is deleted.
TEST(SnapshotTest, RetentionCountsOnlyOwnConsistentPastPairs) {
  if (::geteuid() != 0) GTEST_SKIP() << "planting files owned by another uid needs root";
  constexpr uid_t kNobody = 65534;
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"));
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 5);
  const std::string snaps = dir.File("snaps");
  auto first = Snapshot(*db, snaps);
  ASSERT_TRUE(first.has_value()) << testing::Describe(first);
  SQLSTEWARD_ASSERT_OK(Transfer(*db, 5, 11));
  auto second = Snapshot(*db, snaps);
  ASSERT_TRUE(second.has_value()) << testing::Describe(second);

  const std::int64_t now = WallClockUnixMs();
  const std::int64_t year = 365LL * 24 * 3600 * 1000;
  std::vector<std::string> planted;
  // Future-dated, consistent and ours: a clock gone wrong, or a plant.
  planted.push_back(PlantPair(snaps, second->path, now + 50 * year, 1));
  planted.push_back(PlantPair(snaps, second->path, now + 60 * 60 * 1000, 1));
  // Consistent and recent, but another user's: the pair, only the
  // snapshot, only the manifest.
  for (int i = 0; i < 3; ++i) {
    planted.push_back(PlantPair(snaps, second->path, now - 1000 * (i + 1), 7 + i));
    if (i != 2) Chown(planted.back(), kNobody);
    if (i != 1) Chown(ManifestPathFor(planted.back()), kNobody);
  }
  // Ours, recent, but the manifest disagrees: its size, its created time
  // (the name says now, the manifest says 2001), its kind; or is garbage.
  planted.push_back(PlantPair(snaps, second->path, now - 500, 20,
                              [](SnapshotManifest& m) { m.size_bytes += 1; }));
  planted.push_back(PlantPair(snaps, second->path, now - 400, 21,
                              [](SnapshotManifest& m) { m.created_unix_ms = 978307200000; }));
  planted.push_back(PlantPair(snaps, second->path, now - 300, 22,
                              [](SnapshotManifest& m) { m.kind = "pre-restore"; }));
  planted.push_back(PlantPair(snaps, second->path, now + 40 * year, 23));
  WriteFile(ManifestPathFor(planted.back()), "{\"format\": \"garbage\"}");
  // Stale temporaries of another user: no live writer, but not ours.
  const std::string temp = snaps + "/" + internal::TempName("00112233aabbccdd");
  const std::string orphan_manifest = snaps + "/" + internal::ManifestTempName("ffeeddccbbaa9988");
  WriteFile(temp, "theirs");
  WriteFile(orphan_manifest, "theirs");
  Chown(temp, kNobody);
  Chown(orphan_manifest, kNobody);

  SnapshotOptions keep_two;
  keep_two.keep = 2;
  SQLSTEWARD_ASSERT_OK(Transfer(*db, 5, 12));
  auto third = Snapshot(*db, snaps, keep_two);
  ASSERT_TRUE(third.has_value()) << testing::Describe(third);

  // The two newest real snapshots remain; the oldest real one went, and
  // nothing else did.
  EXPECT_EQ(third->removed, std::vector<std::string>{first->path});
  EXPECT_TRUE(third->removed_temporary.empty());
  EXPECT_FALSE(std::filesystem::exists(first->path));
  EXPECT_FALSE(std::filesystem::exists(first->manifest_path));
  for (const auto* kept : {&second.value(), &third.value()}) {
    EXPECT_TRUE(std::filesystem::exists(kept->path)) << kept->path;
    EXPECT_TRUE(std::filesystem::exists(kept->manifest_path)) << kept->manifest_path;
    SQLSTEWARD_EXPECT_OK(VerifySnapshot(kept->path));
  }
  for (const std::string& p : planted) {
    EXPECT_TRUE(std::filesystem::exists(p)) << p;
    EXPECT_TRUE(std::filesystem::exists(ManifestPathFor(p))) << p;
  }
  EXPECT_TRUE(std::filesystem::exists(temp));
  EXPECT_TRUE(std::filesystem::exists(orphan_manifest));
}

// Within the clock-skew allowance a pair still counts: hosts sharing a
// directory disagree on the time by a little.
TEST(SnapshotTest, RetentionCountsAPairWithinTheClockSkewAllowance) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"));
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 5);
  const std::string snaps = dir.File("snaps");
  auto first = Snapshot(*db, snaps);
  ASSERT_TRUE(first.has_value()) << testing::Describe(first);
  const std::int64_t now = WallClockUnixMs();
  const std::string ahead = PlantPair(snaps, first->path, now + 60 * 1000, 1);
  SnapshotOptions keep_two;
  keep_two.keep = 2;
  auto second = Snapshot(*db, snaps, keep_two);
  ASSERT_TRUE(second.has_value()) << testing::Describe(second);
  // Kept: the new one and the one a minute ahead, ranked newest.
  EXPECT_EQ(second->removed, std::vector<std::string>{first->path});
  EXPECT_TRUE(std::filesystem::exists(ahead));
}

TEST(SnapshotTest, StaleTemporariesAreRemovedOnlyWhenTheirWriterIsGone) {
  TempDir dir;
  posix::Env* env = posix::Env::Default();
  WriteFile(dir.File(".snapshot-dead.tmp"), "partial copy");
  WriteFile(dir.File(".snapshot-dead.manifest.tmp"), "{");
  WriteFile(dir.File(".snapshot-gone.manifest.tmp"), "{");
  WriteFile(dir.File(".snapshot-live.tmp"), "being written");
  WriteFile(dir.File("app-20000101T000000Z-1.db"), "not a temporary");
  // A live writer holds an OFD lock on byte 0 of its temporary.
  int fd = ::open(dir.File(".snapshot-live.tmp").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_len = 1;
  ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &lock), 0);

  auto removed = internal::RemoveStaleTemporaries(env, dir.path());
  ASSERT_TRUE(removed.has_value()) << testing::Describe(removed);
  EXPECT_EQ(ListDir(dir.path()),
            (std::set<std::string>{".snapshot-live.tmp", "app-20000101T000000Z-1.db"}));
  ::close(fd);
  removed = internal::RemoveStaleTemporaries(env, dir.path());
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(ListDir(dir.path()), (std::set<std::string>{"app-20000101T000000Z-1.db"}));
}

TEST(SnapshotTest, VerifyNamesEachKindOfMismatch) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"));
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 10, 100);
  auto snap = Snapshot(*db, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  const std::string good = ReadFile(snap->path);
  const std::string manifest = ReadFile(snap->manifest_path);

  // One flipped byte in the middle.
  FlipByte(snap->path, static_cast<off_t>(good.size() / 2));
  auto flipped = VerifySnapshot(snap->path);
  EXPECT_THAT(flipped, StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(std::string(flipped.error().message()), StartsWith("checksum mismatch"));

  // Truncated.
  WriteFile(snap->path, good.substr(0, good.size() - 4096));
  auto truncated = VerifySnapshot(snap->path);
  EXPECT_THAT(truncated, StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(std::string(truncated.error().message()), StartsWith("size mismatch"));

  // Manifest: not JSON, a field missing, a field of the wrong type.
  WriteFile(snap->path, good);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
  for (const std::string& bad :
       {std::string("not json {"), std::string("[1, 2]"),
        manifest.substr(0, manifest.find("\"sha256\"")) + "\"x\":1}",
        std::string(manifest).replace(manifest.find("\"page_size\":") + 12, 0, "\"") + ""}) {
    WriteFile(snap->manifest_path, bad);
    auto malformed = VerifySnapshot(snap->path);
    EXPECT_THAT(malformed, StatusIs(StatusCode::kCorruption)) << bad;
    if (!malformed.has_value()) {
      EXPECT_THAT(std::string(malformed.error().message()), StartsWith("manifest malformed"));
    }
  }

  // Manifest missing; snapshot missing.
  std::filesystem::remove(snap->manifest_path);
  EXPECT_THAT(VerifySnapshot(snap->path), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(VerifySnapshot(dir.File("snaps/none.db")), StatusIs(StatusCode::kNotFound));
}

// A file whose checksum matches its manifest but whose content SQLite finds
// damaged (the manifest was written for the damaged bytes).
TEST(SnapshotTest, VerifyRunsTheIntegrityCheck) {
  TempDir dir;
  auto db = OpenDb(dir.File("app.db"));
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 10, 200);
  auto snap = Snapshot(*db, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  // Scribble over the first cell pointers of the filler index's last page.
  std::string bytes = ReadFile(snap->path);
  const auto page_size = static_cast<std::size_t>(snap->manifest.page_size);
  const std::size_t page = bytes.size() / page_size - 1;
  for (std::size_t i = 8; i < 64; ++i) bytes[page * page_size + i] = '\x7f';
  WriteFile(snap->path, bytes);
  SnapshotManifest m = snap->manifest;
  m.sha256 = internal::Sha256Hex(bytes);
  auto json = internal::ManifestToJson(m);
  ASSERT_TRUE(json.has_value());
  WriteFile(snap->manifest_path, *json);

  auto verified = VerifySnapshot(snap->path);
  EXPECT_THAT(verified, StatusIs(StatusCode::kCorruption));
  if (!verified.has_value()) {
    EXPECT_THAT(std::string(verified.error().message()), StartsWith("integrity check failed"));
  }
  VerifyOptions none;
  none.integrity = IntegrityCheck::kNone;
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path, none));
}

// The fault tests below run against both ways of copying (issue 14): the
// file copy, which writes the temporary through the Env, and the backup
// API, which writes it through SQLite's VFS.
class SnapshotCopyFaultTest : public ::testing::TestWithParam<SnapshotCopyMethod> {
 protected:
  SnapshotOptions CopyOptions() const {
    SnapshotOptions options;
    options.copy_method = GetParam();
    return options;
  }
};

// Injected failures of fsync, of the manifest's write and of the final
// rename: a typed error, and nothing left in the directory.
TEST_P(SnapshotCopyFaultTest, InjectedFailuresAreTypedAndLeaveNothing) {
  using Op = testing::FaultEnv::Op;
  TempDir dir;
  const std::string snaps = dir.File("snaps");
  std::filesystem::create_directories(snaps);
  testing::FaultEnv faults;  // Outlives the database's threads.
  auto opened = internal::DatabaseAccess::OpenWithEnv(dir.File("app.db"), Options(), &faults);
  ASSERT_TRUE(opened.has_value()) << testing::Describe(opened);
  Database& db = **opened;
  SeedBank(db, 10, 50);

  faults.Fail(Op::kFsync, EIO, snaps + "/");
  EXPECT_THAT(Snapshot(db, snaps, CopyOptions()), StatusIs(StatusCode::kIOError));
  EXPECT_TRUE(ListDir(snaps).empty());

  faults.FailAlways(Op::kPwrite, ENOSPC, snaps + "/");
  EXPECT_THAT(Snapshot(db, snaps, CopyOptions()), StatusIs(StatusCode::kResourceExhausted));
  EXPECT_TRUE(ListDir(snaps).empty());
  faults.Clear();

  faults.Fail(Op::kRename, EIO, ".db");
  EXPECT_THAT(Snapshot(db, snaps, CopyOptions()), StatusIs(StatusCode::kIOError));
  EXPECT_TRUE(ListDir(snaps).empty());
  EXPECT_GE(faults.Injected(), 3);

  auto snap = Snapshot(db, snaps, CopyOptions());
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_EQ(ListDir(snaps).size(), 2u);

  // The third fsync under snaps/ is the directory's, after both renames:
  // the snapshot is there, complete, and the error says what is at stake.
  faults.Fail(Op::kFsync, EIO, snaps, 3);
  auto unsynced = Snapshot(db, snaps, CopyOptions());
  EXPECT_THAT(unsynced, StatusIs(StatusCode::kIOError));
  ASSERT_FALSE(unsynced.has_value());
  const std::string message(unsynced.error().message());
  EXPECT_THAT(message, HasSubstr("was written, but may not survive a power loss"));
  EXPECT_THAT(message, HasSubstr("fsync(" + snaps + ")")) << "not the directory's fsync";
  EXPECT_FALSE(unsynced.error().hint().empty());
  const auto names = ListDir(snaps);
  EXPECT_EQ(names.size(), 4u) << ::testing::PrintToString(names);
  for (const std::string& name : names) {
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".db") == 0) {
      SCOPED_TRACE(name);
      SQLSTEWARD_EXPECT_OK(VerifySnapshot(snaps + "/" + name));
    }
  }
}

// Issue 13, faults. ENOSPC from the fallocate that reserves the copy's
// space: a typed error naming the call and the temporary, with a hint;
// nothing left in the directory; the database unchanged and sound, and it
// takes writes and a snapshot afterwards. (The ENOSPC of a write in the
// middle of the copy, which goes through SQLite's VFS, is tested on a real
// full disk: snapshot_multiprocess_test's DiskFullMidCopyIsTypedAndLeavesNothing.)
TEST_P(SnapshotCopyFaultTest, FallocateEnospcIsTypedAndLeavesNothing) {
  using Op = testing::FaultEnv::Op;
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  const std::string snaps = dir.File("snaps");
  testing::FaultEnv faults;  // Outlives the database's threads.
  auto opened = internal::DatabaseAccess::OpenWithEnv(db_path, Options(), &faults);
  ASSERT_TRUE(opened.has_value()) << testing::Describe(opened);
  Database& db = **opened;
  SeedBank(db, 10, 200);
  const std::string before = testing::DumpDatabase(db_path);

  faults.Fail(Op::kFallocate, ENOSPC, snaps + "/");
  auto full = Snapshot(db, snaps, CopyOptions());
  ASSERT_THAT(full, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_EQ(faults.Injected(), 1);
  EXPECT_THAT(std::string(full.error().message()),
              HasSubstr("reserve space for(" + snaps + "/.snapshot-"));
  EXPECT_THAT(std::string(full.error().hint()), HasSubstr("free disk space"));
  EXPECT_EQ(full.error().sys_errno(), ENOSPC);
  EXPECT_TRUE(ListDir(snaps).empty()) << ::testing::PrintToString(ListDir(snaps));

  EXPECT_EQ(testing::DumpDatabase(db_path), before);
  EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");
  SQLSTEWARD_EXPECT_OK(db.Write([](Transaction& tx) {
    return tx.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 1");
  }));
  auto next = Snapshot(db, snaps, CopyOptions());
  ASSERT_TRUE(next.has_value()) << testing::Describe(next);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(next->path));
  EXPECT_EQ(ListDir(snaps).size(), 2u);
}

// EINTR (a signal during the call) on each of the snapshot's own calls that
// can block: retried by the Env, so the snapshot succeeds, verifies, and
// nothing else is left. Each injected EINTR costs one more call.
TEST_P(SnapshotCopyFaultTest, EintrDuringASnapshotIsRetried) {
  using Op = testing::FaultEnv::Op;
  TempDir dir;
  const std::string snaps = dir.File("snaps");
  testing::FaultEnv faults;  // Outlives the database's threads.
  auto opened = internal::DatabaseAccess::OpenWithEnv(dir.File("app.db"), Options(), &faults);
  ASSERT_TRUE(opened.has_value()) << testing::Describe(opened);
  Database& db = **opened;
  SeedBank(db, 10, 200);
  // Two clean snapshots count the calls of one (the first also makes the
  // directory).
  ASSERT_TRUE(Snapshot(db, snaps, CopyOptions()).has_value());
  const int fsyncs_before = faults.Calls(Op::kFsync, snaps);
  const int writes_before = faults.Calls(Op::kPwrite, snaps);
  ASSERT_TRUE(Snapshot(db, snaps, CopyOptions()).has_value());
  const int fsyncs = faults.Calls(Op::kFsync, snaps) - fsyncs_before;
  const int writes = faults.Calls(Op::kPwrite, snaps) - writes_before;

  for (Op op : {Op::kOpen, Op::kPwrite, Op::kFsync, Op::kFallocate}) {
    faults.Fail(op, EINTR, snaps + "/");
  }
  faults.Fail(Op::kFlock, EINTR, snaps);   // The directory's publishing lock.
  faults.Fail(Op::kFsync, EINTR, snaps, 3);  // A later fsync: the manifest's or the directory's.
  faults.Fail(Op::kPwrite, EINTR, ".manifest.tmp");
  const int fsyncs_clean = faults.Calls(Op::kFsync, snaps);
  const int writes_clean = faults.Calls(Op::kPwrite, snaps);
  auto snap = Snapshot(db, snaps, CopyOptions());
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_EQ(faults.Injected(), 7);
  EXPECT_EQ(faults.Calls(Op::kFsync, snaps) - fsyncs_clean, fsyncs + 2);
  EXPECT_EQ(faults.Calls(Op::kPwrite, snaps) - writes_clean, writes + 2);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
  EXPECT_EQ(ListDir(snaps).size(), 6u) << ::testing::PrintToString(ListDir(snaps));
}

INSTANTIATE_TEST_SUITE_P(Copies, SnapshotCopyFaultTest,
                         ::testing::Values(SnapshotCopyMethod::kFileCopy,
                                           SnapshotCopyMethod::kBackupApi),
                         [](const ::testing::TestParamInfo<SnapshotCopyMethod>& param_info) {
                           return param_info.param == SnapshotCopyMethod::kFileCopy ? "FileCopy"
                                                                               : "BackupApi";
                         });

// EACCES creating the temporary (a directory this process may not write
// in; injected, as root ignores the mode bits): kPermissionDenied naming
// the file, a hint naming the directory and what to check, nothing left.
TEST(SnapshotTest, EaccesOnTheTemporaryIsPermissionDenied) {
  using Op = testing::FaultEnv::Op;
  TempDir dir;
  const std::string snaps = dir.File("snaps");
  testing::FaultEnv faults;  // Outlives the database's threads.
  auto opened = internal::DatabaseAccess::OpenWithEnv(dir.File("app.db"), Options(), &faults);
  ASSERT_TRUE(opened.has_value()) << testing::Describe(opened);
  Database& db = **opened;
  SeedBank(db, 10, 50);

  faults.Fail(Op::kOpen, EACCES, snaps + "/.snapshot-");
  auto denied = Snapshot(db, snaps);
  ASSERT_THAT(denied, StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(faults.Injected(), 1);
  EXPECT_THAT(std::string(denied.error().message()), HasSubstr("create(" + snaps + "/.snapshot-"));
  EXPECT_THAT(std::string(denied.error().hint()), HasSubstr("owner and mode of " + snaps));
  EXPECT_TRUE(ListDir(snaps).empty()) << ::testing::PrintToString(ListDir(snaps));
  auto next = Snapshot(db, snaps);
  ASSERT_TRUE(next.has_value()) << testing::Describe(next);
}

// The entry points without a Database handle do their file operations
// through the Env they are given (the public ones pass the default): the
// snapshot, retention's reads of manifests, verify and restore.
TEST(SnapshotTest, EntryPointsWithoutAHandleUseTheGivenEnv) {
  using Op = testing::FaultEnv::Op;
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    SeedBank(*db, 10, 50);
  }
  testing::FaultEnv faults;  // Outlives the databases the calls open.
  SnapshotOptions keep_one;
  keep_one.keep = 1;
  auto first = internal::Snapshot(&faults, db_path, dir.File("snaps"), keep_one, Options());
  ASSERT_TRUE(first.has_value()) << testing::Describe(first);
  auto second = internal::Snapshot(&faults, db_path, dir.File("snaps"), keep_one, Options());
  ASSERT_TRUE(second.has_value()) << testing::Describe(second);
  EXPECT_EQ(second->removed, std::vector<std::string>{first->path});
  EXPECT_GE(faults.Calls(Op::kOpen, first->manifest_path), 1);

  faults.Fail(Op::kPread, EIO, second->path);
  EXPECT_THAT(internal::VerifySnapshot(&faults, second->path, VerifyOptions()),
              StatusIs(StatusCode::kIOError));
  SQLSTEWARD_EXPECT_OK(internal::VerifySnapshot(&faults, second->path, VerifyOptions()));

  faults.Fail(Op::kPread, EIO, second->manifest_path);
  EXPECT_THAT(internal::Restore(&faults, second->path, db_path, RestoreOptions(), Options()),
              StatusIs(StatusCode::kIOError));
  auto restored = internal::Restore(&faults, second->path, db_path, RestoreOptions(), Options());
  ASSERT_TRUE(restored.has_value()) << testing::Describe(restored);
  EXPECT_GE(faults.Calls(Op::kRename, restored->pre_restore.path), 1);
}

TEST(SnapshotTest, ManifestJsonRoundTripsAwkwardText) {
  SnapshotManifest m;
  m.kind = "snapshot";
  m.file = "a-20240101T000000Z-1.db";
  m.sha256 = std::string(64, 'a');
  m.size_bytes = 1LL << 40;
  m.page_size = 65536;
  m.page_count = 16777216;
  m.schema_version = -3;
  m.source = "/data/\"quoted\" \\ back\nslash/ünïcode\t.db";
  m.source_journal_mode = "wal";
  m.created_at = "2024-01-01T00:00:00.000Z";
  m.created_unix_ms = 1704067200000;
  m.sqlite_version = "3.40.1";
  m.integrity_check = "full";
  auto json = internal::ManifestToJson(m);
  ASSERT_TRUE(json.has_value()) << testing::Describe(json);
  auto back = internal::ParseManifestJson(*json, "test");
  ASSERT_TRUE(back.has_value()) << testing::Describe(back) << "\n" << *json;
  EXPECT_EQ(back->source, m.source);
  EXPECT_EQ(back->size_bytes, m.size_bytes);
  EXPECT_EQ(back->schema_version, m.schema_version);
  EXPECT_EQ(back->created_unix_ms, m.created_unix_ms);
  EXPECT_EQ(back->file, m.file);

  m.sha256 = "ABC";
  json = internal::ManifestToJson(m);
  ASSERT_TRUE(json.has_value());
  EXPECT_THAT(internal::ParseManifestJson(*json, "test"), StatusIs(StatusCode::kCorruption));
}

TEST(SnapshotTest, FileNamesParseStrictly) {
  auto parsed = internal::ParseSnapshotFileName("app-20240501T100000Z-12.db", "app");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->timestamp, "20240501T100000Z");
  EXPECT_EQ(parsed->seq, 12);
  for (const char* no : {"app-20240501T100000Z-12.db.tmp", "app-20240501T100000Z-.db",
                         "app-2024050T100000Z-1.db", "app-20240501T100000Z-1.manifest.json",
                         "app-pre-restore-20240501T100000Z-1.db", "apps-20240501T100000Z-1.db",
                         "app-20240501X100000Z-1.db"}) {
    EXPECT_FALSE(internal::ParseSnapshotFileName(no, "app").has_value()) << no;
  }
  EXPECT_EQ(CompactUtc(1714557600123), "20240501T100000Z");
  EXPECT_EQ(IsoUtc(1714557600023, /*millis=*/true), "2024-05-01T10:00:00.023Z");
  EXPECT_EQ(IsoUtc(1714557600023), "2024-05-01T10:00:00Z");
  EXPECT_EQ(internal::SqliteFileUri("/a b/c?d#e%.db", "immutable=1"),
            "file:/a%20b/c%3Fd%23e%25.db?immutable=1");
}

// Found by fuzz/snapshot_name_fuzz.cc (its corpus keeps the input,
// crash-prefix-overlaps-db-suffix): a snapshot name that overlaps the ".db"
// suffix of a file in the directory ("app.db" against the file "app.db")
// made retention read past the name.
TEST(SnapshotTest, FileNameWhosePrefixOverlapsTheDbSuffixIsNotASnapshot) {
  for (const auto& [file, prefix] : std::vector<std::pair<std::string, std::string>>{
           {"4.db", "4.db"}, {"app.db", "app.db"}, {"app.db", "app.d"}, {"x.db", "x."},
           {"app-20240501T100000Z-1.db", "app-20240501T100000Z-1.db"}}) {
    // A buffer of exactly the name's size: a read past it is one past the
    // allocation, which the sanitizer builds report.
    const std::unique_ptr<char[]> exact(new char[file.size()]);
    std::memcpy(exact.get(), file.data(), file.size());
    EXPECT_FALSE(internal::ParseSnapshotFileName(std::string_view(exact.get(), file.size()), prefix)
                     .has_value())
        << file << " against " << prefix;
  }
  EXPECT_TRUE(internal::ParseSnapshotFileName("app.db-20240501T100000Z-1.db", "app.db").has_value());
}

TEST(SnapshotTest, RestoreReplacesContentAndKeepsThePreviousDatabase) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  std::string snapshot_path;
  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    SeedBank(*db, 10);
    auto snap = Snapshot(*db, dir.File("snaps"));
    ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
    snapshot_path = snap->path;
    // Later changes, which the restore takes back.
    SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) {
      return tx.ExecScript("INSERT INTO accounts VALUES(100, 5); CREATE TABLE later(x);");
    }));
  }
  std::vector<SnapshotPhase> phases;
  RestoreOptions options;
  options.progress = [&](const SnapshotProgress& p) {
    if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
  };
  auto restored = Restore(snapshot_path, db_path, options);
  ASSERT_TRUE(restored.has_value()) << testing::Describe(restored);
  EXPECT_GT(restored->pages_restored, 0);
  EXPECT_EQ(QueryInt(db_path, "SELECT count(*) FROM accounts"), 10);
  EXPECT_EQ(QueryInt(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'later'"), 0);
  EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");
  EXPECT_NE(std::find(phases.begin(), phases.end(), SnapshotPhase::kRestore), phases.end());
  EXPECT_NE(std::find(phases.begin(), phases.end(), SnapshotPhase::kPreRestore), phases.end());

  // The previous content, kept as a verified pre-restore snapshot.
  const SnapshotResult& pre = restored->pre_restore;
  ASSERT_FALSE(pre.path.empty());
  EXPECT_THAT(pre.manifest.file, StartsWith("app-pre-restore-"));
  EXPECT_EQ(pre.manifest.kind, "pre-restore");
  EXPECT_EQ(ModeOf(pre.path), 0600u);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(pre.path));
  EXPECT_EQ(QueryInt(pre.path, "SELECT count(*) FROM accounts"), 11);

  // It is not counted or deleted by retention of regular snapshots.
  SnapshotOptions keep_one;
  keep_one.keep = 1;
  auto again = Snapshot(db_path, dir.File("snaps"), keep_one);
  ASSERT_TRUE(again.has_value()) << testing::Describe(again);
  EXPECT_TRUE(std::filesystem::exists(pre.path));

  // The database is usable afterwards through the library.
  auto db = OpenDb(db_path);
  ASSERT_NE(db, nullptr);
  SQLSTEWARD_EXPECT_OK(Transfer(*db, 10, 99));
}

TEST(SnapshotTest, RestoreRefusesADamagedSnapshotAndTouchesNothing) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  std::string snapshot_path;
  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    SeedBank(*db, 10, 50);
    auto snap = Snapshot(*db, dir.File("snaps"));
    ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
    snapshot_path = snap->path;
    SQLSTEWARD_ASSERT_OK(Transfer(*db, 10, 12345));
  }
  FlipByte(snapshot_path, 4096 + 100);
  const std::string before = FileSha(db_path);
  const auto files_before = ListDir(dir.File("snaps"));

  auto restored = Restore(snapshot_path, db_path);
  EXPECT_THAT(restored, StatusIs(StatusCode::kCorruption));
  ASSERT_FALSE(restored.has_value());
  EXPECT_THAT(std::string(restored.error().message()), HasSubstr("checksum mismatch"));
  EXPECT_EQ(FileSha(db_path), before);
  EXPECT_EQ(ListDir(dir.File("snaps")), files_before);  // No pre-restore snapshot.
}

// A process that has the database open restores into it; its own readers
// see the restored content at their next read. The restore writes pages
// into the file in place, never renames over it: a connection opened
// outside sqlsteward keeps the same file (device and inode) and sees the
// restored content too.
TEST(SnapshotTest, RestoreIntoAnOpenDatabase) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  auto db = OpenDb(db_path);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 10);
  auto snap = Snapshot(*db, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) { return tx.Exec("DELETE FROM accounts"); }));

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto raw_count = [raw] {
    sqlite3_stmt* stmt = nullptr;
    long long n = -1;
    if (sqlite3_prepare_v2(raw, "SELECT count(*) FROM accounts", -1, &stmt, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return n;
  };
  EXPECT_EQ(raw_count(), 0);
  struct stat before = {};
  ASSERT_EQ(::stat(db_path.c_str(), &before), 0);

  auto restored = Restore(*db, snap->path);
  ASSERT_TRUE(restored.has_value()) << testing::Describe(restored);
  struct stat after = {};
  ASSERT_EQ(::stat(db_path.c_str(), &after), 0);
  EXPECT_EQ(after.st_dev, before.st_dev);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the database file was replaced, not restored into";
  EXPECT_EQ(raw_count(), 10) << "a connection open during the restore sees the old content";
  sqlite3_close(raw);
  SQLSTEWARD_EXPECT_OK(db->Read([](ReadTransaction& tx) -> Status {
    auto count = tx.QueryInt64("SELECT count(*) FROM accounts");
    if (!count.has_value()) return count.error();
    EXPECT_EQ(count->value_or(-1), 10);
    return Status();
  }));
  SQLSTEWARD_EXPECT_OK(Transfer(*db, 10, 5));
}

// WAL mode cannot change the page size: restoring a snapshot with another
// page size into a WAL database is refused before anything is written.
TEST(SnapshotTest, RestoreRefusesAnotherPageSizeIntoWal) {
  TempDir dir;
  const std::string other = dir.File("big-pages.db");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA page_size=8192; CREATE TABLE t(x); INSERT INTO t VALUES(1)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
  }
  auto snap = Snapshot(other, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_EQ(snap->manifest.page_size, 8192);

  auto db = OpenDb(dir.File("app.db"), JournalMode::kWal);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, 3);
  EXPECT_THAT(Restore(*db, snap->path), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(QueryInt(dir.File("app.db"), "SELECT count(*) FROM accounts"), 3);
}

TEST(SnapshotTest, RestoreIntoANewPathCreatesTheDatabase) {
  TempDir dir;
  std::string snapshot_path;
  {
    auto db = OpenDb(dir.File("app.db"));
    ASSERT_NE(db, nullptr);
    SeedBank(*db, 4);
    auto snap = Snapshot(*db, dir.File("snaps"));
    ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
    snapshot_path = snap->path;
  }
  auto restored = Restore(snapshot_path, dir.File("copy/app.db"));
  ASSERT_TRUE(restored.has_value()) << testing::Describe(restored);
  EXPECT_TRUE(restored->pre_restore.path.empty());
  EXPECT_EQ(QueryInt(dir.File("copy/app.db"), "SELECT count(*) FROM accounts"), 4);
}

}  // namespace
}  // namespace sqlsteward
