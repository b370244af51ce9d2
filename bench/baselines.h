// The baselines: what applications do with the plain sqlite3 C API.
//
// Every baseline is durable (journal_mode=WAL, synchronous=FULL, both read
// back) and uses prepared statements that it keeps for the whole run, so it
// pays no parsing cost per operation: the baselines are as fast as the naive
// designs can be, and the comparison is with the design, not with sloppy
// code.
//
// Thread safety: a RawConnection is used by one thread at a time (its owner,
// or whoever holds the SharedConnection's mutex).
#ifndef SQLSTEWARD_BENCH_BASELINES_H_
#define SQLSTEWARD_BENCH_BASELINES_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "harness.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sqlsteward::bench {

// The table every scenario uses.
inline constexpr std::string_view kSchema =
    "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)";

// The value stored with `id` in a prefilled table; reads check it.
std::int64_t PrefillValue(std::int64_t id);

// Creates the database file with the schema in WAL mode and, when
// prefill_rows > 0, rows 1..prefill_rows. Closes it again. Throws on error.
void CreateDatabase(const std::string& path, std::int64_t prefill_rows);

// Row count and max(id) of t, read with a fresh connection after a run.
struct TableCheck {
  std::int64_t rows = 0;
  std::int64_t max_id = 0;
};
TableCheck CheckTable(const std::string& path);

// How the benchmark counts a SQLite result code.
ErrorKind ClassifySqlite(int extended_rc);

// One sqlite3 connection, opened durable, with its prepared statements.
class RawConnection {
 public:
  // Opens `path` with busy_timeout, WAL and synchronous=FULL. Throws
  // std::runtime_error when a pragma does not stick.
  RawConnection(const std::string& path, int busy_timeout_ms);
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  sqlite3* db() const { return db_; }
  // Prepared once; finalized with the connection.
  sqlite3_stmt* Prepare(std::string_view sql);
  // Runs SQL without parameters; throws on error.
  void Exec(std::string_view sql);
  // Steps a statement to completion and resets it; returns the extended code
  // of the step (SQLITE_DONE on success).
  int Run(sqlite3_stmt* stmt);
  // Rolls back an open transaction, if there is one.
  void RollbackIfOpen();

 private:
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
};

// BEGIN IMMEDIATE / INSERT INTO t(v) / COMMIT, prepared on one connection.
struct InsertStatements {
  explicit InsertStatements(RawConnection& conn);
  sqlite3_stmt* begin;
  sqlite3_stmt* insert;
  sqlite3_stmt* commit;
};

// A single connection that every thread shares under a std::mutex: the
// "SetMaxOpenConns(1)" design. Its statements are prepared once.
struct SharedConnection {
  explicit SharedConnection(const std::string& path);
  std::mutex mu;
  RawConnection conn;  // GUARDED_BY(mu), as are the statements
  InsertStatements insert;
  sqlite3_stmt* lookup;  // SELECT v FROM t WHERE id=?
};

// The operations below are closed-loop Ops for RunClosedLoop. `thread` seeds
// the values each thread writes.

// Own connection per thread (busy_timeout 5000), cached BEGIN IMMEDIATE /
// INSERT / COMMIT. Retries BUSY.
Op MakeOwnConnectionInsert(const std::string& path, int thread);

// One shared connection under a mutex: lock, BEGIN IMMEDIATE, INSERT,
// COMMIT, unlock.
Op MakeSharedConnectionInsert(std::shared_ptr<SharedConnection> shared, int thread);

// Own connection per thread (busy_timeout 5000), deferred transaction:
// BEGIN; SELECT max(id); INSERT max+1; COMMIT. On BUSY or BUSY_SNAPSHOT:
// ROLLBACK and retry at once (each BUSY return is counted).
Op MakeOwnConnectionReadThenWrite(const std::string& path, int thread);

// One shared connection under a mutex, one cached SELECT by primary key over
// ids 1..rows, value checked.
Op MakeSharedConnectionPointLookup(std::shared_ptr<SharedConnection> shared, std::int64_t rows,
                                   int thread);

// One thread, one transaction: inserts rows until `duration` has passed,
// then commits. ops = rows; seconds include the COMMIT.
Samples RunBulkInsert(const std::string& path, Clock::duration duration);

// SQLite library version, e.g. "3.40.1".
std::string SqliteVersion();

}  // namespace sqlsteward::bench

#endif  // SQLSTEWARD_BENCH_BASELINES_H_
