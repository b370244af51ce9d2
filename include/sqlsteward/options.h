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
  // An acknowledged write survives a process crash; power loss can roll
  // back the most recent commits but leaves the database consistent. WAL:
  // SQLite's NORMAL, fsync at checkpoints only. Rollback journal: SQLite's
  // FULL (PRAGMA synchronous reads 2), because SQLite's NORMAL there can
  // corrupt the file when the disk reorders writes; only the directory
  // sync of the journal's delete is left out.
  kNormal,
  // Default. Every commit is fsynced before it is acknowledged: it survives
  // process crash and power loss (given a disk that honours flushes). In
  // rollback-journal mode this is SQLite's EXTRA (PRAGMA synchronous reads
  // 3): the commit is the journal's delete, and SQLite's FULL leaves that
  // delete unsynced, so a power loss right after could roll an acknowledged
  // commit back.
  kFull,
  // SQLite's EXTRA in both modes. In a rollback journal it is what kFull
  // sets; in WAL it promises what kFull does (every commit's WAL frames are
  // synced before it is acknowledged either way).
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

// Who else may use the database while this handle is open.
enum class Ownership {
  // Any number of instances (processes, handles) in one lock domain.
  kShared,
  // This handle alone. A second opener gets kUnavailable within a second,
  // naming the owner, or waits (Options::wait_for_owner), or asks the owner
  // to hand over (Options::take_over).
  kExclusive,
};

struct Options {
  // Create the file (0600) and its parent directory (0700) when missing.
  bool create_if_missing = true;
  // Open only to read, writing nothing to the database or beside it: no
  // file or directory created, no mode changed, no sidecar, no registration,
  // no journal-mode change, no probe file; reads use connections that leave
  // -wal and -shm as they are (docs/guide.md, "Read-only handles"). Write,
  // WriteAsync, Checkpoint and migrations that would apply anything fail
  // with kFailedPrecondition. The journal mode is the file's own; the
  // ownership, probe and lock-domain options do not apply, since nothing is
  // written that another process could lose.
  bool read_only = false;
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

  Ownership ownership = Ownership::kShared;
  // When another instance owns the database exclusively (or, opening
  // kExclusive, when any other instance is open): wait up to this long for it
  // to go away instead of failing at once. 0: fail at once.
  std::chrono::milliseconds wait_for_owner{0};
  // Ask the owner (or, opening kExclusive, every other instance) to step
  // down and take over when it has: it finishes its running batch,
  // checkpoints, and fails later writes with kUnavailable ("handed over").
  // The wait is bounded by handover_timeout.
  bool take_over = false;
  std::chrono::milliseconds handover_timeout{10'000};
  // Called (on an internal thread) when this instance has handed over to a
  // successor; its writes now fail with kUnavailable.
  std::function<void(std::int32_t successor_pid)> on_handed_over;
  // How often the instance's heartbeat advances in the sidecar and it looks
  // for handover requests. Instances in another lock domain on another host
  // are told apart from dead ones by watching two intervals.
  std::chrono::milliseconds heartbeat_interval{50};

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
