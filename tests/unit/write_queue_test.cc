// Group-committed writes: isolation of failing jobs, transaction control,
// deadlines, foreign lock holders, checkpoints.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>

#include "sqlsteward/database.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::StatusIs;
using testing::TempDir;
using ::testing::HasSubstr;

// A one-shot gate: threads Wait() until Open().
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class WriteQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = tmp_.File("w.db");
    auto db = Database::Open(path_, options_);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    db_ = std::move(db).value();
    SQLSTEWARD_ASSERT_OK(db_->Write([](Transaction& tx) {
      return tx.ExecScript("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)");
    }));
  }

  std::int64_t Count() {
    std::int64_t n = -1;
    SQLSTEWARD_EXPECT_OK(db_->Read([&](ReadTransaction& tx) -> Status {
      SQLSTEWARD_ASSIGN_OR_RETURN(auto c, tx.QueryInt64("SELECT count(*) FROM t"));
      n = c.value_or(-1);
      return Status();
    }));
    return n;
  }

  TempDir tmp_;
  Options options_;
  std::string path_;
  std::unique_ptr<Database> db_;
};

TEST_F(WriteQueueTest, WriteIsVisibleToReadsAfterItReturns) {
  SQLSTEWARD_ASSERT_OK(
      db_->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES(?)", "a"); }));
  EXPECT_EQ(Count(), 1);
  EXPECT_EQ(testing::CountRows(path_, "t"), 1);
}

// The first job holds the batch open until every other job is queued, so all
// of them run in one batch; every fourth fails and must be rolled back alone.
TEST_F(WriteQueueTest, FailingJobsInOneBatchAreRolledBackAlone) {
  constexpr int kJobs = 40;
  Options roomy;  // No batch cut by time, however slow the machine.
  roomy.max_batch_duration = std::chrono::seconds(60);
  db_.reset();
  auto reopened = Database::Open(path_, roomy);
  ASSERT_TRUE(reopened.has_value()) << testing::Describe(reopened);
  db_ = std::move(reopened).value();
  Gate all_queued;
  auto first = db_->WriteAsync([&](Transaction& tx) {
    all_queued.Wait();
    return tx.Exec("INSERT INTO t(v) VALUES('first')");
  });
  std::vector<std::future<Status>> results;
  for (int i = 0; i < kJobs; ++i) {
    results.push_back(db_->WriteAsync([i](Transaction& tx) -> Status {
      SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t(v) VALUES(?)", "job" + std::to_string(i)));
      if (i % 4 == 0) return Status(StatusCode::kFailedPrecondition, "job " + std::to_string(i));
      if (i % 4 == 1) return tx.Exec("INSERT INTO t(v) VALUES('first')");  // UNIQUE violation.
      return Status();
    }));
  }
  all_queued.Open();
  SQLSTEWARD_ASSERT_OK(first.get());
  for (int i = 0; i < kJobs; ++i) {
    Status st = results[static_cast<std::size_t>(i)].get();
    if (i % 4 == 0) {
      EXPECT_THAT(st, StatusIs(StatusCode::kFailedPrecondition));
      EXPECT_EQ(st.message(), "job " + std::to_string(i));
    } else if (i % 4 == 1) {
      EXPECT_THAT(st, StatusIs(StatusCode::kConstraint));
    } else {
      SQLSTEWARD_EXPECT_OK(st);
    }
  }
  EXPECT_EQ(Count(), 1 + kJobs / 2);
  SQLSTEWARD_ASSERT_OK(db_->Read([](ReadTransaction& tx) -> Status {
    // Rows of failed jobs are gone, including the ones they inserted first.
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t WHERE v = 'job0' OR v = 'job1'"), 0);
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t WHERE v = 'job2'"), 1);
    return Status();
  }));
  MetricsSnapshot m = db_->Metrics();
  EXPECT_EQ(m.batch_jobs.max, static_cast<std::uint64_t>(kJobs + 1)) << "one batch for all";
}

// The first job of a batch runs without a savepoint (write_queue.h): when
// it fails, ROLLBACK undoes it alone, and the jobs queued behind it, which
// that batch never ran, commit in the next one.
TEST_F(WriteQueueTest, AFailingFirstJobIsRolledBackAloneAndTheJobsBehindItCommit) {
  Gate all_queued;
  auto first = db_->WriteAsync([&](Transaction& tx) -> Status {
    all_queued.Wait();
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t(v) VALUES('first')"));
    return Status(StatusCode::kFailedPrecondition, "first fails");
  });
  std::vector<std::future<Status>> behind;
  for (int i = 0; i < 8; ++i) {
    behind.push_back(db_->WriteAsync([i](Transaction& tx) {
      return tx.Exec("INSERT INTO t(v) VALUES(?)", "behind" + std::to_string(i));
    }));
  }
  all_queued.Open();
  Status st = first.get();
  EXPECT_THAT(st, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(st.message(), "first fails");
  for (auto& f : behind) SQLSTEWARD_EXPECT_OK(f.get());
  EXPECT_EQ(Count(), 8);
  SQLSTEWARD_ASSERT_OK(db_->Read([](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t WHERE v = 'first'"), 0);
    return Status();
  }));
}

TEST_F(WriteQueueTest, ThrowingJobIsRolledBackAndReportedAsInternal) {
  Status st = db_->Write([](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t(v) VALUES('thrown')"));
    throw std::runtime_error("boom");
  });
  EXPECT_THAT(st, StatusIs(StatusCode::kInternal));
  EXPECT_THAT(std::string(st.message()), HasSubstr("boom"));
  EXPECT_EQ(Count(), 0);
  SQLSTEWARD_EXPECT_OK(
      db_->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES('after')"); }));
  EXPECT_EQ(Count(), 1);
}

TEST_F(WriteQueueTest, TransactionControlInsideAJobIsRefused) {
  for (const char* sql : {"COMMIT", "BEGIN", "ROLLBACK", "PRAGMA journal_mode=DELETE",
                          "RELEASE sqlsteward_job", "PRAGMA wal_checkpoint"}) {
    Status st = db_->Write([&](Transaction& tx) { return tx.Exec(sql); });
    EXPECT_THAT(st, StatusIs(StatusCode::kInvalidArgument)) << sql;
  }
  SQLSTEWARD_EXPECT_OK(db_->Write([](Transaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryText("PRAGMA journal_mode"), "wal");
    return Status();
  }));
}

// One statement policy (core/statement_policy.h) for jobs and migrations:
// a job may not change the shared writer connection's settings or attach
// another database; each refusal says which rule and what to do.
TEST_F(WriteQueueTest, ConnectionSettingsAndAttachInsideAJobAreRefusedWithTheRule) {
  struct Case {
    const char* sql;
    const char* why;
    const char* hint;
  };
  const Case cases[] = {
      {"PRAGMA cache_size = 10", "changes a setting of the writer connection", "Options"},
      {"PRAGMA main.recursive_triggers(1)", "changes a setting of the writer connection",
       "Options"},
      {"PRAGMA foreign_keys = OFF", "no effect inside a transaction", "defer_foreign_keys"},
      {"PRAGMA schema_version = 7", "changes a setting of the writer connection", "Options"},
      {"ATTACH DATABASE ':memory:' AS other", "attach cannot run inside",
       "its own sqlsteward handle"},
      {"BEGIN", "transaction control", "SAVEPOINT"},
  };
  for (const Case& c : cases) {
    Status st = db_->Write([&](Transaction& tx) { return tx.Exec(c.sql); });
    EXPECT_THAT(st, StatusIs(StatusCode::kInvalidArgument)) << c.sql;
    EXPECT_EQ(st.sqlite_code(), SQLITE_AUTH) << c.sql;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.why)) << c.sql;
    EXPECT_THAT(std::string(st.hint()), HasSubstr(c.hint)) << c.sql;
  }
  // Nothing changed on the shared connection, and it still writes.
  SQLSTEWARD_EXPECT_OK(db_->Write([](Transaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("PRAGMA cache_size"), -(Options().cache_size_kib));
    EXPECT_EQ(**tx.QueryInt64("PRAGMA recursive_triggers"), 0);
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM pragma_database_list"), 1);
    return tx.Exec("INSERT INTO t(v) VALUES('after')");
  }));
}

TEST_F(WriteQueueTest, PragmasActingWithinTheTransactionAreAllowedInAJob) {
  SQLSTEWARD_EXPECT_OK(db_->Write([](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript("PRAGMA defer_foreign_keys = ON"));
    SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript("PRAGMA application_id = 42"));
    SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript("PRAGMA user_version = 5"));
    EXPECT_EQ(**tx.QueryInt64("PRAGMA cache_size"), -(Options().cache_size_kib));
    return Status();
  }));
  SQLSTEWARD_EXPECT_OK(db_->Read([](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("PRAGMA application_id"), 42);
    EXPECT_EQ(**tx.QueryInt64("PRAGMA user_version"), 5);
    return Status();
  }));
}

TEST_F(WriteQueueTest, NestedSavepointsWork) {
  SQLSTEWARD_ASSERT_OK(db_->Write([](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t(v) VALUES('kept')"));
    SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript("SAVEPOINT inner_sp"));
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t(v) VALUES('undone')"));
    return tx.ExecScript("ROLLBACK TO inner_sp; RELEASE inner_sp");
  }));
  EXPECT_EQ(Count(), 1);
}

TEST_F(WriteQueueTest, PrepareRejectsTwoStatementsAndBadSql) {
  EXPECT_THAT(db_->Write([](Transaction& tx) { return tx.Exec("SELECT 1; SELECT 2"); }),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(db_->Write([](Transaction& tx) { return tx.Exec("SELEKT 1"); }),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(db_->Write([](Transaction& tx) { return tx.Exec("SELECT ?", 1, 2); }),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(WriteQueueTest, SameStatementPreparedTwiceInOneJob) {
  SQLSTEWARD_ASSERT_OK(db_->Write([](Transaction& tx) {
    return tx.ExecScript("INSERT INTO t(v) VALUES('x'), ('y')");
  }));
  SQLSTEWARD_ASSERT_OK(db_->Write([](Transaction& tx) -> Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement outer, tx.Prepare("SELECT v FROM t ORDER BY v"));
    int rows = 0;
    while (true) {
      SQLSTEWARD_ASSIGN_OR_RETURN(bool row, outer.Step());
      if (!row) break;
      // The cached statement is busy: this must get its own.
      SQLSTEWARD_ASSIGN_OR_RETURN(Statement inner, tx.Prepare("SELECT v FROM t ORDER BY v"));
      SQLSTEWARD_ASSIGN_OR_RETURN(bool inner_row, inner.Step());
      EXPECT_TRUE(inner_row);
      EXPECT_EQ(inner.ColumnText(0), "x");
      ++rows;
    }
    EXPECT_EQ(rows, 2);
    return Status();
  }));
}

TEST_F(WriteQueueTest, StatementDescribesItsParametersAndColumns) {
  SQLSTEWARD_ASSERT_OK(db_->Write([](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t(v) VALUES('x')"));
    SQLSTEWARD_ASSIGN_OR_RETURN(
        Statement stmt, tx.Prepare("SELECT id, v AS value, 2.5, NULL, x'00' FROM t WHERE id > ?1"));
    EXPECT_EQ(stmt.ParameterCount(), 1);
    EXPECT_EQ(stmt.ColumnCount(), 5);
    EXPECT_EQ(stmt.ColumnName(1), "value");
    SQLSTEWARD_ASSIGN_OR_RETURN(bool row, stmt.Bind(1, 0).Step());
    EXPECT_TRUE(row);
    EXPECT_EQ(stmt.ColumnType(0), Statement::Type::kInteger);
    EXPECT_EQ(stmt.ColumnType(1), Statement::Type::kText);
    EXPECT_EQ(stmt.ColumnType(2), Statement::Type::kReal);
    EXPECT_EQ(stmt.ColumnType(3), Statement::Type::kNull);
    EXPECT_EQ(stmt.ColumnType(4), Statement::Type::kBlob);
    return Status();
  }));
}

TEST_F(WriteQueueTest, ManyThreadsAllCommitExactlyOnce) {
  constexpr int kThreads = 16;
  constexpr int kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Status st = db_->Write([&](Transaction& tx) {
          return tx.Exec("INSERT INTO t(v) VALUES(?)", std::to_string(t) + ":" + std::to_string(i));
        });
        if (!st.ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count(), kThreads * kEach);
  MetricsSnapshot m = db_->Metrics();
  EXPECT_EQ(m.write_jobs, static_cast<std::uint64_t>(kThreads * kEach + 1));
  EXPECT_TRUE(m.errors_by_code.empty());
}

// A write queued behind a running batch whose deadline passes before the
// leader takes it: it returns kTimeout and never runs; the batch commits.
TEST_F(WriteQueueTest, QueuedWriteTimesOutWithoutRunningWhileABatchRuns) {
  Gate in_first;
  Gate release_first;
  std::thread first([&] {
    SQLSTEWARD_EXPECT_OK(db_->Write([&](Transaction& tx) {
      in_first.Open();
      release_first.Wait();
      return tx.Exec("INSERT INTO t(v) VALUES('first')");
    }));
  });
  in_first.Wait();  // The leader is inside the first job.
  WriteOptions quick;
  quick.timeout = std::chrono::milliseconds(100);
  bool ran = false;
  Status second = db_->Write(
      [&](Transaction& tx) {
        ran = true;
        return tx.Exec("INSERT INTO t(v) VALUES('second')");
      },
      quick);
  release_first.Open();
  first.join();
  EXPECT_THAT(second, StatusIs(StatusCode::kTimeout));
  EXPECT_THAT(std::string(second.message()), HasSubstr("write not started before its deadline"));
  EXPECT_FALSE(ran);
  EXPECT_EQ(Count(), 1);
  // The queue goes on: this thread's next write (after a timed-out one)
  // commits.
  SQLSTEWARD_EXPECT_OK(
      db_->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES('third')"); }));
  EXPECT_EQ(Count(), 2);
}

TEST_F(WriteQueueTest, EachSynchronousLevelIsApplied) {
  const std::pair<Synchronous, int> levels[] = {{Synchronous::kOff, 0},
                                                {Synchronous::kNormal, 1},
                                                {Synchronous::kFull, 2},
                                                {Synchronous::kExtra, 3}};
  for (const auto& [level, want] : levels) {
    const int expect = want;  // Lambdas cannot capture structured bindings in clang 14.
    Options options;
    options.synchronous = level;
    auto db = Database::Open(tmp_.File("sync" + std::to_string(expect) + ".db"), options);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    SQLSTEWARD_EXPECT_OK((*db)->Write([&](Transaction& tx) -> Status {
      EXPECT_EQ(**tx.QueryInt64("PRAGMA synchronous"), expect);
      return Status();
    }));
  }
}

// Another sqlsteward process holds the cross-process write lock: our write
// times out with kTimeout naming that process, and has had no effect.
TEST_F(WriteQueueTest, TimeoutNamesTheProcessHoldingTheWriteLock) {
  testing::Child holder({"hold-write-lock", path_});
  std::string line = holder.ReadLine();
  ASSERT_THAT(line, HasSubstr("holding "));
  std::string pid = line.substr(line.find(' ') + 1);
  WriteOptions quick;
  quick.timeout = std::chrono::milliseconds(200);
  Status st = db_->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES('no')"); },
                         quick);
  EXPECT_THAT(st, StatusIs(StatusCode::kTimeout));
  // Who holds it, where, and since when: enough to find the process.
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_THAT(std::string(st.message()), HasSubstr("held by pid " + pid + " on host " + host));
  EXPECT_THAT(std::string(st.message()),
              ::testing::ContainsRegex("since 20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:"));
  EXPECT_FALSE(st.hint().empty());
  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  EXPECT_EQ(holder.Wait(), 0);
  // The lock is free again and the timed-out write left nothing behind.
  SQLSTEWARD_EXPECT_OK(
      db_->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES('yes')"); }));
  EXPECT_EQ(Count(), 1);
}

// The sqlite3 shell, outside sqlsteward, holds SQLite's write lock in an
// open transaction. Our writer waits on SQLite's busy handler, then either
// times out with a typed error or succeeds once the shell commits.
TEST_F(WriteQueueTest, Sqlite3ShellHoldingTheWriteLock) {
  testing::Child shell("sqlite3", {path_});
  shell.Send(".timeout 5000\nBEGIN IMMEDIATE;\nINSERT INTO t(v) VALUES('shell');\n.print locked\n");
  ASSERT_EQ(shell.ReadLine(), "locked");

  WriteOptions quick;
  quick.timeout = std::chrono::milliseconds(300);
  Status st = db_->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES('a')"); },
                         quick);
  EXPECT_THAT(st, StatusIs(StatusCode::kTimeout));
  EXPECT_EQ(st.sqlite_code() & 0xff, SQLITE_BUSY);
  EXPECT_GT(db_->Metrics().sqlite_busy_handler_calls, 0u);

  // A write with room to wait succeeds after the shell commits. It starts
  // waiting before the shell is told to commit: the metrics show it waiting.
  auto pending = db_->WriteAsync(
      [](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES('b')"); });
  auto calls = db_->Metrics().sqlite_busy_handler_calls;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (db_->Metrics().sqlite_busy_handler_calls == calls &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GT(db_->Metrics().sqlite_busy_handler_calls, calls)
      << "the write never waited on the shell's lock";
  shell.Send("COMMIT;\n.print committed\n");
  EXPECT_EQ(shell.ReadLine(), "committed");
  SQLSTEWARD_EXPECT_OK(pending.get());
  shell.CloseStdin();
  EXPECT_EQ(shell.Wait(), 0);
  EXPECT_EQ(Count(), 2);  // 'shell' and 'b'.
  EXPECT_EQ(testing::IntegrityCheck(path_), "ok");
}

TEST_F(WriteQueueTest, CheckpointRunsWhenTheWalPassesItsThreshold) {
  Options options;
  options.checkpoint_wal_bytes = 64 << 10;
  auto db = Database::Open(tmp_.File("ckpt.db"), options);
  ASSERT_TRUE(db.has_value());
  SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE big(b BLOB)");
  }));
  for (int i = 0; i < 40; ++i) {
    SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
      return tx.Exec("INSERT INTO big(b) VALUES(zeroblob(8192))");
    }));
  }
  MetricsSnapshot m = (*db)->Metrics();
  EXPECT_GT(m.checkpoints, 0u);
  EXPECT_LT(m.wal_bytes, std::int64_t{64 << 10} + 16 * 4096);
  SQLSTEWARD_EXPECT_OK((*db)->Checkpoint());
  EXPECT_GT((*db)->Metrics().checkpoints, m.checkpoints);
}

// The bytes of the file at `path` ("" when it cannot be read).
std::string Contents(const std::string& path) {
  std::string out;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

// Checkpoints run only under the cross-process write lock, and no
// connection checkpoints on close. The WAL holds committed frames past the
// threshold (written by a stock connection that never checkpoints) while
// another process holds the write lock: Checkpoint() times out naming it,
// Close() gives up its final checkpoint, and the database file is not
// touched by either; once the lock is free a checkpoint moves the frames.
TEST_F(WriteQueueTest, NoCheckpointWithoutTheWriteLockAndNoneOnClose) {
  const std::string path = tmp_.File("held.db");
  Options options;
  options.checkpoint_wal_bytes = 64 << 10;
  options.write_timeout = std::chrono::milliseconds(300);
  auto db = Database::Open(path, options);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE big(b BLOB)");
  }));
  SQLSTEWARD_ASSERT_OK((*db)->Checkpoint());

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "PRAGMA wal_autocheckpoint=0;"
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                         "WHERE i < 32) INSERT INTO big SELECT zeroblob(8192) FROM n",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  const std::string db_before = Contents(path);
  const std::string wal_before = Contents(path + "-wal");
  ASSERT_GT(wal_before.size(), std::size_t{64 << 10}) << "the WAL is not past the threshold";

  testing::Child holder({"hold-write-lock", path});
  std::string line = holder.ReadLine();
  ASSERT_THAT(line, HasSubstr("holding "));
  const std::string pid = line.substr(line.find(' ') + 1);
  const auto checkpoints = (*db)->Metrics().checkpoints;

  Status st = (*db)->Checkpoint();
  EXPECT_THAT(st, StatusIs(StatusCode::kTimeout));
  EXPECT_THAT(std::string(st.message()), HasSubstr("pid " + pid));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  EXPECT_EQ((*db)->Metrics().checkpoints, checkpoints);
  EXPECT_TRUE(Contents(path) == db_before) << "the database file changed without the lock";
  EXPECT_TRUE(Contents(path + "-wal") == wal_before) << "the WAL was checkpointed or reset";

  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  EXPECT_EQ(holder.Wait(), 0);
  auto again = Database::Open(path, options);
  ASSERT_TRUE(again.has_value()) << testing::Describe(again);
  SQLSTEWARD_EXPECT_OK((*again)->Checkpoint());
  EXPECT_FALSE(Contents(path) == db_before) << "the checkpoint under the lock moved nothing";
  EXPECT_EQ(testing::CountRows(path, "big"), 32);
}

TEST_F(WriteQueueTest, CloseFinishesQueuedAsyncWrites) {
  Gate go;
  auto first = db_->WriteAsync([&](Transaction& tx) {
    go.Wait();
    return tx.Exec("INSERT INTO t(v) VALUES('0')");
  });
  std::vector<std::future<Status>> rest;
  for (int i = 1; i < 20; ++i) {
    rest.push_back(db_->WriteAsync([i](Transaction& tx) {
      return tx.Exec("INSERT INTO t(v) VALUES(?)", std::to_string(i));
    }));
  }
  std::thread closer([&] { SQLSTEWARD_EXPECT_OK(db_->Close()); });
  go.Open();
  closer.join();
  SQLSTEWARD_EXPECT_OK(first.get());
  for (auto& f : rest) SQLSTEWARD_EXPECT_OK(f.get());
  EXPECT_EQ(testing::CountRows(path_, "t"), 20);
}

}  // namespace
}  // namespace sqlsteward
