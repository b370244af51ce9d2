// Power loss at every sync point (tests/support/power_loss.h): a helper
// process runs one workload through the power-loss model and loses power
// just before its Nth sync point (every fsync of a file or a directory, by
// SQLite or by sqlsteward), for every N of the workload in turn, and once
// after its last step. "Losing power" rewinds every file to its last sync
// and undoes directory operations not followed by a directory fsync
// (drop-all), or keeps a random part of them, whole, torn by sector or
// reordered (random, seeded by the crash point). After each crash the
// files are opened with SQLite's ordinary VFS and checked against what the
// workload's durability level promises.
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sqlsteward/sqlsteward.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::Child;
using testing::TempDir;

const std::string kHelper = SQLSTEWARD_POWER_LOSS_HELPER;

constexpr int kThreads = 4;
constexpr int kEach = 12;
constexpr long long kThreadIds = 1'000'000;

// What one crashed run said and how it ended.
struct HelperRun {
  std::vector<std::string> lines;
  int exit = -1;
};

HelperRun RunHelper(const std::vector<std::string>& args) {
  HelperRun run;
  Child child(kHelper, args);
  for (std::string line = child.ReadLine(); !line.empty(); line = child.ReadLine()) {
    run.lines.push_back(line);
  }
  run.exit = child.Wait();
  return run;
}

// The sync points of a workload run without a crash ("syncs <n>").
int CountSyncPoints(const std::vector<std::string>& args) {
  HelperRun run = RunHelper(args);
  EXPECT_EQ(run.exit, 0) << (run.lines.empty() ? "" : run.lines.back());
  int syncs = -1;
  for (const std::string& line : run.lines) std::sscanf(line.c_str(), "syncs %d", &syncs);
  EXPECT_GT(syncs, 0);
  return syncs;
}

// A fresh directory with the set-aside directory the model needs.
struct Scratch {
  explicit Scratch(const TempDir& dir, int n)
      : root(dir.File("run" + std::to_string(n))), aside(root + "/aside") {
    std::filesystem::create_directories(aside);
    ::chmod(root.c_str(), 0700);
  }
  ~Scratch() { std::filesystem::remove_all(root); }
  std::string File(const std::string& name) const { return root + "/" + name; }
  std::string root;
  std::string aside;
};

// What a reboot after a power loss does to the files' times: they are
// at least a minute old when anything opens them again. Without this, a
// registration claim file whose content was lost (empty, so its creator
// is unknown) would be judged by its age and hold every open for up to
// kClaimStaleMs (10 s) after its creation, which no real power loss and
// reboot are quick enough to see.
void AgeFiles(const std::string& root) {
  const auto minute_ago = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(1);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    std::error_code ignored;
    std::filesystem::last_write_time(entry.path(), minute_ago, ignored);
  }
}

// A workload crashed at every sync point: `setup` prepares a fresh
// scratch directory, `args` gives the helper's arguments (mode, seed and
// crash point last), `check` looks at what a crashed run left. Runs the
// workload once to count its sync points, then crashes it at each point
// and after its last step: once losing everything unsynced, and
// kRandomSeeds times keeping a random part. Returns the crashes run.
struct Workload {
  std::function<void(const Scratch&)> setup;
  std::function<std::vector<std::string>(const Scratch&)> args;
  std::function<void(const Scratch&, const HelperRun&)> check;
  // When the workload has more sync points than this, crash at this many
  // of them, evenly spaced (the first and the after-last included); 0: all.
  int max_points = 0;
};

// Crash points 1 .. syncs + 1 (syncs + 1: after the last step), or `max`
// of them evenly spaced.
std::vector<int> CrashPoints(int syncs, int max) {
  std::vector<int> points;
  const int all = syncs + 1;
  if (max <= 1 || all <= max) {
    for (int n = 1; n <= all; ++n) points.push_back(n);
    return points;
  }
  for (int i = 0; i < max; ++i) points.push_back(1 + i * (all - 1) / (max - 1));
  return points;
}

// Under a sanitizer every process runs several times slower: there, one
// random run per crash point and at most 16 points per workload, spread
// over it; the optimised build crashes at every point, twice at random.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kRandomSeeds = 1;
constexpr int kMaxPoints = 16;
#else
constexpr int kRandomSeeds = 2;
constexpr int kMaxPoints = 0;
#endif

int CrashAtEverySyncPoint(const Workload& w, int* sync_points = nullptr) {
  TempDir dir;
  auto with = [&](const Scratch& s, const std::string& mode, int seed, int crash) {
    std::vector<std::string> args = w.args(s);
    args.insert(args.end(), {s.aside, mode, std::to_string(seed), std::to_string(crash)});
    return args;
  };
  int syncs;
  {
    Scratch s(dir, 0);
    w.setup(s);
    syncs = CountSyncPoints(with(s, "drop-all", 0, 0));
  }
  if (sync_points != nullptr) *sync_points = syncs;
  int crashes = 0;
  for (int seed = 0; seed <= kRandomSeeds; ++seed) {
    const std::string mode = seed == 0 ? "drop-all" : "random";
    const int max_points =
        kMaxPoints == 0 ? w.max_points
                        : (w.max_points == 0 ? kMaxPoints : std::min(w.max_points, kMaxPoints));
    for (int point : CrashPoints(syncs, max_points)) {
      SCOPED_TRACE(mode + " seed " + std::to_string(seed) + " crash point " +
                   std::to_string(point) + " of " + std::to_string(syncs + 1));
      Scratch s(dir, ++crashes);
      w.setup(s);
      if (::testing::Test::HasFatalFailure()) return crashes;
      HelperRun run = RunHelper(with(s, mode, seed * 1000 + point, point));
      EXPECT_EQ(run.exit, 128 + SIGKILL) << (run.lines.empty() ? "" : run.lines.back());
      AgeFiles(s.root);
      w.check(s, run);
      if (::testing::Test::HasFatalFailure()) return crashes;
    }
  }
  return crashes;
}

// SQLite's ordinary VFS, read-write so that a hot journal is rolled back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, "unix");
    EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db_);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Each row's columns as text; a failure is a test failure.
  std::vector<std::vector<std::string>> Rows(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return rows;
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
      }
      rows.push_back(std::move(row));
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sql << ": " << sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    return rows;
  }
  std::string One(const std::string& sql) {
    auto rows = Rows(sql);
    return rows.empty() || rows[0].empty() ? std::string("(no row)") : rows[0][0];
  }

 private:
  sqlite3* db_ = nullptr;
};

// ---------------------------------------------------------------------------
// Group-committed writes.

struct WritesCase {
  const char* journal;
  const char* sync;
  // FULL and EXTRA: every acknowledged write survives. NORMAL: what
  // survives is a prefix of the commits.
  bool acknowledged_survive;
};

class PowerLossWritesTest : public ::testing::TestWithParam<WritesCase> {};

void CreateTable(const std::string& db_path, const std::string& journal) {
  Options options;
  options.journal_mode = journal == "wal" ? JournalMode::kWal : JournalMode::kDelete;
  auto db = Database::Open(db_path, options);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE t(seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE)");
  }));
  SQLSTEWARD_ASSERT_OK((*db)->Close());
}

// A plain (shared) open of the database writes one row into t.
void OpensAndWrites(const std::string& db_path) {
  auto db = Database::Open(db_path);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t(id) VALUES(?)", 99 * kThreadIds);
  }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
}

// Checks one crashed run's files: integrity, commits kept as a prefix
// (seq has no gap; each thread's ids are a prefix of its sequence), and
// the acknowledged writes present when the level promises it. Returns how
// many acknowledged writes were lost.
int CheckWrites(const std::string& db_path, const HelperRun& run, const WritesCase& c) {
  std::set<long long> acked;
  for (const std::string& line : run.lines) {
    long long id;
    if (std::sscanf(line.c_str(), "ack %lld", &id) == 1) acked.insert(id);
  }
  RawDb raw(db_path);
  EXPECT_EQ(raw.One("PRAGMA integrity_check"), "ok");
  std::map<long long, long long> next_of_thread;  // The next id each thread may have.
  long long expected_seq = 1;
  std::set<long long> present;
  for (const auto& row : raw.Rows("SELECT seq, id FROM t ORDER BY seq")) {
    const long long seq = std::stoll(row[0]);
    const long long id = std::stoll(row[1]);
    EXPECT_EQ(seq, expected_seq) << "a commit lost between two that survived";
    expected_seq = seq + 1;
    long long& next = next_of_thread[id / kThreadIds];
    EXPECT_EQ(id, (id / kThreadIds) * kThreadIds + next) << "thread's writes out of order";
    ++next;
    present.insert(id);
  }
  int lost = 0;
  for (long long id : acked) {
    if (present.count(id) == 0) ++lost;
  }
  if (c.acknowledged_survive) {
    EXPECT_EQ(lost, 0) << "acknowledged writes lost";
  }
  return lost;
}

TEST_P(PowerLossWritesTest, EverySyncPointKeepsWhatTheLevelPromises) {
  const WritesCase c = GetParam();
  int acknowledged = 0;
  int lost_runs = 0;
  int lost = 0;
  Workload w;
  w.setup = [&](const Scratch& s) { CreateTable(s.File("app.db"), c.journal); };
  w.args = [&](const Scratch& s) {
    return std::vector<std::string>{"writes", s.File("app.db"), c.journal, c.sync,
                                    std::to_string(kThreads), std::to_string(kEach)};
  };
  w.check = [&](const Scratch& s, const HelperRun& run) {
    for (const std::string& line : run.lines) acknowledged += line.rfind("ack ", 0) == 0;
    const int lost_here = CheckWrites(s.File("app.db"), run, c);
    lost += lost_here;
    lost_runs += lost_here > 0;
    // And the library opens it and writes, whatever the sidecar holds.
    OpensAndWrites(s.File("app.db"));
  };
  int syncs = 0;
  const int crashes = CrashAtEverySyncPoint(w, &syncs);
  std::printf("%s/%s: %d sync points, %d power losses, %d acknowledged writes, %d lost (in %d "
              "runs)\n",
              c.journal, c.sync, syncs, crashes, acknowledged, lost, lost_runs);
}

// The same through a stock SQLite client with the extension loaded: the
// extension changes no sync, so each level keeps what SQLite's level keeps
// (docs/extension.md's durability table), including rollback-journal
// FULL's lost last commits, which EXTRA avoids.
class PowerLossExtensionTest : public ::testing::TestWithParam<WritesCase> {};

TEST_P(PowerLossExtensionTest, EverySyncPointKeepsWhatTheClientsLevelPromises) {
  const WritesCase c = GetParam();
  int acknowledged = 0;
  int lost_runs = 0;
  int lost = 0;
  Workload w;
  w.setup = [&](const Scratch& s) { CreateTable(s.File("app.db"), c.journal); };
  w.args = [&](const Scratch& s) {
    return std::vector<std::string>{"ext-writes", s.File("app.db"), SQLSTEWARD_EXTENSION,
                                    c.journal, c.sync, std::to_string(kThreads),
                                    std::to_string(kEach)};
  };
  w.check = [&](const Scratch& s, const HelperRun& run) {
    for (const std::string& line : run.lines) acknowledged += line.rfind("ack ", 0) == 0;
    const int lost_here = CheckWrites(s.File("app.db"), run, c);
    lost += lost_here;
    lost_runs += lost_here > 0;
  };
  // Each client process opens 4 connections: fewer points than the
  // library's runs, spread over the whole workload.
  w.max_points = 24;
  int syncs = 0;
  const int crashes = CrashAtEverySyncPoint(w, &syncs);
  std::printf("extension %s/%s: %d sync points, %d power losses, %d acknowledged writes, %d lost "
              "(in %d runs)\n",
              c.journal, c.sync, syncs, crashes, acknowledged, lost, lost_runs);
}

// The model bites: with no sync at all, power loss after the last
// acknowledged write takes every write with it (the table was created, and
// synced, before the workload).
TEST(PowerLossModelTest, WithoutSyncsEveryAcknowledgedWriteIsLost) {
  TempDir dir;
  Scratch s(dir, 1);
  CreateTable(s.File("app.db"), "wal");
  HelperRun run = RunHelper({"writes", s.File("app.db"), "wal", "off", std::to_string(kThreads),
                             std::to_string(kEach), s.aside, "drop-all", "1", "1"});
  ASSERT_EQ(run.exit, 128 + SIGKILL);
  int acked = 0;
  for (const std::string& line : run.lines) acked += line.rfind("ack ", 0) == 0;
  EXPECT_EQ(acked, kThreads * kEach);
  RawDb raw(s.File("app.db"));
  EXPECT_EQ(raw.One("SELECT count(*) FROM t"), "0");
  EXPECT_EQ(raw.One("PRAGMA integrity_check"), "ok");
}

void PrintTo(const WritesCase& c, std::ostream* os) { *os << c.journal << "/" << c.sync; }

INSTANTIATE_TEST_SUITE_P(
    Levels, PowerLossWritesTest,
    ::testing::Values(WritesCase{"wal", "full", true}, WritesCase{"wal", "normal", false},
                      WritesCase{"delete", "full", true}, WritesCase{"delete", "extra", true},
                      WritesCase{"delete", "normal", false}),
    [](const ::testing::TestParamInfo<WritesCase>& param) {
      return std::string(param.param.journal) + "_" + param.param.sync;
    });

INSTANTIATE_TEST_SUITE_P(
    Levels, PowerLossExtensionTest,
    ::testing::Values(WritesCase{"wal", "full", true}, WritesCase{"wal", "normal", false},
                      WritesCase{"delete", "full", false}, WritesCase{"delete", "extra", true}),
    [](const ::testing::TestParamInfo<WritesCase>& param) {
      return std::string(param.param.journal) + "_" + param.param.sync;
    });

// ---------------------------------------------------------------------------
// A migration run: all or nothing, and durable once reported.

const std::string kMigrations = std::string(SQLSTEWARD_FIXTURES) + "/migrations/good";

TEST(PowerLossTest, MigrationIsBeforeOrAfterNeverBetween) {
  int before = 0;
  int after = 0;
  Workload w;
  w.setup = [](const Scratch& s) {
    auto db = Database::Open(s.File("app.db"));
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    SQLSTEWARD_ASSERT_OK((*db)->Write(
        [](Transaction& tx) { return tx.ExecScript("CREATE TABLE seed(x); INSERT INTO seed VALUES(1)"); }));
    SQLSTEWARD_ASSERT_OK((*db)->Close());
  };
  w.args = [](const Scratch& s) {
    return std::vector<std::string>{"migrate", s.File("app.db"), kMigrations};
  };
  w.check = [&](const Scratch& s, const HelperRun& run) {
    const bool reported = !run.lines.empty() && run.lines[0] == "migrated 3";
    RawDb raw(s.File("app.db"));
    EXPECT_EQ(raw.One("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(raw.One("SELECT count(*) FROM seed"), "1");
    // The ledger and the schema move together.
    const std::string ledger =
        raw.One("SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'") == "0"
            ? "0"
            : raw.One("SELECT count(*) FROM schema_migrations");
    const std::string tables = raw.One(
        "SELECT count(*) FROM sqlite_schema WHERE name IN ('users', 'orders', 'orders_count')");
    if (ledger == "0") {
      EXPECT_EQ(tables, "0") << "schema changed without its ledger";
      EXPECT_FALSE(reported) << "a reported migration was lost";
      ++before;
    } else {
      EXPECT_EQ(ledger, "3");
      EXPECT_EQ(tables, "3") << "ledger without its schema";
      ++after;
    }
    // And it migrates (or finds it done) afterwards.
    auto db = Database::Open(s.File("app.db"));
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    auto migrations = LoadMigrations(kMigrations);
    ASSERT_TRUE(migrations.has_value()) << testing::Describe(migrations);
    auto report = Migrate(**db, *migrations);
    ASSERT_TRUE(report.has_value()) << testing::Describe(report);
    EXPECT_EQ(report->to_version, 3);
    SQLSTEWARD_EXPECT_OK((*db)->Close());
  };
  int syncs = 0;
  const int crashes = CrashAtEverySyncPoint(w, &syncs);
  EXPECT_GT(before, 0);
  EXPECT_GT(after, 0);
  std::printf("migration: %d sync points, %d power losses: %d before, %d after\n", syncs, crashes,
              before, after);
}

// ---------------------------------------------------------------------------
// Snapshot, publish and retention; restore.

// t(v) with `rows` rows of 2 KiB each: a file of many pages.
void SeedRows(const std::string& db_path, int rows, int first_value) {
  auto db = Database::Open(db_path);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  SQLSTEWARD_ASSERT_OK((*db)->Write([&](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(
        tx.ExecScript("CREATE TABLE IF NOT EXISTS t(v INTEGER, pad BLOB); DELETE FROM t"));
    for (int i = 0; i < rows; ++i) {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO t VALUES(?, randomblob(2048))", first_value + i));
    }
    return Status();
  }));
  SQLSTEWARD_ASSERT_OK((*db)->Close());
}

// Which content the database holds: "<rows>:<sum of v>".
std::string Fingerprint(RawDb& raw) {
  return raw.One("SELECT count(*) || ':' || total(v) FROM t");
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> Finals(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name[0] != '.' && EndsWith(name, suffix)) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Every snapshot under a final name verifies; the next snapshot succeeds
// and leaves no temporary and no manifest without its snapshot.
void CheckSnapshotDirectory(const std::string& db_path, const std::string& dest) {
  for (const std::string& snap : Finals(dest, ".db")) {
    SCOPED_TRACE(snap);
    SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap));
  }
  auto next = Snapshot(db_path, dest);
  ASSERT_TRUE(next.has_value()) << testing::Describe(next);
  SQLSTEWARD_EXPECT_OK(VerifySnapshot(next->path));
  for (const auto& entry : std::filesystem::directory_iterator(dest)) {
    const std::string name = entry.path().filename().string();
    EXPECT_NE(name[0], '.') << name << ": a temporary outlived the next snapshot";
    if (EndsWith(name, ".manifest.json")) {
      const std::string db = entry.path().string();
      EXPECT_TRUE(std::filesystem::exists(db.substr(0, db.size() - 14) + ".db"))
          << name << ": a manifest without its snapshot outlived the next snapshot";
    }
  }
}

TEST(PowerLossTest, SnapshotIsCompleteOrAbsentAndReportedOnesSurvive) {
  int published = 0;
  Workload w;
  w.setup = [](const Scratch& s) {
    SeedRows(s.File("app.db"), 60, 0);
    // Two older snapshots: retention (keep 2) removes the older one.
    for (int i = 0; i < 2; ++i) {
      auto old = Snapshot(s.File("app.db"), s.File("snaps"));
      ASSERT_TRUE(old.has_value()) << testing::Describe(old);
    }
  };
  w.args = [](const Scratch& s) {
    return std::vector<std::string>{"snapshot", s.File("app.db"), s.File("snaps"), "2"};
  };
  w.check = [&](const Scratch& s, const HelperRun& run) {
    RawDb raw(s.File("app.db"));
    EXPECT_EQ(raw.One("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(Fingerprint(raw), "60:1770.0");
    const std::vector<std::string> snaps = Finals(s.File("snaps"), ".db");
    EXPECT_GE(snaps.size(), 2u) << "retention removed a snapshot it keeps";
    if (!run.lines.empty() && run.lines[0].rfind("ok ", 0) == 0) {
      const std::string path = run.lines[0].substr(3);
      EXPECT_TRUE(std::find(snaps.begin(), snaps.end(), path) != snaps.end())
          << path << ": a reported snapshot was lost";
      ++published;
    }
    CheckSnapshotDirectory(s.File("app.db"), s.File("snaps"));
  };
  int syncs = 0;
  const int crashes = CrashAtEverySyncPoint(w, &syncs);
  EXPECT_GT(published, 0);
  std::printf("snapshot: %d sync points, %d power losses, %d after it was reported\n", syncs,
              crashes, published);
}

TEST(PowerLossTest, RestoreIsOldOrNewContentAndReportedOnesSurvive) {
  int old_content = 0;
  int new_content = 0;
  Workload w;
  w.setup = [](const Scratch& s) {
    // The snapshot holds 40 rows; the live database, 70 others.
    SeedRows(s.File("app.db"), 40, 1000);
    auto snap = Snapshot(s.File("app.db"), s.File("snaps"));
    ASSERT_TRUE(snap.has_value()) << testing::Describe(snap);
    std::filesystem::rename(snap->path, s.File("snaps/source.db"));
    std::filesystem::rename(snap->path.substr(0, snap->path.size() - 3) + ".manifest.json",
                            s.File("snaps/source.manifest.json"));
    SeedRows(s.File("app.db"), 70, 0);
  };
  w.args = [](const Scratch& s) {
    return std::vector<std::string>{"restore", s.File("snaps/source.db"), s.File("app.db")};
  };
  w.check = [&](const Scratch& s, const HelperRun& run) {
    const bool reported = !run.lines.empty() && run.lines[0] == "ok";
    {
      RawDb raw(s.File("app.db"));
      EXPECT_EQ(raw.One("PRAGMA integrity_check"), "ok");
      const std::string content = Fingerprint(raw);
      if (content == "70:2415.0") {
        EXPECT_FALSE(reported) << "a reported restore was rolled back";
        ++old_content;
      } else {
        EXPECT_EQ(content, "40:40780.0") << "neither the old content nor the snapshot's";
        ++new_content;
      }
    }
    for (const std::string& snap : Finals(s.File("snaps"), ".db")) {
      SCOPED_TRACE(snap);
    SQLSTEWARD_EXPECT_OK(VerifySnapshot(snap));
    }
    auto again = Restore(s.File("snaps/source.db"), s.File("app.db"));
    ASSERT_TRUE(again.has_value()) << testing::Describe(again);
    RawDb raw(s.File("app.db"));
    EXPECT_EQ(Fingerprint(raw), "40:40780.0");
  };
  int syncs = 0;
  const int crashes = CrashAtEverySyncPoint(w, &syncs);
  EXPECT_GT(old_content, 0);
  EXPECT_GT(new_content, 0);
  std::printf("restore: %d sync points, %d power losses: %d old content, %d new\n", syncs, crashes,
              old_content, new_content);
}

// ---------------------------------------------------------------------------
// A handover: an exclusive owner writing, a successor taking over.

TEST(PowerLossTest, HandoverKeepsEveryAcknowledgedWriteOfBothSides) {
  int acknowledged = 0;
  Workload w;
  w.setup = [](const Scratch& s) { CreateTable(s.File("app.db"), "wal"); };
  w.args = [](const Scratch& s) { return std::vector<std::string>{"handover", s.File("app.db")}; };
  w.check = [&](const Scratch& s, const HelperRun& run) {
    std::set<long long> acked;
    for (const std::string& line : run.lines) {
      long long id;
      if (std::sscanf(line.c_str(), "ack %lld", &id) == 1) acked.insert(id);
    }
    acknowledged += static_cast<int>(acked.size());
    {
      RawDb raw(s.File("app.db"));
      EXPECT_EQ(raw.One("PRAGMA integrity_check"), "ok");
      std::set<long long> present;
      for (const auto& row : raw.Rows("SELECT id FROM t")) present.insert(std::stoll(row[0]));
      for (long long id : acked) EXPECT_EQ(present.count(id), 1u) << id << " acknowledged, lost";
    }
    // Nothing of the dead owners holds the database: a shared open writes.
    OpensAndWrites(s.File("app.db"));
  };
  int syncs = 0;
  const int crashes = CrashAtEverySyncPoint(w, &syncs);
  std::printf("handover: %d sync points, %d power losses, %d acknowledged writes\n", syncs, crashes,
              acknowledged);
}

}  // namespace
}  // namespace sqlsteward
