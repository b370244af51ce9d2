// Snapshots with real processes around them: four writer processes moving
// money while snapshots are taken (every snapshot must be sound and keep
// the total), kill -9 in the middle of a copy, a full disk, a live second
// instance during a restore, and the CLI end to end.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "cli/run_cli.h"
#include "base/sha256.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/sqlsteward.h"
#include "support/snapshot_fixtures.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::Child;
using testing::FileSha;
using testing::OpenDb;
using testing::QueryInt;
using testing::SeedBank;
using testing::StatusIs;
using testing::TempDir;

constexpr int kAccounts = 100;
constexpr long long kTotal = kAccounts * 1000LL;
const std::string kHelper = SQLSTEWARD_SNAPSHOT_HELPER;
const std::string kCli = SQLSTEWARD_CLI;

void SeedFile(const std::string& path, int filler_rows) {
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  SeedBank(*db, kAccounts, filler_rows);
  SQLSTEWARD_ASSERT_OK(db->Close());
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool Begins(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

void FlipByte(const std::string& path, off_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, offset), 1);
  byte ^= 0x20;
  ASSERT_EQ(::pwrite(fd, &byte, 1, offset), 1);
  ::close(fd);
}

struct UnderWritersCase {
  JournalMode mode;
  SnapshotCopyMethod method;
};
class SnapshotUnderWritersTest : public ::testing::TestWithParam<UnderWritersCase> {};

// Four processes commit transfers as fast as they can while snapshots are
// taken; every snapshot passes integrity_check and keeps the total.
TEST_P(SnapshotUnderWritersTest, EverySnapshotIsSoundAndKeepsTheInvariant) {
  TempDir dir;
  const std::string db_path = dir.File("bank.db");
  const JournalMode mode = GetParam().mode;
  auto db = OpenDb(db_path, mode);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(db->journal_mode(), mode);
  SeedBank(*db, kAccounts, 1500);

  std::vector<std::unique_ptr<Child>> writers;
  for (int i = 0; i < 4; ++i) {
    writers.push_back(std::make_unique<Child>(
        kHelper, std::vector<std::string>{"transfers", db_path, std::to_string(kAccounts)}));
  }
  // Each writer says "ready" once its first transfer has committed.
  for (auto& w : writers) ASSERT_EQ(w->ReadLine(), "ready");

  // Between two steps of each snapshot's copy, wait until a writer has
  // committed: every copy has a commit land in the middle of it (no
  // timing guess), which a rollback-journal copy must survive by
  // restarting and a WAL copy by not noticing.
  sqlite3* watcher = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &watcher, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(watcher, 5000);
  auto transfers_now = [&] {
    sqlite3_stmt* stmt = nullptr;
    long long n = -1;
    if (sqlite3_prepare_v2(watcher, "SELECT count(*) FROM transfers", -1, &stmt, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return n;
  };
  bool waited = false;
  int waits_timed_out = 0;
  SnapshotOptions options;
  options.pages_per_step = 32;
  options.copy_method = GetParam().method;
  options.integrity = IntegrityCheck::kFull;
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const SnapshotProgress& p) {
    if (p.phase != SnapshotPhase::kCopy || p.pages_done == 0 || p.finished || waited) return;
    waited = true;
    const long long before = transfers_now();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (transfers_now() == before) {
      if (std::chrono::steady_clock::now() > give_up) {
        ++waits_timed_out;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  std::vector<SnapshotResult> snaps;
  for (int i = 0; i < 5; ++i) {
    waited = false;
    auto snap = Snapshot(*db, dir.File("snaps"), options);
    ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
    snaps.push_back(std::move(snap).value());
  }

  long long max_write_us = 0;
  for (auto& w : writers) {
    w->CloseStdin();
    std::istringstream done(w->ReadLine());
    std::string word;
    long long commits = -1, errors = -1, max_us = -1;
    done >> word >> commits >> errors >> max_us;
    EXPECT_EQ(word, "done");
    EXPECT_GT(commits, 0);
    EXPECT_EQ(errors, 0);
    max_write_us = std::max(max_write_us, max_us);
    EXPECT_EQ(w->Wait(), 0);
  }
  std::printf("longest write of the 4 writer processes (including queueing): %.1f ms\n",
              static_cast<double>(max_write_us) / 1000.0);

  long long previous_transfers = -1;
  int interrupted = 0;  // Rollback journal: copies the writers made restart or lock.
  for (const SnapshotResult& s : snaps) {
    SCOPED_TRACE(s.path);
    SQLSTEWARD_EXPECT_OK(VerifySnapshot(s.path));
    EXPECT_EQ(testing::IntegrityCheck(s.path), "ok");
    EXPECT_EQ(QueryInt(s.path, "SELECT sum(balance) FROM accounts"), kTotal);
    EXPECT_EQ(QueryInt(s.path, "SELECT count(*) FROM accounts"), kAccounts);
    const long long transfers = QueryInt(s.path, "SELECT count(*) FROM transfers");
    EXPECT_GE(transfers, previous_transfers);
    previous_transfers = transfers;
    EXPECT_EQ(s.copy_method, GetParam().method == SnapshotCopyMethod::kFileCopy
                                 ? SnapshotCopyMethod::kFileCopy
                                 : SnapshotCopyMethod::kBackupApi);
    if (mode == JournalMode::kWal) {
      // One read transaction sees one state: WAL never restarts or locks.
      EXPECT_EQ(s.restarts, 0);
      EXPECT_FALSE(s.copied_under_write_lock);
    } else {
      // max_restarts restarts are tolerated; the one after them sends the
      // copy under the write lock, where no commit can restart it.
      EXPECT_LE(s.restarts, options.max_restarts + 1);
      if (s.restarts > options.max_restarts) {
        EXPECT_TRUE(s.copied_under_write_lock);
      }
      if (s.restarts > 0 || s.copied_under_write_lock) ++interrupted;
    }
  }
  sqlite3_close(watcher);
  EXPECT_EQ(waits_timed_out, 0) << "no writer committed during a copy";
  if (mode == JournalMode::kDelete) {
    // A commit landed in the middle of every copy.
    EXPECT_EQ(interrupted, static_cast<int>(snaps.size()));
  }
  EXPECT_GT(previous_transfers, 0);
  EXPECT_EQ(QueryInt(db_path, "SELECT sum(balance) FROM accounts"), kTotal);
}

INSTANTIATE_TEST_SUITE_P(
    JournalModesAndCopies, SnapshotUnderWritersTest,
    ::testing::Values(UnderWritersCase{JournalMode::kWal, SnapshotCopyMethod::kFileCopy},
                      UnderWritersCase{JournalMode::kWal, SnapshotCopyMethod::kBackupApi},
                      UnderWritersCase{JournalMode::kDelete, SnapshotCopyMethod::kAuto}),
    [](const ::testing::TestParamInfo<UnderWritersCase>& param_info) {
      if (param_info.param.mode == JournalMode::kDelete) return std::string("Delete");
      return std::string(param_info.param.method == SnapshotCopyMethod::kFileCopy ? "WalFileCopy"
                                                                             : "WalBackupApi");
    });

// Issue 14: the file copy is the snapshot, in content, while another
// process commits without pause and checkpoints run in the middle of the
// copy (the writer's own, by WAL size, and one forced from a third process
// each time). Each commit of the writer rewrites every row of `ledger`
// (about 40 pages), so any page from the wrong state shows as two
// versions. In the middle of each copy the third process also commits to
// `cold` (pages at the end of the file, written by nobody else) and then
// checkpoints: the snapshot must still show the old `cold`. Without the
// WAL overlay the copy holds the database file's older state (its ledger
// version is below the one committed before the snapshot began); without
// the read transaction that checkpoint copies the new `cold` page into the
// file before the copy reads it: both fail here.
TEST(SnapshotFileCopyTest, FastCopyIsTheSnapshotUnderCommitsAndCheckpoints) {
  TempDir dir;
  const std::string db_path = dir.File("ledger.db");
  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    SeedBank(*db, kAccounts, 300);  // Filler: the copy takes many chunks.
    SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) -> Status {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("CREATE TABLE ledger(id INTEGER PRIMARY KEY, version INTEGER, pad BLOB)"));
      for (int i = 0; i < 150; ++i) {
        SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO ledger VALUES(?, 0, randomblob(1000))", i));
      }
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("CREATE TABLE cold(id INTEGER PRIMARY KEY, version INTEGER, pad BLOB)"));
      for (int i = 0; i < 8; ++i) {
        SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO cold VALUES(?, 0, randomblob(1000))", i));
      }
      return Status();
    }));
    SQLSTEWARD_ASSERT_OK(db->Close());
  }
  auto db = OpenDb(db_path);
  ASSERT_NE(db, nullptr);
  Child writer(kHelper, {"ledger", db_path});
  ASSERT_EQ(writer.ReadLine(), "ready");
  Child checkpointer(kHelper, {"checkpointer", db_path});
  ASSERT_EQ(checkpointer.ReadLine(), "ready");

  auto version_now = [&] { return QueryInt(db_path, "SELECT max(version) FROM ledger"); };
  SnapshotOptions options;
  options.pages_per_step = 8;  // 32 KiB a chunk: the copy reports often.
  options.copy_method = SnapshotCopyMethod::kFileCopy;
  options.progress_interval = std::chrono::milliseconds(0);
  long long during = -1;  // The version committed when the copy was under way.
  int waits_timed_out = 0;
  options.progress = [&](const SnapshotProgress& p) {
    if (p.phase != SnapshotPhase::kCopy || p.pages_done == 0 || p.finished || during >= 0) return;
    during = version_now();
    // A commit lands in the middle of the copy (no timing guess)...
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (version_now() <= during) {
      if (std::chrono::steady_clock::now() > give_up) {
        ++waits_timed_out;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // ...and a checkpoint by another process, which copies WAL frames into
    // the database file while we read it.
    checkpointer.Send("go\n");
    EXPECT_EQ(checkpointer.ReadLine(), "checkpointed");
  };
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    during = -1;
    const long long before = version_now();
    const long long cold_before = QueryInt(db_path, "SELECT max(version) FROM cold");
    auto snap = Snapshot(*db, dir.File("snaps"), options);
    ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
    EXPECT_EQ(snap->copy_method, SnapshotCopyMethod::kFileCopy);
    EXPECT_TRUE(snap->fallback_reason.empty()) << snap->fallback_reason;
    EXPECT_GE(during, 0) << "the copy reported no progress in its middle";
    SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
    EXPECT_EQ(QueryInt(snap->path, "SELECT count(DISTINCT version) FROM ledger"), 1)
        << "rows of different commits: a torn copy";
    EXPECT_EQ(QueryInt(snap->path, "SELECT count(*) FROM ledger"), 150);
    const long long version = QueryInt(snap->path, "SELECT max(version) FROM ledger");
    EXPECT_GE(version, before) << "older than what was committed before the snapshot began";
    EXPECT_LE(version, during) << "newer than the snapshot's read transaction";
    EXPECT_EQ(QueryInt(snap->path, "SELECT sum(balance) FROM accounts"), kTotal);
    EXPECT_EQ(QueryInt(snap->path, "SELECT count(DISTINCT version) FROM cold"), 1);
    EXPECT_EQ(QueryInt(snap->path, "SELECT max(version) FROM cold"), cold_before)
        << "a commit made during the copy reached it";
    EXPECT_EQ(QueryInt(db_path, "SELECT max(version) FROM cold"), cold_before + 1);
  }
  EXPECT_EQ(waits_timed_out, 0) << "no commit landed during a copy";
  checkpointer.CloseStdin();
  EXPECT_EQ(checkpointer.Wait(), 0);
  writer.CloseStdin();
  const std::string done = writer.ReadLine();
  EXPECT_THAT(done, StartsWith("done "));
  EXPECT_THAT(done, ::testing::EndsWith(" 0")) << "the writer had errors";
  EXPECT_EQ(writer.Wait(), 0);
  SQLSTEWARD_EXPECT_OK(db->Close());
}

// kill -9 in the middle of the copy: nothing appears under a final name;
// the temporary stays until the next snapshot into the directory removes it.
TEST(SnapshotCrashTest, SigkillDuringSnapshotLeavesNoFinalFile) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 3000);
  const std::string dest = dir.File("snaps");
  {
    Child snapshotter(kHelper, {"snapshot", db_path, dest, "16", "2000"});
    std::string line;
    do {
      line = snapshotter.ReadLine();
    } while (!line.empty() && !Begins(line, "progress copy "));
    ASSERT_THAT(line, StartsWith("progress copy "));
    snapshotter.Kill(SIGKILL);
    EXPECT_EQ(snapshotter.Wait(), 128 + SIGKILL);
  }
  std::vector<std::string> left = ListDir(dest);
  for (const std::string& name : left) {
    EXPECT_THAT(name, StartsWith(".snapshot-")) << "a file under a final name after kill -9";
    EXPECT_THAT(name, ::testing::EndsWith(".tmp"));
  }
  ASSERT_EQ(left.size(), 1u);

  auto snap = Snapshot(db_path, dest);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  EXPECT_EQ(snap->removed_temporary, (std::vector<std::string>{dest + "/" + left[0]}));
  EXPECT_EQ(ListDir(dest).size(), 2u);  // The new snapshot and its manifest.
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
  EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");
}

// A snapshot killed just before each of its fsyncs and renames in turn
// (a crash at every sync point, including between the manifest's rename
// and the snapshot's) and at each progress report of every phase (copy,
// sync, checksum, integrity check): the directory never holds a snapshot
// under its final name that does not verify, the database stays intact,
// and the next snapshot succeeds and removes what the crash left.
TEST(SnapshotCrashTest, KilledAtEverySyncPointLeavesNoHalfSnapshot) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 200);
  const std::string dest = dir.File("snaps");

  int fsyncs = 0;
  int renames = 0;
  int reports = 0;
  {
    Child counter(kHelper, {"snapshot-crash", db_path, dest, "fsync", "0"});
    const std::string line = counter.ReadLine();
    ASSERT_EQ(std::sscanf(line.c_str(), "ok %d %d %d", &fsyncs, &renames, &reports), 3) << line;
    EXPECT_EQ(counter.Wait(), 0);
  }
  ASSERT_GE(fsyncs, 2) << "the copy and the directory are synced";
  ASSERT_EQ(renames, 2) << "the manifest, then the snapshot";
  ASSERT_GE(reports, 8) << "every phase reports its start and end";
  std::filesystem::remove_all(dest);

  int crashes = 0;
  for (const auto& [op, count] : {std::pair<std::string, int>{"fsync", fsyncs},
                                  std::pair<std::string, int>{"rename", renames},
                                  std::pair<std::string, int>{"report", reports}}) {
    for (int nth = 1; nth <= count; ++nth) {
      SCOPED_TRACE(op + " #" + std::to_string(nth));
      {
        Child crashing(kHelper, {"snapshot-crash", db_path, dest, op, std::to_string(nth)});
        EXPECT_EQ(crashing.Wait(), 128 + SIGKILL) << "no crash at " << op << " " << nth;
        ++crashes;
      }
      std::vector<std::string> finals;
      if (std::filesystem::exists(dest)) {
        for (const std::string& name : ListDir(dest)) {
          if (!Begins(name, ".snapshot-")) finals.push_back(name);
        }
      }
      for (const std::string& name : finals) {
        if (name.size() > 3 && name.compare(name.size() - 3, 3, ".db") == 0) {
          SQLSTEWARD_EXPECT_OK(VerifySnapshot(dest + "/" + name));
        } else {
          // A manifest may be published before its snapshot, never without
          // one once the snapshot is there.
          EXPECT_THAT(name, ::testing::EndsWith(".manifest.json"));
        }
      }
      EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");

      auto snap = Snapshot(db_path, dest);
      ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
      SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
      for (const std::string& name : ListDir(dest)) {
        EXPECT_FALSE(Begins(name, ".snapshot-")) << "a temporary outlived the next snapshot";
        const std::string suffix = ".manifest.json";
        if (name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
          EXPECT_TRUE(std::filesystem::exists(
              dest + "/" + name.substr(0, name.size() - suffix.size()) + ".db"))
              << name << ": a manifest without its snapshot outlived the next snapshot";
        }
      }
      std::filesystem::remove_all(dest);
    }
  }
  std::printf("snapshot killed at %d points (%d fsyncs, %d renames, %d progress reports)\n",
              crashes, fsyncs, renames, reports);
}

// A restore killed just before each of its fsyncs and renames (the
// pre-restore snapshot's among them) and at each step of the page copy
// into the live database: after recovery the database holds exactly its
// old content or exactly the snapshot's, never a mix; every snapshot left
// under a final name verifies; and a restore run afterwards succeeds.
TEST(SnapshotCrashTest, RestoreKilledAtEverySyncPointAndCopyStepIsAllOrNothing) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  const std::string snaps = dir.File("snaps");
  // Old and new content told apart by filler rows and the balances' sum.
  const std::string fingerprint =
      "SELECT (SELECT count(*) FROM filler) * 1000000 + (SELECT sum(balance) FROM accounts)";
  SeedFile(db_path, 100);
  auto snap = Snapshot(db_path, snaps);
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  const long long snapshot_content = QueryInt(snap->path, fingerprint);
  // The live database: rebuilt before every crash, then changed.
  auto make_live = [&]() -> long long {
    for (const char* suffix : {"", "-wal", "-shm", "-journal", "-steward", "-steward.claim"}) {
      std::filesystem::remove(db_path + suffix);
    }
    SeedFile(db_path, 100);
    auto db = OpenDb(db_path);
    if (db == nullptr) return -1;
    Status st = db->Write([](Transaction& tx) {
      return tx.ExecScript(
          "DELETE FROM filler WHERE id % 2 = 0; UPDATE accounts SET balance = 1 WHERE id < 5");
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    SQLSTEWARD_EXPECT_OK(db->Close());
    return QueryInt(db_path, fingerprint);
  };

  long long live_content = make_live();
  ASSERT_NE(live_content, snapshot_content);
  int fsyncs = 0, renames = 0, reports = 0;
  {
    Child counter(kHelper, {"restore-crash", snap->path, db_path, "fsync", "0"});
    const std::string line = counter.ReadLine();
    ASSERT_EQ(std::sscanf(line.c_str(), "ok %d %d %d", &fsyncs, &renames, &reports), 3) << line;
    EXPECT_EQ(counter.Wait(), 0);
    EXPECT_EQ(QueryInt(db_path, fingerprint), snapshot_content);
  }
  ASSERT_GT(fsyncs, 0);
  ASSERT_GE(renames, 2) << "the pre-restore snapshot and its manifest";
  ASSERT_GE(reports, 3) << "the copy must take several steps to be killed in between";

  int crashes = 0;
  std::set<std::string> verified;  // Snapshots already checked.
  for (const auto& [where, count] : {std::pair<std::string, int>{"fsync", fsyncs},
                                     std::pair<std::string, int>{"rename", renames},
                                     std::pair<std::string, int>{"restore", reports}}) {
    for (int nth = 1; nth <= count; ++nth) {
      SCOPED_TRACE(where + " #" + std::to_string(nth));
      live_content = make_live();
      {
        Child crashing(kHelper, {"restore-crash", snap->path, db_path, where, std::to_string(nth)});
        EXPECT_EQ(crashing.Wait(), 128 + SIGKILL) << "no crash at " << where << " " << nth;
        ++crashes;
      }
      // Recovery is a read-write open (a hot journal or WAL is replayed).
      auto db = OpenDb(db_path);
      ASSERT_NE(db, nullptr);
      SQLSTEWARD_ASSERT_OK(db->Close());
      EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");
      const long long content = QueryInt(db_path, fingerprint);
      EXPECT_TRUE(content == live_content || content == snapshot_content)
          << "a mix of old and restored content: " << content;
      if (where == "restore" && nth < count) {
        // Every report but the last (the phase's end, after the commit).
        EXPECT_EQ(content, live_content) << "a restore killed mid-copy committed";
      }
      for (const std::string& name : ListDir(snaps)) {
        if (!Begins(name, ".snapshot-") && name.size() > 3 &&
            name.compare(name.size() - 3, 3, ".db") == 0 && verified.insert(name).second) {
          SCOPED_TRACE(name);
          SQLSTEWARD_EXPECT_OK(VerifySnapshot(snaps + "/" + name));
        }
      }
      auto again = Restore(snap->path, db_path);
      ASSERT_TRUE(again.has_value()) << testing::Describe(again);
      EXPECT_EQ(QueryInt(db_path, fingerprint), snapshot_content);
    }
  }
  std::printf("restore killed at %d points (%d fsyncs, %d renames, %d copy steps)\n", crashes,
              fsyncs, renames, reports);
}

// What a snapshot helper mode said about a snapshot onto a full disk.
struct FullDiskRun {
  std::string result;              // Its "ok ..." or "error ..." line.
  std::vector<std::string> files;  // What it listed on the disk afterwards.
  bool listed = false;             // It could list it: no file lines means empty.
  long long copied = 0;            // Pages the copy reported done.
  int exit = -1;
};

// Runs the snapshot helper's `mode` with DB and a 2 MiB tmpfs mounted on
// `dest` in a private mount namespace.
FullDiskRun SnapshotOntoSmallTmpfs(const std::string& mode, const std::string& db_path,
                                   const std::string& dest) {
  Child child("unshare",
              {"-m", "--propagation", "private", "sh", "-c",
               "mount -t tmpfs -o size=2m,mode=0700 tmpfs \"$1\" && exec \"$2\" \"$4\" \"$3\" "
               "\"$1\"",
               "sh", dest, kHelper, db_path, mode});
  FullDiskRun run;
  for (std::string line = child.ReadLine(); !line.empty(); line = child.ReadLine()) {
    if (line == "end") {
      run.listed = true;
      break;
    }
    long long done = 0;
    long long total = 0;
    if (std::sscanf(line.c_str(), "progress copy %lld %lld", &done, &total) == 2) {
      run.copied = std::max(run.copied, done);
    } else if (Begins(line, "file ")) {
      run.files.push_back(line.substr(5));
    } else if (!Begins(line, "progress ") && run.result.empty()) {
      run.result = line;
    }
  }
  run.exit = child.Wait();
  return run;
}

// The destination is a 2 MiB tmpfs and the database is larger: a typed
// error, nothing left in the directory, the live database untouched.
TEST(SnapshotCrashTest, DiskFullIsTypedAndLeavesNothing) {
  ASSERT_EQ(::geteuid(), 0u)
      << "this test mounts a small tmpfs in a private mount namespace (unshare -m), which "
         "needs root (CAP_SYS_ADMIN); run it as root, e.g. in the CI container";
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 2000);  // About 6 MiB.
  const std::string sha_before = FileSha(db_path);
  const std::string dest = dir.File("small");
  std::filesystem::create_directories(dest);

  FullDiskRun run = SnapshotOntoSmallTmpfs("snapshot", db_path, dest);
  EXPECT_EQ(run.exit, 1);
  EXPECT_THAT(run.result, StartsWith("error resource_exhausted "));
  ASSERT_TRUE(run.listed) << "the child could not list the full tmpfs";
  EXPECT_TRUE(run.files.empty()) << "left on the full disk: "
                                 << ::testing::PrintToString(run.files);

  EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");
  EXPECT_EQ(FileSha(db_path), sha_before);
  auto db = OpenDb(db_path);
  ASSERT_NE(db, nullptr);
  SQLSTEWARD_EXPECT_OK(db->Write([](Transaction& tx) {
    return tx.Exec("UPDATE accounts SET balance = balance WHERE id = 1");
  }));
}

// As above, on a filesystem without fallocate (NFSv3, many FUSE ones;
// here a FaultEnv in the child answers EOPNOTSUPP): nothing reserves the
// space, so the disk fills in the middle of the copy, at a write SQLite's
// VFS makes. The error is typed and names the temporary, nothing is left,
// the database is untouched, and a snapshot elsewhere then succeeds.
TEST(SnapshotCrashTest, DiskFullMidCopyIsTypedAndLeavesNothing) {
  ASSERT_EQ(::geteuid(), 0u)
      << "this test mounts a small tmpfs in a private mount namespace (unshare -m), which "
         "needs root (CAP_SYS_ADMIN); run it as root, e.g. in the CI container";
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 2000);  // About 6 MiB.
  const std::string sha_before = FileSha(db_path);
  const std::string dest = dir.File("small");
  std::filesystem::create_directories(dest);

  FullDiskRun run = SnapshotOntoSmallTmpfs("snapshot-no-fallocate", db_path, dest);
  EXPECT_EQ(run.exit, 1);
  EXPECT_THAT(run.result, StartsWith("error resource_exhausted "));
  EXPECT_THAT(run.result, HasSubstr(dest + "/.snapshot-")) << "the error names the temporary";
  EXPECT_GT(run.copied, 0) << "the disk filled before the copy started, not in its middle";
  ASSERT_TRUE(run.listed) << "the child could not list the full tmpfs";
  EXPECT_TRUE(run.files.empty()) << "left on the full disk: "
                                 << ::testing::PrintToString(run.files);

  EXPECT_EQ(testing::IntegrityCheck(db_path), "ok");
  EXPECT_EQ(FileSha(db_path), sha_before);
  auto snap = Snapshot(db_path, dir.File("roomy"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap->path));
}

// The live database sits on a 2 MiB tmpfs and the snapshot restored into it
// is about 6 MiB: the restore fails with a typed error mid-copy and is
// rolled back. The database keeps its old content and passes
// integrity_check, the WAL the copy grew is truncated (on a full disk its
// size is the space everything else needs), and the pre-restore snapshot,
// a duplicate of the unchanged database, is removed.
TEST(SnapshotCrashTest, RestoreOntoAFullDiskChangesNothing) {
  ASSERT_EQ(::geteuid(), 0u)
      << "this test mounts a small tmpfs in a private mount namespace (unshare -m), which "
         "needs root (CAP_SYS_ADMIN); run it as root, e.g. in the CI container";
  TempDir dir;
  const std::string big = dir.File("big.db");
  SeedFile(big, 2000);  // About 6 MiB.
  auto snap = Snapshot(big, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  const std::string small_db = dir.File("seed.db");
  SeedFile(small_db, 20);
  const long long old_filler = QueryInt(small_db, "SELECT count(*) FROM filler");
  const std::string mount = dir.File("small");
  std::filesystem::create_directories(mount);

  // Everything that looks at the tmpfs runs inside the child's namespace.
  Child child("unshare",
              {"-m", "--propagation", "private", "sh", "-c",
               "mount -t tmpfs -o size=2m,mode=0700 tmpfs \"$1\" || exit 90\n"
               "cp \"$4\" \"$1/app.db\" || exit 91\n"
               "\"$2\" restore-crash \"$3\" \"$1/app.db\" fsync 0\n"
               "echo \"exit $?\"\n"
               "echo \"integrity $(sqlite3 \"$1/app.db\" 'PRAGMA integrity_check')\"\n"
               "echo \"filler $(sqlite3 \"$1/app.db\" 'SELECT count(*) FROM filler')\"\n"
               "echo \"wal $(stat -c %s \"$1/app.db-wal\" 2>/dev/null || echo none)\"\n",
               "sh", mount, kHelper, snap->path, small_db});
  std::map<std::string, std::string> said;  // First word -> the rest.
  std::string error;
  for (std::string line = child.ReadLine(); !line.empty(); line = child.ReadLine()) {
    if (Begins(line, "error ")) error = line;
    const auto space = line.find(' ');
    if (space != std::string::npos) said.emplace(line.substr(0, space), line.substr(space + 1));
  }
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_THAT(error, StartsWith("error resource_exhausted "));
  EXPECT_EQ(said["exit"], "1");
  EXPECT_EQ(said["integrity"], "ok");
  EXPECT_EQ(said["filler"], std::to_string(old_filler)) << "the failed restore changed rows";
  EXPECT_TRUE(said["wal"] == "0" || said["wal"] == "none")
      << "the rolled-back WAL still holds " << said["wal"] << " bytes of the full disk";
  // Only the snapshot and its manifest: no pre-restore copy, no temporary.
  EXPECT_EQ(ListDir(dir.File("snaps")).size(), 2u)
      << ::testing::PrintToString(ListDir(dir.File("snaps")));
}

// Restore refuses while another process has the database open, names it,
// and proceeds once asked to take over (the other instance hands over).
TEST(SnapshotRestoreTest, RefusedWhileAnotherInstanceIsLiveUnlessTakingOver) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 10);
  auto snap = Snapshot(db_path, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) { return tx.Exec("DELETE FROM accounts"); }));
  }

  Child holder(kHelper, {"hold", db_path});
  ASSERT_EQ(holder.ReadLine(), "ready");
  auto refused = Restore(snap->path, db_path);
  EXPECT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(std::string(refused.error().message()),
              HasSubstr("pid " + std::to_string(holder.pid())));
  EXPECT_THAT(std::string(refused.error().hint()), HasSubstr("take-over"));
  EXPECT_EQ(QueryInt(db_path, "SELECT count(*) FROM accounts"), 0);
  EXPECT_FALSE(std::filesystem::exists(dir.File("snaps")) &&
               std::any_of(std::filesystem::directory_iterator(dir.File("snaps")),
                           std::filesystem::directory_iterator(), [](const auto& e) {
                             return e.path().filename().string().find("pre-restore") !=
                                    std::string::npos;
                           }));

  // The CLI says the same, with exit status 1.
  testing::CliResult cli = testing::RunCli(kCli, {"restore", snap->path, db_path, "--json"});
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  auto doc = nlohmann::json::parse(cli.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << cli.out;
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["error"]["code"], "failed_precondition");

  RestoreOptions take_over;
  take_over.take_over = true;
  auto restored = Restore(snap->path, db_path, take_over);
  ASSERT_TRUE(restored.has_value()) << testing::Describe(restored);
  EXPECT_EQ(holder.ReadLine(), "handed-over");
  EXPECT_EQ(QueryInt(db_path, "SELECT count(*) FROM accounts"), kAccounts);
  EXPECT_EQ(QueryInt(restored->pre_restore.path, "SELECT count(*) FROM accounts"), 0);
}

// A damaged snapshot: verify names the mismatch, restore refuses, the live
// database is byte-for-byte unchanged. Through the CLI.
TEST(SnapshotCliTest, FlippedByteFailsVerifyAndRestoreRefuses) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 100);
  testing::CliResult made =
      testing::RunCli(kCli, {"snapshot", db_path, dir.File("snaps"), "--json"});
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  auto doc = nlohmann::json::parse(made.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << made.out;
  const std::string snapshot = doc["snapshot"].get<std::string>();
  EXPECT_EQ(doc["manifest"]["integrity_check"], "quick");

  testing::CliResult verified = testing::RunCli(kCli, {"verify", snapshot, "--json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;

  FlipByte(snapshot, 3 * 4096 + 17);
  const std::string live_sha = FileSha(db_path);
  verified = testing::RunCli(kCli, {"verify", snapshot, "--json"});
  EXPECT_EQ(verified.exit_code, 1);
  doc = nlohmann::json::parse(verified.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << verified.out;
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["error"]["code"], "corruption");
  EXPECT_THAT(doc["error"]["message"].get<std::string>(), StartsWith("checksum mismatch"));

  testing::CliResult restored = testing::RunCli(kCli, {"restore", snapshot, db_path});
  EXPECT_EQ(restored.exit_code, 1);
  EXPECT_THAT(restored.err, HasSubstr("checksum mismatch"));
  EXPECT_THAT(restored.err, HasSubstr("hint: "));
  EXPECT_EQ(FileSha(db_path), live_sha);
  for (const std::string& name : ListDir(dir.File("snaps"))) {
    EXPECT_EQ(name.find("pre-restore"), std::string::npos) << name;
  }
}

TEST(SnapshotCliTest, SnapshotRetentionVerifyAndRestoreEndToEnd) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 50);
  std::vector<std::string> made;
  for (int i = 0; i < 3; ++i) {
    testing::CliResult r = testing::RunCli(
        kCli, {"snapshot", db_path, dir.File("snaps"), "--keep", "2", "--integrity", "full",
               "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << r.out;
    EXPECT_EQ(doc["ok"], true);
    EXPECT_EQ(doc["manifest"]["integrity_check"], "full");
    EXPECT_EQ(doc["manifest"]["sha256"].get<std::string>(),
              FileSha(doc["snapshot"].get<std::string>()));
    made.push_back(doc["snapshot"].get<std::string>());
    if (i == 2) {
      EXPECT_EQ(doc["removed"], nlohmann::json::array({made[0]}));
    }
  }
  EXPECT_EQ(ListDir(dir.File("snaps")).size(), 4u);

  // Plain output (stdout is a pipe): progress lines, then a summary.
  testing::CliResult plain = testing::RunCli(kCli, {"verify", made[2]});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.out, HasSubstr("checksum"));
  EXPECT_THAT(plain.out, HasSubstr("OK"));

  {
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) { return tx.Exec("DELETE FROM filler"); }));
  }
  testing::CliResult restored =
      testing::RunCli(kCli, {"restore", made[2], db_path, "--json"});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  auto doc = nlohmann::json::parse(restored.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << restored.out;
  EXPECT_EQ(doc["ok"], true);
  EXPECT_THAT(doc["pre_restore"]["snapshot"].get<std::string>(), HasSubstr("app-pre-restore-"));
  EXPECT_EQ(QueryInt(db_path, "SELECT count(*) FROM filler"), 50);

  testing::CliResult bad = testing::RunCli(
      kCli, {"snapshot", db_path, dir.File("snaps"), "--integrity", "sometimes"});
  // Refused by the argument parser (CLI11's ValidationError exit code).
  EXPECT_EQ(bad.exit_code, 105) << bad.out << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("--integrity: sometimes not in {quick,full,none}"));
}

// `sqlsteward snapshot` of a database another process owns exclusively:
// refused with the owner named and a hint in the CLI's terms.
TEST(SnapshotCliTest, ExclusiveOwnerRefusesTheSnapshotCommandWithAHint) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 10);
  Child owner({"open-exclusive", db_path});
  ASSERT_EQ(owner.ReadLine(), "open " + std::to_string(owner.pid()));

  testing::CliResult refused =
      testing::RunCli(kCli, {"snapshot", db_path, dir.File("snaps"), "--json"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  auto doc = nlohmann::json::parse(refused.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << refused.out;
  EXPECT_EQ(doc["error"]["code"], "unavailable");
  EXPECT_THAT(doc["error"]["message"].get<std::string>(),
              HasSubstr("pid " + std::to_string(owner.pid())));
  EXPECT_THAT(doc["error"]["hint"].get<std::string>(),
              HasSubstr("take the snapshot inside the owning process"));
  EXPECT_THAT(doc["error"]["hint"].get<std::string>(),
              HasSubstr("sqlsteward handover " + db_path));
  EXPECT_FALSE(std::filesystem::exists(dir.File("snaps")) &&
               !std::filesystem::is_empty(dir.File("snaps")));

  owner.CloseStdin();
  EXPECT_EQ(owner.Wait(), 0);
  testing::CliResult taken = testing::RunCli(kCli, {"snapshot", db_path, dir.File("snaps")});
  EXPECT_EQ(taken.exit_code, 0) << taken.out << taken.err;
}

// Progress on a terminal (a pseudo-terminal from script(1)): a bar with
// pages and ETA, redrawn in place with '\r', and a line that stays per
// finished phase. Through a pipe: only plain lines, no bar.
TEST(SnapshotCliTest, ProgressIsABarOnATerminalAndPlainLinesOtherwise) {
  TempDir dir;
  const std::string db_path = dir.File("app.db");
  SeedFile(db_path, 200);
  auto snap = Snapshot(db_path, dir.File("snaps"));
  ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
  const std::string pages = std::to_string(snap->manifest.page_count);

  testing::CliResult tty = testing::RunCli(
      "/usr/bin/script",
      {"--quiet", "--return", "--command",
       "'" + std::string(kCli) + "' verify '" + snap->path + "'", "/dev/null"});
  ASSERT_EQ(tty.exit_code, 0) << tty.out << tty.err;
  // The checksum phase knows its size from the start: its bar is drawn at
  // once, at 0%, then overwritten by the line that stays.
  EXPECT_THAT(tty.out, HasSubstr("\rchecksum        [........................] 0/" + pages +
                                 " pages (0%)"));
  EXPECT_THAT(tty.out, HasSubstr("ETA -"));
  EXPECT_THAT(tty.out, HasSubstr("\rchecksum        " + pages + " pages, "));
  EXPECT_THAT(tty.out, HasSubstr("integrity_check"));

  testing::CliResult pipe = testing::RunCli(kCli, {"verify", snap->path});
  ASSERT_EQ(pipe.exit_code, 0) << pipe.out << pipe.err;
  EXPECT_THAT(pipe.out, HasSubstr("checksum        " + pages + " pages, "));
  EXPECT_EQ(pipe.out.find('\r'), std::string::npos) << pipe.out;
  EXPECT_EQ(pipe.out.find("[...."), std::string::npos) << pipe.out;
}

}  // namespace
}  // namespace sqlsteward
