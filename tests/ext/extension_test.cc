// The loadable extension (src/ext) inside a real SQLite: this test binary
// links the system's libsqlite3 and loads build/.../ext/sqlsteward.so as a
// client would, through a throwaway ':memory:' connection. Every test runs
// in its own process (gtest_discover_tests), so each loads it afresh.
// Library processes (the test helper) stand on the other side of the
// protocol; the real clients (Python, Node, the shell) are in
// tests/clients.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/testing.h"

namespace sqlsteward::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

void LoadExtension() {
  sqlite3* memory = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &memory), SQLITE_OK);
  ASSERT_EQ(sqlite3_enable_load_extension(memory, 1), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_load_extension(memory, SQLSTEWARD_EXTENSION, nullptr, &error);
  ASSERT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_close(memory);
}

// A connection opened after the load; closed at scope exit.
class Conn {
 public:
  explicit Conn(const std::string& path, int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
    rc_ = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc_ != SQLITE_OK) error_ = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc_);
  }
  ~Conn() { sqlite3_close(db_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  int rc() const { return rc_; }
  const std::string& error() const { return error_; }
  sqlite3* db() { return db_; }

  // Runs `sql`; returns SQLite's code, the first column of the last row in *out.
  int Exec(const std::string& sql, std::string* out = nullptr) {
    std::string last;
    char* err = nullptr;
    const int rc = sqlite3_exec(
        db_, sql.c_str(),
        [](void* o, int, char** values, char**) {
          *static_cast<std::string*>(o) = values[0] != nullptr ? values[0] : "";
          return 0;
        },
        &last, &err);
    if (err != nullptr) {
      message_ = err;
      sqlite3_free(err);
    }
    if (out != nullptr) *out = last;
    return rc;
  }
  std::string Value(const std::string& sql) {
    std::string out;
    EXPECT_EQ(Exec(sql, &out), SQLITE_OK) << sql << ": " << message_;
    return out;
  }
  nlohmann::json Status() { return nlohmann::json::parse(Value("SELECT sqlsteward_status()")); }
  const std::string& message() const { return message_; }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_OK;
  std::string error_;
  std::string message_;
};

// A fixture written through SQLite's own "unix" VFS, whether or not the
// extension is loaded in this process yet.
void Seed(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "unix"),
            SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(ExtensionTest, LoadingMakesItTheDefaultVfsAndEveryLaterOpenIsProtected) {
  TempDir dir;
  LoadExtension();
  ASSERT_STREQ(sqlite3_vfs_find(nullptr)->zName, "sqlsteward");
  LoadExtension();  // A second load changes nothing.
  ASSERT_STREQ(sqlite3_vfs_find(nullptr)->zName, "sqlsteward");

  const std::string path = dir.File("app.db");
  Conn c(path);
  ASSERT_EQ(c.rc(), SQLITE_OK) << c.error();
  EXPECT_EQ(c.Value("PRAGMA journal_mode=WAL"), "wal");
  EXPECT_EQ(c.Exec("CREATE TABLE t(x); INSERT INTO t VALUES(1)"), SQLITE_OK) << c.message();
  EXPECT_EQ(c.Value("SELECT sqlsteward_version()"),
            std::string("sqlsteward ") + SQLSTEWARD_VERSION_TEXT + " (SQLite " +
                sqlite3_libversion() + ")");
  nlohmann::json st = c.Status();
  EXPECT_EQ(st["protected"], true);
  EXPECT_EQ(st["journal_mode"], "wal");
  EXPECT_EQ(st["wal_allowed"], true);
  EXPECT_EQ(st["ownership"], "shared");
  ASSERT_EQ(st["instances"].size(), 1u) << st.dump();
  EXPECT_EQ(st["instances"][0]["pid"], ::getpid());
  EXPECT_GE(st["counters"]["write_locks"].get<int>(), 1) << st.dump();
  for (const char* suffix : {"", "-wal", "-shm", "-steward"}) {
    EXPECT_EQ(ModeOf(path + suffix), 0600u) << path + suffix;
  }
  // The VFS names itself over the one below it.
  std::string vfsname;
  char* name = nullptr;
  ASSERT_EQ(sqlite3_file_control(c.db(), "main", SQLITE_FCNTL_VFSNAME, &name), SQLITE_OK);
  vfsname = name;
  sqlite3_free(name);
  EXPECT_EQ(vfsname.rfind("sqlsteward/", 0), 0u) << vfsname;
}

TEST(ExtensionTest, ADatabaseInMemoryIsNotProtectedAndSaysSo) {
  LoadExtension();
  Conn c(":memory:");
  ASSERT_EQ(c.rc(), SQLITE_OK);
  nlohmann::json st = c.Status();
  EXPECT_EQ(st["protected"], false);
  EXPECT_NE(st["why_not"].get<std::string>().find("not opened through"), std::string::npos);
}

TEST(ExtensionTest, AReadOnlyOpenCreatesAndRegistersNothing) {
  TempDir dir;
  const std::string path = dir.File("ro.db");
  Seed(path, "CREATE TABLE t(x); INSERT INTO t VALUES(7)");
  LoadExtension();
  Conn c(path, SQLITE_OPEN_READONLY);
  ASSERT_EQ(c.rc(), SQLITE_OK) << c.error();
  EXPECT_EQ(c.Value("SELECT x FROM t"), "7");
  EXPECT_EQ(c.Status()["read_only"], true);
  EXPECT_FALSE(std::filesystem::exists(path + "-steward"));
}

TEST(ExtensionTest, BesideAnExclusiveOwnerTheOpenFailsNamingItAndWhatToDo) {
  TempDir dir;
  const std::string path = dir.File("owned.db");
  Child owner({"open-exclusive", path});
  const std::string line = owner.ReadLine();
  ASSERT_EQ(line, "open " + std::to_string(owner.pid()));
  LoadExtension();
  Conn c(path);
  ASSERT_EQ(c.rc(), SQLITE_CANTOPEN);
  EXPECT_THAT(c.error(), ::testing::HasSubstr("sqlsteward refused to open " + path));
  EXPECT_THAT(c.error(), ::testing::HasSubstr("pid " + std::to_string(owner.pid())));
  EXPECT_THAT(c.error(), ::testing::HasSubstr("exclusive"));
  EXPECT_THAT(c.error(), ::testing::HasSubstr("SQLSTEWARD_TAKE_OVER=1"));
  owner.CloseStdin();
  EXPECT_EQ(owner.Wait(), 0);
  Conn after(path);
  EXPECT_EQ(after.rc(), SQLITE_OK) << after.error();
}

TEST(ExtensionTest, AUriParameterSetsOwnershipAndWinsOverTheEnvironment) {
  TempDir dir;
  const std::string path = dir.File("uri.db");
  LoadExtension();
  ASSERT_EQ(::setenv("SQLSTEWARD_OWNERSHIP", "shared", 1), 0);
  Conn c("file:" + path + "?sqlsteward_ownership=exclusive",
         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI);
  ::unsetenv("SQLSTEWARD_OWNERSHIP");
  ASSERT_EQ(c.rc(), SQLITE_OK) << c.error();
  EXPECT_EQ(c.Status()["ownership"], "exclusive");
  // A library process is refused beside it.
  Child other({"try-open", path});
  ASSERT_EQ(other.ReadLine(), "barrier");
  other.Send("g");
  EXPECT_EQ(other.ReadLine(), "refused unavailable");
  other.CloseStdin();
  EXPECT_EQ(other.Wait(), 0);
}

TEST(ExtensionTest, ABadSettingRefusesTheOpenNamingTheVariable) {
  TempDir dir;
  LoadExtension();
  ASSERT_EQ(::setenv("SQLSTEWARD_OWNERSHIP", "solo", 1), 0);
  Conn c(dir.File("a.db"));
  ::unsetenv("SQLSTEWARD_OWNERSHIP");
  ASSERT_EQ(c.rc(), SQLITE_CANTOPEN);
  EXPECT_THAT(c.error(), ::testing::HasSubstr("SQLSTEWARD_OWNERSHIP=\"solo\" is not"));
  EXPECT_FALSE(std::filesystem::exists(dir.File("a.db-steward")));
}

// The library's writer holds the cross-process write lock; an extension
// connection waits for it as long as its busy timeout says, in the kernel
// queue, and gets SQLITE_BUSY after that.
class WriteLockTest : public ::testing::TestWithParam<const char*> {};

TEST_P(WriteLockTest, AWriterWaitsItsBusyTimeoutForTheLibrarysHolderThenGetsBusy) {
  TempDir dir;
  const std::string path = dir.File("w.db");
  LoadExtension();
  Conn c(path);
  ASSERT_EQ(c.rc(), SQLITE_OK) << c.error();
  ASSERT_EQ(c.Value(std::string("PRAGMA journal_mode=") + GetParam()), GetParam());
  ASSERT_EQ(c.Exec("CREATE TABLE t(x)"), SQLITE_OK) << c.message();

  Child holder({"hold-write-lock", path});
  ASSERT_EQ(holder.ReadLine(), "holding " + std::to_string(holder.pid()));
  sqlite3_busy_timeout(c.db(), 0);
  auto start = Clock::now();
  EXPECT_EQ(c.Exec("BEGIN IMMEDIATE"), SQLITE_BUSY);
  EXPECT_LT(Clock::now() - start, milliseconds(100)) << "no busy timeout: BUSY at once";
  sqlite3_busy_timeout(c.db(), 300);
  start = Clock::now();
  EXPECT_EQ(c.Exec("BEGIN IMMEDIATE"), SQLITE_BUSY);
  EXPECT_GE(Clock::now() - start, milliseconds(250)) << "waited its busy timeout";
  EXPECT_GE(c.Status()["counters"]["busy"].get<int>(), 2);

  // Queued with a long timeout, it gets the lock once the holder lets go.
  sqlite3_busy_timeout(c.db(), 60'000);
  int rc = -1;
  std::thread writer([&] { rc = c.Exec("BEGIN IMMEDIATE; INSERT INTO t VALUES(1); COMMIT"); });
  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  writer.join();
  EXPECT_EQ(rc, SQLITE_OK) << c.message();
  EXPECT_EQ(holder.Wait(), 0);
  EXPECT_EQ(c.Value("SELECT count(*) FROM t"), "1");
}

INSTANTIATE_TEST_SUITE_P(JournalModes, WriteLockTest, ::testing::Values("wal", "delete"));

// Connections of one process conflict too (each has its own open file
// description of the sidecar): 8 threads, each with its own connection,
// 1-row BEGIN IMMEDIATE transactions with a 5 s busy timeout: no
// SQLITE_BUSY, every row there.
TEST(ExtensionTest, ThreadsWithTheirOwnConnectionsQueueWithoutBusy) {
  TempDir dir;
  const std::string path = dir.File("threads.db");
  LoadExtension();
  {
    Conn setup(path);
    ASSERT_EQ(setup.Exec("PRAGMA journal_mode=WAL; CREATE TABLE t(thread, i)"), SQLITE_OK);
  }
  constexpr int kThreads = 8;
  constexpr int kRows = 100;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Conn c(path);
      if (c.rc() != SQLITE_OK) {
        failures[static_cast<std::size_t>(t)] = kRows;
        return;
      }
      sqlite3_busy_timeout(c.db(), 5000);
      for (int i = 0; i < kRows; ++i) {
        const std::string sql = "BEGIN IMMEDIATE; INSERT INTO t VALUES(" + std::to_string(t) +
                                ", " + std::to_string(i) + "); COMMIT";
        if (c.Exec(sql) != SQLITE_OK) {
          ++failures[static_cast<std::size_t>(t)];
          c.Exec("ROLLBACK");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[static_cast<std::size_t>(t)], 0) << t;
  Conn check(path);
  EXPECT_EQ(check.Value("SELECT count(*) FROM t"), std::to_string(kThreads * kRows));
  EXPECT_EQ(check.Status()["counters"]["busy"].get<int>() > 0,
            check.Status()["counters"]["write_lock_waits"].get<int>() > 0);
}

TEST(ExtensionTest, ACheckpointWaitsForTheWriteLockAndIsSkippedWhenItsWaitRunsOut) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  LoadExtension();
  ASSERT_EQ(::setenv("SQLSTEWARD_CHECKPOINT_WAIT_MS", "100", 1), 0);
  Conn c(path);
  ::unsetenv("SQLSTEWARD_CHECKPOINT_WAIT_MS");
  ASSERT_EQ(c.rc(), SQLITE_OK) << c.error();
  ASSERT_EQ(c.Value("PRAGMA journal_mode=WAL"), "wal");
  ASSERT_EQ(c.Exec("CREATE TABLE t(x); INSERT INTO t VALUES(1)"), SQLITE_OK);
  Child holder({"hold-write-lock", path});
  ASSERT_EQ(holder.ReadLine(), "holding " + std::to_string(holder.pid()));
  // wal_checkpoint's first column is 1 when SQLITE_BUSY stopped it.
  std::string busy;
  ASSERT_EQ(c.Exec("PRAGMA wal_checkpoint(PASSIVE)", &busy), SQLITE_OK) << c.message();
  EXPECT_EQ(busy, "1");
  EXPECT_EQ(c.Status()["counters"]["checkpoints_skipped"], 1);
  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  EXPECT_EQ(holder.Wait(), 0);
  c.Exec("PRAGMA wal_checkpoint(PASSIVE)", &busy);
  EXPECT_EQ(busy, "0");
}

TEST(ExtensionTest, AfterAHandoverWritesFailReadOnlyAndNewOpensAreRefused) {
  TempDir dir;
  const std::string path = dir.File("h.db");
  LoadExtension();
  ASSERT_EQ(::setenv("SQLSTEWARD_OWNERSHIP", "exclusive", 1), 0);
  Conn c(path);
  ::unsetenv("SQLSTEWARD_OWNERSHIP");
  ASSERT_EQ(c.rc(), SQLITE_OK) << c.error();
  ASSERT_EQ(c.Exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES(1)"),
            SQLITE_OK);
  EXPECT_EQ(c.Status()["ownership"], "exclusive");

  Child successor({"take-over", path});
  ASSERT_EQ(successor.ReadLine(), "open " + std::to_string(successor.pid()));
  EXPECT_EQ(c.Exec("INSERT INTO t VALUES(2)"), SQLITE_READONLY);
  EXPECT_EQ(c.Status()["handed_over_to"], successor.pid());
  EXPECT_EQ(c.Value("SELECT count(*) FROM t"), "1") << "reads go on";
  Conn again(path);
  EXPECT_EQ(again.rc(), SQLITE_CANTOPEN);
  EXPECT_THAT(again.error(), ::testing::HasSubstr("handed over to pid " +
                                                  std::to_string(successor.pid())));
  successor.CloseStdin();
  EXPECT_EQ(successor.Wait(), 0);
}

// Two bindfs mounts of one directory: two lock domains, and FUSE shared
// memory that is not coherent.
class MountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"real", "a", "b"}) std::filesystem::create_directory(dir_.File(d));
    a_ = std::make_unique<BindfsMount>(dir_.File("real"), dir_.File("a"));
    if (!a_->error().empty()) GTEST_FAIL() << a_->error();
    b_ = std::make_unique<BindfsMount>(dir_.File("real"), dir_.File("b"));
    if (!b_->error().empty()) GTEST_FAIL() << b_->error();
  }
  void TearDown() override {
    b_.reset();
    a_.reset();
  }
  TempDir dir_;
  std::unique_ptr<BindfsMount> a_;
  std::unique_ptr<BindfsMount> b_;
};

TEST_F(MountsTest, WalIsRefusedReadBackAsTheRollbackJournalItKeeps) {
  LoadExtension();
  Conn c(dir_.File("a/x.db"));
  ASSERT_EQ(c.rc(), SQLITE_OK) << c.error();
  EXPECT_EQ(c.Value("PRAGMA journal_mode=WAL"), "delete");
  EXPECT_EQ(c.Value("PRAGMA journal_mode"), "delete");
  EXPECT_EQ(c.Status()["wal_allowed"], false);
  EXPECT_EQ(c.Exec("CREATE TABLE t(x); INSERT INTO t VALUES(1)"), SQLITE_OK) << c.message();
}

TEST_F(MountsTest, ADatabaseAlreadyInWalIsRefusedThroughAMountThatCannotShareMemory) {
  Seed(dir_.File("real/w.db"), "PRAGMA journal_mode=WAL; CREATE TABLE t(x)");
  LoadExtension();
  Conn c(dir_.File("a/w.db"));
  ASSERT_EQ(c.rc(), SQLITE_CANTOPEN);
  EXPECT_THAT(c.error(), ::testing::HasSubstr("is in WAL mode, which is unsafe here"));
}

TEST_F(MountsTest, TheSecondLockDomainIsRefusedNamingTheFirst) {
  Child first({"hold-write-lock", dir_.File("a/d.db")});
  ASSERT_EQ(first.ReadLine(), "holding " + std::to_string(first.pid()));
  LoadExtension();
  Conn c(dir_.File("b/d.db"));
  ASSERT_EQ(c.rc(), SQLITE_CANTOPEN);
  EXPECT_THAT(c.error(), ::testing::HasSubstr("pid " + std::to_string(first.pid())));
  EXPECT_THAT(c.error(), ::testing::HasSubstr("through another lock domain"));
  first.CloseStdin();
  EXPECT_EQ(first.ReadLine(), "released");
  EXPECT_EQ(first.Wait(), 0);
}

}  // namespace
}  // namespace sqlsteward::testing
