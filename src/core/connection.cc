#include "core/connection.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "base/status_builders.h"
#include "base/strings.h"
#include "core/read_only_open.h"

namespace sqlsteward::internal {
namespace {

// PRAGMA synchronous for `s` in `mode`, so that each level keeps its
// promise in a rollback journal too (found by simulated power loss at
// every sync point, PowerLossWritesTest):
// - kFull promises that an acknowledged commit survives power loss. In a
//   rollback journal SQLite's FULL commits by deleting the journal without
//   syncing its directory, so a power loss right after the commit can
//   bring the journal back and the next open rolls the commit back (33 of
//   122 crash points). EXTRA adds that directory sync: one more fsync per
//   commit, only in rollback-journal mode; WAL commits need none.
// - kNormal promises a consistent database that may lose its last
//   commits. In a rollback journal SQLite's NORMAL does not sync the
//   journal before overwriting database pages, so a disk that reorders
//   writes can corrupt the file (integrity_check failed after torn and
//   reordered writes). FULL keeps it consistent and loses at most the last
//   commits, which is exactly kNormal's promise.
std::string_view SynchronousPragma(Synchronous s, JournalMode mode) {
  switch (s) {
    case Synchronous::kOff:
      return "0";
    case Synchronous::kNormal:
      return mode == JournalMode::kWal ? "1" : "2";
    case Synchronous::kFull:
      return mode == JournalMode::kWal ? "2" : "3";
    case Synchronous::kExtra:
      return "3";
  }
  return "3";
}

bool IsBlank(const char* p) {
  // Whitespace and comments only.
  while (*p != '\0') {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';') {
      ++p;
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p != '\0' && *p != '\n') ++p;
    } else if (p[0] == '/' && p[1] == '*') {
      const char* end = std::strstr(p + 2, "*/");
      if (end == nullptr) return true;
      p = end + 2;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

Status SqliteStatus(int rc, sqlite3* db, std::string_view context) {
  int primary = rc & 0xff;
  int sys_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
  std::string message(context);
  message += ": ";
  message += (db != nullptr && sqlite3_extended_errcode(db) == rc) ? sqlite3_errmsg(db)
                                                                   : sqlite3_errstr(rc);
  StatusCode code;
  std::string hint;
  switch (primary) {
    case SQLITE_BUSY:
      if (rc == SQLITE_BUSY_SNAPSHOT) {
        code = StatusCode::kAborted;
        hint = "the snapshot went stale; run the transaction again";
      } else {
        code = StatusCode::kTimeout;
        hint =
            "a connection outside sqlsteward (another program, or the sqlite3 shell in a "
            "transaction) holds SQLite's lock; retry, or end that transaction";
      }
      break;
    case SQLITE_LOCKED:
    case SQLITE_SCHEMA:
    case SQLITE_INTERRUPT:
    case SQLITE_PROTOCOL:
    case SQLITE_ABORT:
      code = StatusCode::kAborted;
      hint = "the transaction was rolled back by a conflict; run it again";
      break;
    case SQLITE_CONSTRAINT:
      code = StatusCode::kConstraint;
      hint =
          "the data violates a constraint of the schema; change the data, retrying as-is "
          "fails again";
      break;
    case SQLITE_CORRUPT:
      code = StatusCode::kCorruption;
      hint = "the database is damaged; run `sqlsteward doctor`, then restore from a snapshot";
      break;
    case SQLITE_NOTADB:
      code = StatusCode::kCorruption;
      hint = "the file is not an SQLite database (wrong path?) or its header is damaged";
      break;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
      code = StatusCode::kResourceExhausted;
      hint = "free disk space or memory, then retry";
      break;
    case SQLITE_IOERR:
      code = StatusCode::kIOError;
      hint = "the operating system reported an I/O error; check the disk and kernel log";
      if (sys_errno == ENOSPC || sys_errno == EDQUOT) {
        code = StatusCode::kResourceExhausted;
        hint = "the disk is full; free space, then retry";
      }
      break;
    case SQLITE_READONLY:
      if (rc == SQLITE_READONLY_ROLLBACK) {
        // Not a permission problem: a writer died mid-transaction in a
        // rollback journal, and only a read-write connection may roll its
        // journal back. A read-only handle writes nothing, so it says so.
        code = StatusCode::kFailedPrecondition;
        message +=
            " (a hot -journal: a writer was killed mid-transaction, and a read-only open "
            "cannot roll it back)";
        hint =
            "open the database read-write once (any sqlsteward command that writes, e.g. "
            "`sqlsteward exec DB \"SELECT 1\"`, or Database::Open without read_only): that "
            "rolls the unfinished transaction back; read-only opens work again after it";
        break;
      }
      [[fallthrough]];
    case SQLITE_PERM:
      code = StatusCode::kPermissionDenied;
      hint =
          "the database, its directory or its -wal/-shm files are not writable by this "
          "process; fix owner and modes";
      break;
    case SQLITE_CANTOPEN:
      code = sys_errno == EACCES || sys_errno == EPERM ? StatusCode::kPermissionDenied
             : sys_errno == ENOENT                     ? StatusCode::kNotFound
                                                       : StatusCode::kIOError;
      hint = "check that the file and its directory exist and are readable and writable";
      break;
    case SQLITE_AUTH:
      code = StatusCode::kInvalidArgument;
      hint =
          "sqlsteward owns transaction control, journal and locking modes: a job already "
          "runs inside a transaction (use SAVEPOINT to nest)";
      break;
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_MISUSE:
      code = StatusCode::kInvalidArgument;
      hint = "fix the SQL or its parameters";
      break;
    default:
      code = StatusCode::kInternal;
  }
  return Status(code, std::move(message), std::move(hint), rc, sys_errno);
}

Result<std::unique_ptr<Connection>> Connection::Open(posix::Env* env, const std::string& path,
                                                     Role role,
                                                     const Options& options,
                                                     Clock::time_point deadline,
                                                     std::atomic<std::uint64_t>* busy_counter) {
  sqlite3* db = nullptr;
  // No SQLITE_OPEN_CREATE: Database::Open created the file with mode 0600.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  std::string target = path;
  if (role == Role::kReadOnly) {
    // Reading writes nothing (core/read_only_open.h); the plan is made
    // afresh for each connection, as -wal and -shm come and go.
    SQLSTEWARD_ASSIGN_OR_RETURN(DatabaseHeader header, ReadDatabaseHeader(path, options.vfs));
    target = PlanReadOnlyOpen(env, path, header).uri;
    flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  }
  int rc = sqlite3_open_v2(target.c_str(), &db, flags,
                           options.vfs.empty() ? nullptr : options.vfs.c_str());
  std::unique_ptr<Connection> conn(new Connection(db, role, busy_counter));
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, "open " + path);
  sqlite3_extended_result_codes(db, 1);
  // The busy handler comes first: every later step may wait on a lock.
  conn->busy_deadline_ = deadline;
  sqlite3_busy_handler(db, &Connection::BusyHandler, conn.get());
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  if (role != Role::kReadOnly && sqlite3_db_readonly(db, "main") == 1) {
    return PermissionDenied(path + " can only be opened read-only",
                            "make the file and its directory writable by this process");
  }
  SQLSTEWARD_RETURN_IF_ERROR(conn->Configure(options));
  sqlite3_set_authorizer(db, &Connection::Authorizer, conn.get());
  if (role == Role::kWriter) sqlite3_wal_hook(db, &Connection::WalHook, conn.get());
  return conn;
}

Status VerifyVfsLocks(const std::string& path, const std::string& vfs) {
  // Two connections through the VFS: if the second can take the write lock
  // while the first holds it, the VFS does not lock and nothing is safe to
  // share.
  sqlite3* first = nullptr;
  sqlite3* second = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &first, flags, vfs.c_str());
  if (rc == SQLITE_OK) rc = sqlite3_open_v2(path.c_str(), &second, flags, vfs.c_str());
  Status result;
  if (rc != SQLITE_OK) {
    result = SqliteStatus(rc, second != nullptr ? second : first, "open through VFS " + vfs);
  } else if ((rc = sqlite3_exec(first, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr)) !=
             SQLITE_OK) {
    result = SqliteStatus(rc, first, "BEGIN IMMEDIATE through VFS " + vfs);
  } else {
    rc = sqlite3_exec(second, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) {
      result = FailedPrecondition(
          "the SQLite VFS \"" + vfs +
              "\" takes no locks: two connections "
              "held the write lock at once, so sharing the database would corrupt it",
          "use SQLite's default VFS (leave Options::vfs empty)");
    }
    sqlite3_exec(second, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_exec(first, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  sqlite3_close_v2(second);
  sqlite3_close_v2(first);
  return result;
}

Connection::~Connection() {
  if (db_ == nullptr) return;
  for (auto& [sql, entry] : cache_) sqlite3_finalize(entry.stmt);
  sqlite3_close_v2(db_);
}

Status Connection::Configure(const Options& options) {
  SQLSTEWARD_RETURN_IF_ERROR(EnsureJournalMode(options));
  const std::string_view sync = SynchronousPragma(options.synchronous, journal_mode_);
  SQLSTEWARD_RETURN_IF_ERROR(SetPragma("synchronous", sync, sync));
  SQLSTEWARD_RETURN_IF_ERROR(SetPragma("foreign_keys", options.foreign_keys ? "1" : "0",
                                       options.foreign_keys ? "1" : "0"));
  SQLSTEWARD_RETURN_IF_ERROR(SetPragma("mmap_size", "0", "0"));
  std::string cache = std::to_string(-options.cache_size_kib);
  SQLSTEWARD_RETURN_IF_ERROR(SetPragma("cache_size", cache, cache));
  if (role_ != Role::kWriter) SQLSTEWARD_RETURN_IF_ERROR(SetPragma("query_only", "1", "1"));
  auto page = PragmaValue("page_size");
  if (!page.has_value()) return std::move(page).error();
  page_size_ = std::stoll(*page);
  return Status();
}

Status Connection::EnsureJournalMode(const Options& options) {
  // The first statement that reads the file: a garbage file fails here with
  // SQLITE_NOTADB.
  auto current = PragmaValue("journal_mode");
  if (!current.has_value()) return std::move(current).error();
  if (role_ == Role::kReadOnly) {
    // What the file is in: an immutable open says "delete" whatever it is,
    // so the handle's mode (from the header) stands.
    journal_mode_ = options.journal_mode;
    return Status();
  }
  std::string want = options.journal_mode == JournalMode::kWal ? "wal" : "delete";
  std::string got = AsciiLower(*current);
  if (got != want && role_ == Role::kWriter) {
    auto set = PragmaValue("journal_mode=" + want);
    if (!set.has_value()) {
      Status err = std::move(set).error();
      if (err.code() != StatusCode::kTimeout) return err;
      return FailedPrecondition("cannot change journal_mode from " + got + " to " + want +
                                    " while other connections have the database open",
                                "stop the other processes using it, then open again",
                                err.sqlite_code());
    }
    got = AsciiLower(*set);
  }
  if (got != want) {
    return FailedPrecondition(
        "journal_mode " + want + " was refused: the database stays in " + got,
        want == "wal" ? "WAL needs shared memory that every process sees; on this filesystem "
                        "use JournalMode::kDelete, or move the database to a local disk"
                      : "another connection keeps the database in WAL; close it first");
  }
  journal_mode_ = want == "wal" ? JournalMode::kWal : JournalMode::kDelete;
  return Status();
}

Result<std::string> Connection::PragmaValue(std::string_view name) {
  std::string sql = "PRAGMA ";
  sql += name;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, sql);
  std::string value;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) value = reinterpret_cast<const char*>(text);
    rc = sqlite3_step(stmt);
  }
  Status st = rc == SQLITE_DONE ? Status() : SqliteStatus(rc, db_, sql);
  sqlite3_finalize(stmt);
  if (!st.ok()) return st;
  return value;
}

Status Connection::SetPragma(std::string_view name, std::string_view value,
                             std::string_view expect) {
  std::string assign(name);
  assign += "=";
  assign += value;
  auto set = PragmaValue(assign);
  if (!set.has_value()) return std::move(set).error();
  auto got = PragmaValue(name);
  if (!got.has_value()) return std::move(got).error();
  if (*got != expect) {
    return FailedPrecondition(
        "PRAGMA " + std::string(name) + " reads back " + *got + " after setting " +
            std::string(value),
        "the SQLite build or VFS refuses this setting; report it with `sqlsteward "
        "doctor` output");
  }
  return Status();
}

Status Connection::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "exec");
  return Status();
}

Result<sqlite3_stmt*> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return it->second.stmt;
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  bool cacheable = it == cache_.end();
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              cacheable ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, &tail);
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, db_, "prepare \"" + std::string(sql.substr(0, 120)) + "\"");
  }
  if (stmt == nullptr) {
    return InvalidArgument("no SQL statement in \"" + std::string(sql) + "\"",
                           "pass exactly one statement");
  }
  std::string rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
  if (!IsBlank(rest.c_str())) {
    sqlite3_finalize(stmt);
    return InvalidArgument(
        "more than one statement in \"" + std::string(sql.substr(0, 120)) + "\"",
        "Prepare/Exec take one statement; use Transaction::ExecScript for several");
  }
  if (cacheable) cache_.emplace(std::string(sql), CachedStatement{stmt, true});
  return stmt;
}

void Connection::ReturnStatement(sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  const char* sql = sqlite3_sql(stmt);
  auto it = cache_.find(std::string_view(sql != nullptr ? sql : ""));
  if (it != cache_.end() && it->second.stmt == stmt) {
    it->second.in_use = false;
  } else {
    sqlite3_finalize(stmt);
  }
}

namespace {

template <typename Tx, typename Fn>
Status CallUserCode(bool* in_user_code, Tx& tx, const Fn& fn, std::string_view what) {
  *in_user_code = true;
  Status st;
  try {
    st = fn(tx);
  } catch (const std::exception& e) {
    st = Internal(std::string(what) + " threw: " + e.what(),
                  "its changes were rolled back; return a Status instead of throwing");
  } catch (...) {
    st = Internal(std::string(what) + " threw a non-std exception",
                  "its changes were rolled back; return a Status instead of throwing");
  }
  *in_user_code = false;
  return st;
}

}  // namespace

Status Connection::ExplainRefusal(Status st) {
  // SQLite reports a statement the authorizer denied as "not authorized":
  // say which rule of the statement policy refused it and what to do.
  if ((st.sqlite_code() & 0xff) == SQLITE_AUTH && last_refusal_.has_value()) {
    st = InvalidArgument(std::string(st.message()) + ": " + last_refusal_->why, last_refusal_->hint,
                         st.sqlite_code());
  }
  last_refusal_.reset();
  return st;
}

Status Connection::RunRead(const ReadFn& fn) {
  ReadTransaction tx(this);
  last_refusal_.reset();
  Status st = ExplainRefusal(CallUserCode(&in_user_code_, tx, fn, "read callback"));
  if ((st.sqlite_code() & 0xff) == SQLITE_READONLY) {
    return InvalidArgument(std::string(st.message()),
                           "Read() callbacks run on read-only connections; write inside Write()",
                           st.sqlite_code());
  }
  return st;
}

Status Connection::RunJob(const WriteFn& fn) {
  Transaction tx(this);
  last_refusal_.reset();
  return ExplainRefusal(CallUserCode(&in_user_code_, tx, fn, "write job"));
}

int Connection::BusyHandler(void* self, int count) {
  auto* conn = static_cast<Connection*>(self);
  conn->busy_calls_->fetch_add(1, std::memory_order_relaxed);
  // Only connections outside sqlsteward make us wait here (our own writers
  // queue on the sidecar lock), so a short backoff is enough.
  auto now = Clock::now();
  if (now >= conn->busy_deadline_) return 0;
  auto pause = std::chrono::microseconds(100) * (1 << std::min(count, 6));
  pause = std::min(pause, std::chrono::microseconds(10'000));
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(conn->busy_deadline_ - now);
  std::this_thread::sleep_for(std::min(pause, left));
  return 1;
}

int Connection::Authorizer(void* self, int action, const char* a, const char* b, const char*,
                           const char*) {
  auto* conn = static_cast<Connection*>(self);
  if (!conn->in_user_code_) return SQLITE_OK;
  std::optional<Refusal> refusal;
  switch (action) {
    case SQLITE_TRANSACTION:  // BEGIN, COMMIT, ROLLBACK: the batch owns them.
      refusal = TransactionControlRefusal();
      break;
    case SQLITE_SAVEPOINT:  // a = BEGIN/RELEASE/ROLLBACK, b = name.
      if (b != nullptr && sqlite3_stricmp(b, kJobSavepoint) == 0) {
        refusal = Refusal{std::string("the savepoint ") + kJobSavepoint + " is sqlsteward's own",
                          "name your savepoints otherwise"};
      }
      break;
    case SQLITE_ATTACH:
      refusal = AttachRefusal("attach", SqlContext::kWriteJob);
      break;
    case SQLITE_DETACH:
      refusal = AttachRefusal("detach", SqlContext::kWriteJob);
      break;
    case SQLITE_PRAGMA:  // a = name, b = the value being set, or NULL for a read.
      if (a != nullptr) refusal = PragmaRefusal(AsciiLower(a), b != nullptr, SqlContext::kWriteJob);
      break;
    default:
      break;
  }
  if (!refusal.has_value()) return SQLITE_OK;
  conn->last_refusal_ = std::move(refusal);
  return SQLITE_DENY;
}

void Connection::SetTrace(std::function<void(std::string_view)> trace) {
  trace_ = std::move(trace);
  if (trace_) {
    sqlite3_trace_v2(db_, SQLITE_TRACE_STMT, &Connection::TraceCallback, this);
  } else {
    sqlite3_trace_v2(db_, 0, nullptr, nullptr);
  }
}

int Connection::TraceCallback(unsigned, void* self, void* stmt, void*) {
  auto* conn = static_cast<Connection*>(self);
  char* sql = sqlite3_expanded_sql(static_cast<sqlite3_stmt*>(stmt));
  if (sql != nullptr) conn->trace_(sql);
  sqlite3_free(sql);
  return 0;
}

int Connection::WalHook(void* self, sqlite3*, const char*, int frames) {
  static_cast<Connection*>(self)->wal_frames_ = frames;
  return SQLITE_OK;
}

}  // namespace sqlsteward::internal
