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
#include <cstdio>
#include <filesystem>
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

// Crash points 1 .. syncs + 1 (the last: after the workload's last step).
std::vector<int> CrashPoints(int syncs) {
  std::vector<int> points;
  for (int n = 1; n <= syncs + 1; ++n) points.push_back(n);
  return points;
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
  TempDir dir;
  auto args = [&](const Scratch& s, const std::string& mode, int crash) {
    return std::vector<std::string>{"writes", s.File("app.db"), c.journal, c.sync,
                                    std::to_string(kThreads), std::to_string(kEach), s.aside,
                                    mode, std::to_string(crash), std::to_string(crash)};
  };
  int syncs;
  {
    Scratch s(dir, 0);
    CreateTable(s.File("app.db"), c.journal);
    syncs = CountSyncPoints(args(s, "drop-all", 0));
  }
  int runs = 0;
  int lost_runs = 0;
  int acknowledged = 0;
  for (const std::string mode : {"drop-all", "random"}) {
    for (int point : CrashPoints(syncs)) {
      SCOPED_TRACE(mode + " crash point " + std::to_string(point));
      Scratch s(dir, point);
      CreateTable(s.File("app.db"), c.journal);
      HelperRun run = RunHelper(args(s, mode, point));
      ASSERT_EQ(run.exit, 128 + SIGKILL) << (run.lines.empty() ? "" : run.lines.back());
      for (const std::string& line : run.lines) acknowledged += line.rfind("ack ", 0) == 0;
      if (CheckWrites(s.File("app.db"), run, c) > 0) ++lost_runs;
      ++runs;
      // And the library opens it and writes, whatever the sidecar holds.
      auto db = Database::Open(s.File("app.db"));
      ASSERT_TRUE(db.has_value()) << testing::Describe(db);
      SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
        return tx.Exec("INSERT INTO t(id) VALUES(?)", 99 * kThreadIds);
      }));
      SQLSTEWARD_EXPECT_OK((*db)->Close());
    }
  }
  std::printf("%s/%s: %d sync points, %d power losses, %d acknowledged writes, %d runs lost some\n",
              c.journal, c.sync, syncs, runs, acknowledged, lost_runs);
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

}  // namespace
}  // namespace sqlsteward
