#include "baselines.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace sqlsteward::bench {
namespace {

[[noreturn]] void Throw(sqlite3* db, std::string_view what) {
  throw std::runtime_error(
      fmt::format("{}: {}", what, db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

std::string ErrorName(int rc) { return fmt::format("sqlite {} ({})", rc, sqlite3_errstr(rc)); }

// Counts a failed attempt, leaves no transaction open, and says whether the
// operation should be retried.
Outcome Fail(RawConnection& conn, int rc, Recorder& rec) {
  conn.RollbackIfOpen();
  const ErrorKind kind = ClassifySqlite(rc);
  rec.CountError(kind, kind == ErrorKind::kOther ? ErrorName(rc) : std::string());
  return kind == ErrorKind::kOther ? Outcome::kFailed : Outcome::kRetry;
}

Outcome InsertTransaction(RawConnection& conn, const InsertStatements& s, std::int64_t value,
                          Recorder& rec) {
  int rc = conn.Run(s.begin);
  if (rc != SQLITE_DONE) return Fail(conn, rc, rec);
  sqlite3_bind_int64(s.insert, 1, value);
  rc = conn.Run(s.insert);
  if (rc != SQLITE_DONE) return Fail(conn, rc, rec);
  rc = conn.Run(s.commit);
  if (rc != SQLITE_DONE) return Fail(conn, rc, rec);
  return Outcome::kOk;
}

std::int64_t FirstValue(int thread) { return std::int64_t{thread} << 40; }

}  // namespace

std::int64_t PrefillValue(std::int64_t id) { return (id * 2654435761LL) % 1000003LL; }

ErrorKind ClassifySqlite(int extended_rc) {
  if (extended_rc == SQLITE_BUSY_SNAPSHOT) return ErrorKind::kBusySnapshot;
  if ((extended_rc & 0xff) == SQLITE_BUSY) return ErrorKind::kBusy;
  return ErrorKind::kOther;
}

std::string SqliteVersion() { return sqlite3_libversion(); }

InsertStatements::InsertStatements(RawConnection& conn)
    : begin(conn.Prepare("BEGIN IMMEDIATE")),
      insert(conn.Prepare("INSERT INTO t(v) VALUES(?)")),
      commit(conn.Prepare("COMMIT")) {}

SharedConnection::SharedConnection(const std::string& path)
    : conn(path, 5000), insert(conn), lookup(conn.Prepare("SELECT v FROM t WHERE id=?")) {}

RawConnection::RawConnection(const std::string& path, int busy_timeout_ms) {
  // NOMUTEX: every use is already serialized (one owner thread, or the
  // SharedConnection's mutex), so SQLite's own mutexes would only cost time.
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        fmt::format("open {}: {}", path, db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw std::runtime_error(message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  try {
    sqlite3_stmt* mode = Prepare("PRAGMA journal_mode=WAL");
    if (sqlite3_step(mode) != SQLITE_ROW ||
        std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(mode, 0))) != "wal") {
      throw std::runtime_error(fmt::format("{}: journal_mode=WAL refused", path));
    }
    sqlite3_reset(mode);
    Exec("PRAGMA synchronous=FULL");
    sqlite3_stmt* sync = Prepare("PRAGMA synchronous");
    if (sqlite3_step(sync) != SQLITE_ROW || sqlite3_column_int(sync, 0) != 2) {
      throw std::runtime_error(fmt::format("{}: synchronous=FULL refused", path));
    }
    sqlite3_reset(sync);
  } catch (...) {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    stmts_.clear();
    sqlite3_close_v2(db_);
    throw;
  }
}

RawConnection::~RawConnection() {
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_close_v2(db_);
}

sqlite3_stmt* RawConnection::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    Throw(db_, fmt::format("prepare '{}'", sql));
  }
  stmts_.push_back(stmt);
  return stmt;
}

void RawConnection::Exec(std::string_view sql) {
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    Throw(db_, fmt::format("exec '{}'", sql));
  }
}

int RawConnection::Run(sqlite3_stmt* stmt) {
  int rc = sqlite3_step(stmt);
  while (rc == SQLITE_ROW) rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc;
}

void RawConnection::RollbackIfOpen() {
  if (sqlite3_get_autocommit(db_) == 0) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void CreateDatabase(const std::string& path, std::int64_t prefill_rows) {
  {
    // Created 0600 up front, as a careful application would (and as
    // sqlsteward wants it); -wal and -shm take the database's mode.
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error(fmt::format("create {}: {}", path, std::strerror(errno)));
    close(fd);
  }
  RawConnection conn(path, 5000);
  conn.Exec(kSchema);
  if (prefill_rows <= 0) return;
  sqlite3_stmt* insert = conn.Prepare("INSERT INTO t(id, v) VALUES(?, ?)");
  conn.Exec("BEGIN IMMEDIATE");
  for (std::int64_t id = 1; id <= prefill_rows; ++id) {
    sqlite3_bind_int64(insert, 1, id);
    sqlite3_bind_int64(insert, 2, PrefillValue(id));
    if (conn.Run(insert) != SQLITE_DONE) Throw(conn.db(), "prefill");
  }
  conn.Exec("COMMIT");
}

TableCheck CheckTable(const std::string& path) {
  RawConnection conn(path, 5000);
  sqlite3_stmt* stmt = conn.Prepare("SELECT count(*), coalesce(max(id), 0) FROM t");
  if (sqlite3_step(stmt) != SQLITE_ROW) Throw(conn.db(), "check table");
  TableCheck check{sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1)};
  sqlite3_reset(stmt);
  return check;
}

Op MakeOwnConnectionInsert(const std::string& path, int thread) {
  auto conn = std::make_shared<RawConnection>(path, 5000);
  InsertStatements stmts(*conn);
  std::int64_t value = FirstValue(thread);
  return [conn, stmts, value](Recorder& rec) mutable {
    return InsertTransaction(*conn, stmts, ++value, rec);
  };
}

Op MakeSharedConnectionInsert(std::shared_ptr<SharedConnection> shared, int thread) {
  std::int64_t value = FirstValue(thread);
  return [shared = std::move(shared), value](Recorder& rec) mutable {
    std::lock_guard lock(shared->mu);
    return InsertTransaction(shared->conn, shared->insert, ++value, rec);
  };
}

Op MakeOwnConnectionReadThenWrite(const std::string& path, int thread) {
  struct State {
    explicit State(const std::string& p)
        : conn(p, 5000),
          begin(conn.Prepare("BEGIN")),
          select_max(conn.Prepare("SELECT max(id) FROM t")),
          insert(conn.Prepare("INSERT INTO t(id, v) VALUES(?, ?)")),
          commit(conn.Prepare("COMMIT")) {}
    RawConnection conn;
    sqlite3_stmt* begin;
    sqlite3_stmt* select_max;
    sqlite3_stmt* insert;
    sqlite3_stmt* commit;
  };
  auto st = std::make_shared<State>(path);
  std::int64_t value = FirstValue(thread);
  return [st, value](Recorder& rec) mutable {
    RawConnection& conn = st->conn;
    int rc = conn.Run(st->begin);
    if (rc != SQLITE_DONE) return Fail(conn, rc, rec);
    rc = sqlite3_step(st->select_max);
    if (rc != SQLITE_ROW) {
      sqlite3_reset(st->select_max);
      return Fail(conn, rc, rec);
    }
    const std::int64_t max_id = sqlite3_column_int64(st->select_max, 0);  // NULL reads 0
    sqlite3_reset(st->select_max);
    sqlite3_bind_int64(st->insert, 1, max_id + 1);
    sqlite3_bind_int64(st->insert, 2, ++value);
    rc = conn.Run(st->insert);
    if (rc != SQLITE_DONE) return Fail(conn, rc, rec);
    rc = conn.Run(st->commit);
    if (rc != SQLITE_DONE) return Fail(conn, rc, rec);
    return Outcome::kOk;
  };
}

Op MakeSharedConnectionPointLookup(std::shared_ptr<SharedConnection> shared, std::int64_t rows,
                                   int thread) {
  Rng rng = Rng::ForThread(thread);
  return [shared = std::move(shared), rows, rng](Recorder& rec) mutable {
    const std::int64_t id = rng.Key(rows);
    int rc;
    std::int64_t v = 0;
    {
      std::lock_guard lock(shared->mu);
      sqlite3_bind_int64(shared->lookup, 1, id);
      rc = sqlite3_step(shared->lookup);
      if (rc == SQLITE_ROW) v = sqlite3_column_int64(shared->lookup, 0);
      sqlite3_reset(shared->lookup);
    }
    if (rc == SQLITE_DONE) {
      rec.CountError(ErrorKind::kOther, "row missing");
      return Outcome::kFailed;
    }
    if (rc != SQLITE_ROW) {
      const ErrorKind kind = ClassifySqlite(rc);
      rec.CountError(kind, ErrorName(rc));
      return kind == ErrorKind::kOther ? Outcome::kFailed : Outcome::kRetry;
    }
    if (v != PrefillValue(id)) {
      rec.CountError(ErrorKind::kOther, "wrong value");
      return Outcome::kFailed;
    }
    return Outcome::kOk;
  };
}

Samples RunBulkInsert(const std::string& path, Clock::duration duration) {
  RawConnection conn(path, 5000);
  sqlite3_stmt* insert = conn.Prepare("INSERT INTO t(v) VALUES(?)");
  std::int64_t rows = 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + duration;
  conn.Exec("BEGIN IMMEDIATE");
  do {
    for (int i = 0; i < 1024; ++i) {
      sqlite3_bind_int64(insert, 1, ++rows);
      if (conn.Run(insert) != SQLITE_DONE) Throw(conn.db(), "bulk insert");
    }
  } while (Clock::now() < deadline);
  conn.Exec("COMMIT");
  const Clock::time_point end = Clock::now();
  Samples s;
  s.ok = static_cast<std::uint64_t>(rows);
  s.seconds = std::chrono::duration<double>(end - start).count();
  s.extra["rows_in_transaction"] = rows;
  return s;
}

}  // namespace sqlsteward::bench
