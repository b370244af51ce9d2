// Database: the public handle on one SQLite file shared by many threads and
// processes.
//
// Thread safety: every method may be called concurrently from any number of
// threads. A handle belongs to the process that opened it: after fork() the
// child's calls fail with kFailedPrecondition and the child's destructor
// leaves the parent's connections and locks alone.
//
// Writes. Inside a process there is one writer connection. Write() queues a
// job; the thread at the head of the queue becomes the leader, takes the
// cross-process write lock (an OFD lock on `<db>-steward`, queued by the
// kernel), runs BEGIN IMMEDIATE, runs each queued job in its own SAVEPOINT,
// commits once and acknowledges every job of the batch. A job therefore runs
// on whichever thread leads its batch, never concurrently with another job.
// A job may: run SQL through its Transaction, compute, return a Status.
// A job must not: call Write/Read on any Database (it would wait on itself),
// block on other threads that may be writing, keep the Transaction or a
// Statement past its return, or take long (every writer of every process
// waits for it).
//
// Durability: Write() returns OK only after COMMIT returned, under the
// configured Options::synchronous (default kFull: survives power loss).
//
// Reads. Read() runs its callback in one read transaction on a pooled
// reader connection. In WAL mode reads never wait for writes.
#ifndef SQLSTEWARD_DATABASE_H_
#define SQLSTEWARD_DATABASE_H_

#include <functional>
#include <future>
#include <memory>
#include <string>

#include "sqlsteward/metrics.h"
#include "sqlsteward/options.h"
#include "sqlsteward/status.h"
#include "sqlsteward/transaction.h"

namespace sqlsteward {

namespace internal {
struct DatabaseAccess;
}

class Database {
 public:
  // Opens or creates the database at `path`. Returns a typed error and never
  // a half-open handle; see docs/guide.md for each error and its hint.
  static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                const Options& options = {});

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  // Same as Close(), errors ignored.
  ~Database();

  // Blocks until fn's effects are committed (OK) or rolled back (fn's own
  // error, or the reason the batch failed). kTimeout means fn never ran.
  Status Write(WriteFn fn, const WriteOptions& options = {});
  // As Write(), without blocking; the future becomes ready at acknowledgement.
  std::future<Status> WriteAsync(WriteFn fn, const WriteOptions& options = {});

  // Runs fn in one read transaction (a consistent snapshot).
  Status Read(ReadFn fn, const ReadOptions& options = {});

  // Runs a PASSIVE checkpoint now, under the cross-process write lock.
  Status Checkpoint();

  // Finishes queued writes, checkpoints under the write lock, closes every
  // connection. Later calls fail with kUnavailable. Idempotent.
  Status Close();

  MetricsSnapshot Metrics() const;
  // The database's path as every file of it is named: the directory made
  // canonical (no symbolic link, ".." or relative part), the file name as
  // given.
  const std::string& path() const;
  // The mode in effect: kWal or kDelete, never kAuto.
  JournalMode journal_mode() const;

  class Impl;

 private:
  friend struct internal::DatabaseAccess;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqlsteward

#endif  // SQLSTEWARD_DATABASE_H_
