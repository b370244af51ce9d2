// Connection: one sqlite3 handle, its statement cache and its settings.
//
// Every connection sqlsteward opens:
//   - sets its busy handler before anything that can block;
//   - never checkpoints on close (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): only the
//     writer checkpoints, and only under the cross-process write lock;
//   - keeps mmap_size = 0 (shared mmap amplifies WAL races between writers);
//   - reads back every pragma it sets, because a VFS may refuse silently;
//   - refuses, through an authorizer, what the statement policy
//     (statement_policy.h) refuses in application SQL.
//
// Thread safety: none. A connection is used by one thread at a time (the
// write queue's leader, or the reader holding it from the pool).
#ifndef SQLSTEWARD_CORE_CONNECTION_H_
#define SQLSTEWARD_CORE_CONNECTION_H_

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/statement_policy.h"
#include "posix/env.h"
#include "sqlsteward/options.h"
#include "sqlsteward/status.h"
#include "sqlsteward/transaction.h"

namespace sqlsteward::internal {

// kReadOnly: a connection of a read-only handle (Options::read_only), which
// writes nothing to the database or beside it (core/read_only_open.h).
enum class Role { kWriter, kReader, kReadOnly };

// The savepoint around each write job; application SQL may not touch it.
inline constexpr char kJobSavepoint[] = "sqlsteward_job";

// A Status from a SQLite result code, with SQLite's message and a hint.
Status SqliteStatus(int rc, sqlite3* db, std::string_view context);

// kFailedPrecondition when the VFS lets two connections hold the write lock
// at once (e.g. "unix-none").
Status VerifyVfsLocks(const std::string& path, const std::string& vfs);

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens `path` (which must exist) and applies `options` for `role`. The
  // writer sets options.journal_mode (kWal or kDelete; never kAuto);
  // readers verify it.
  static Result<std::unique_ptr<Connection>> Open(posix::Env* env, const std::string& path,
                                                  Role role,
                                                  const Options& options,
                                                  Clock::time_point deadline,
                                                  std::atomic<std::uint64_t>* busy_counter);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs statements without parameters.
  Status Exec(std::string_view sql);
  // A cached prepared statement for exactly one SQL statement. If the cached
  // one is in use (a job iterating it prepares the same text again), a
  // private one is prepared and finalized on return.
  Result<sqlite3_stmt*> Prepare(std::string_view sql);
  void ReturnStatement(sqlite3_stmt* stmt);

  // Runs fn with a ReadTransaction / Transaction on this connection. The
  // caller manages BEGIN/COMMIT around it. Exceptions become kInternal.
  Status RunRead(const ReadFn& fn);
  Status RunJob(const WriteFn& fn);

  // Calls trace with each statement's text as it starts; nullptr stops.
  void SetTrace(std::function<void(std::string_view)> trace);

  // The busy handler gives up at this deadline.
  void set_busy_deadline(Clock::time_point deadline) { busy_deadline_ = deadline; }
  // WAL frames after the last commit (writer only), and the page size.
  std::int64_t wal_frames() const { return wal_frames_; }
  std::int64_t page_size() const { return page_size_; }
  JournalMode journal_mode() const { return journal_mode_; }
  sqlite3* handle() const { return db_; }
  bool autocommit() const { return sqlite3_get_autocommit(db_) != 0; }

 private:
  Connection(sqlite3* db, Role role, std::atomic<std::uint64_t>* busy_counter)
      : db_(db), role_(role), busy_calls_(busy_counter) {}
  Status Configure(const Options& options);
  Status SetPragma(std::string_view name, std::string_view value, std::string_view expect);
  Result<std::string> PragmaValue(std::string_view name);
  Status EnsureJournalMode(const Options& options);

  // A job's error from a statement the authorizer denied, explained.
  Status ExplainRefusal(Status st);

  static int BusyHandler(void* self, int count);
  static int Authorizer(void* self, int action, const char* a, const char* b, const char* c,
                        const char* d);
  static int WalHook(void* self, sqlite3* db, const char* name, int frames);
  static int TraceCallback(unsigned type, void* self, void* stmt, void* sql);

  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  sqlite3* db_;
  Role role_;
  JournalMode journal_mode_ = JournalMode::kWal;
  std::map<std::string, CachedStatement, std::less<>> cache_;
  Clock::time_point busy_deadline_{};
  std::atomic<std::uint64_t>* busy_calls_;
  std::int64_t wal_frames_ = 0;
  std::int64_t page_size_ = 4096;
  bool in_user_code_ = false;
  std::optional<Refusal> last_refusal_;  // Set by the authorizer.
  std::function<void(std::string_view)> trace_;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_CONNECTION_H_
