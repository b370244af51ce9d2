// Access to a Database's internals for modules layered above it (the
// migrator, the snapshotter). Not part of the public API.
#ifndef SQLSTEWARD_CORE_DATABASE_ACCESS_H_
#define SQLSTEWARD_CORE_DATABASE_ACCESS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "posix/env.h"
#include "sqlsteward/database.h"

namespace sqlsteward::internal {

class Connection;
class Engine;
class MetricsRecorder;

struct DatabaseAccess {
  // Runs fn in a batch of its own: no other job shares its transaction. The
  // cross-process write lock is held throughout, and `purpose` (e.g.
  // "migration 0003_orders") is recorded with the holder, so that a waiter
  // whose deadline passes is told what the holder is doing.
  static Status WriteExclusive(Database& db, const WriteFn& fn,
                               std::chrono::steady_clock::time_point deadline,
                               std::string_view purpose);

  // Runs fn with the writer connection, outside any transaction, in a batch
  // of its own under the cross-process write lock (e.g. the backup API
  // writing into the live database during a restore). fn must leave no
  // transaction open; the queue checkpoints after it, as after a batch.
  static Status WithWriterConnection(Database& db, const std::function<Status(Connection&)>& fn,
                                     std::chrono::steady_clock::time_point deadline,
                                     std::string_view purpose);

  // Calls trace with the text of every statement the writer connection runs
  // (sqlite3_trace_v2 STMT; nullptr stops). For tests that assert on the
  // exact statements, e.g. that a migration run has one BEGIN. Call while
  // no write is running.
  static void TraceWriter(Database& db, std::function<void(std::string_view)> trace);

  // The SQLite VFS the database was opened with (Options::vfs; empty for
  // the default), for other connections to the same file.
  static const std::string& Vfs(const Database& db);

  // Database::Open with the Env every file operation of the handle goes
  // through (tests: a FaultEnv). `env` must outlive the handle.
  static Result<std::unique_ptr<Database>> OpenWithEnv(const std::string& path,
                                                       const Options& options, posix::Env* env);
  // The Env the handle was opened with.
  static posix::Env* Env(const Database& db);

  // A handle whose writes, reads and exclusive jobs go to the engine that
  // `factory` builds (core/engine.h); `address` is what path() returns. The
  // engine records its batches in the handle's metrics.
  using EngineFactory = std::function<Result<std::unique_ptr<Engine>>(const Options&,
                                                                       MetricsRecorder*)>;
  static Result<std::unique_ptr<Database>> OpenOnEngine(const std::string& address,
                                                        const Options& options,
                                                        const EngineFactory& factory);
  // The handle's engine; nullptr for a local database file.
  static Engine* EngineOf(Database& db);

  // Open's read-only path (Options::read_only).
  static Result<std::unique_ptr<Database>> OpenReadOnly(std::unique_ptr<Database::Impl> impl);
  // What every handle starts from, whichever engine it opens: the options
  // checked and completed, the fork generation it belongs to.
  static Result<std::unique_ptr<Database::Impl>> NewImpl(const Options& options, posix::Env* env);
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_DATABASE_ACCESS_H_
