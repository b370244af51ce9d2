// Options for Database::Open and per-call options for reads and writes.
#ifndef SQLSTEWARD_OPTIONS_H_
#define SQLSTEWARD_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "sqlsteward/status.h"

namespace sqlsteward {

class Database;

// What an acknowledged write survives. sqlsteward sets PRAGMA synchronous
// accordingly on the writer connection and reads it back.
enum class Synchronous {
  // No fsync at all. An acknowledged write survives a crash of the process
  // (the kernel has it), but power loss or a kernel crash can lose it and can
  // corrupt the database.
  kOff,
  // WAL: fsync at checkpoints only. An acknowledged write survives a process
  // crash; power loss can roll back the most recent commits but leaves the
  // database consistent. Rollback journal: as kFull minus some directory
  // syncs.
  kNormal,
  // Default. Every commit is fsynced before it is acknowledged: it survives
  // process crash and power loss (given a disk that honours flushes).
  kFull,
  // As kFull, and in rollback-journal mode also fsyncs the directory after
  // deleting the journal.
  kExtra,
};

enum class JournalMode {
  // Default: chosen from the filesystem probe (sqlsteward/probe.h): WAL where
  // every process sees the same shared memory, a rollback journal where only
  // locks can be trusted.
  kAuto,
  // Write-ahead log: readers never wait for the writer. Needs shared memory
  // that every process sees (one host, a local or coherent filesystem).
  kWal,
  // Rollback journal: readers and the writer exclude each other briefly at
  // commit. Works wherever POSIX locks work.
  kDelete,
};

struct Options {
  // Create the file (0600) and its parent directory (0700) when missing.
  bool create_if_missing = true;
  // kWal or kDelete are honoured only where the probe finds them safe;
  // otherwise Open fails with kFailedPrecondition and says why.
  JournalMode journal_mode = JournalMode::kAuto;
  // The SQLite VFS to open through; empty: SQLite's default. A VFS other than
  // the default is checked at open: if two connections through it can both
  // take the write lock (as with "unix-none"), Open refuses.
  std::string vfs;
  // DANGER. Use journal_mode, and share the file, even where the probe found
  // it unsafe (WAL on a network, VM-shared or FUSE filesystem; any sharing
  // where locks do not propagate). Expect corruption and lost writes if
  // another process, mount or host uses the file. Only for a filesystem
  // the probe misjudges, with one process using it.
  bool unsafe_ignore_filesystem_probe = false;
  Synchronous synchronous = Synchronous::kFull;
  bool foreign_keys = true;

  // Reader connections in the pool; each read holds one for its duration.
  int reader_connections = 4;

  // Default deadlines for Write() and Read() when the call does not set one.
  // A write that has not started by then fails with StatusCode::kTimeout and
  // has had no effect.
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds read_timeout{30'000};

  // Group-commit bounds: a batch takes at most this many jobs, and stops
  // taking more once it has run for max_batch_duration (so one batch cannot
  // hold the cross-process lock for long).
  std::size_t max_batch_jobs = 512;
  std::chrono::microseconds max_batch_duration{5'000};

  // A PASSIVE checkpoint runs after a commit that leaves the WAL above this
  // size. 0 disables sqlsteward's checkpoints (the WAL then grows).
  std::int64_t checkpoint_wal_bytes = 4 << 20;

  // Page cache per connection, KiB.
  std::int64_t cache_size_kib = 8 << 10;

  // Runs at the end of Open on the new handle, before Open returns it; an
  // error fails Open with that error. For work every opener must do first,
  // such as MigrateOnOpen (sqlsteward/migrator.h).
  std::function<Status(Database&)> after_open;

  // Called with a one-line description of anything sqlsteward tolerated but
  // the operator should know about (a chmod refused inside a user namespace,
  // a mode tightened to 0600). Default: a line on stderr.
  std::function<void(std::string_view)> on_warning;
};

struct WriteOptions {
  // 0 = Options::write_timeout. The deadline covers queueing, the
  // cross-process lock and SQLite's write lock; a job that has started runs
  // to completion.
  std::chrono::milliseconds timeout{0};
};

struct ReadOptions {
  // 0 = Options::read_timeout: the wait for a free reader connection.
  std::chrono::milliseconds timeout{0};
};

}  // namespace sqlsteward

#endif  // SQLSTEWARD_OPTIONS_H_
