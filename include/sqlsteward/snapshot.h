// Snapshots, verification and restore.
//
// Snapshot() copies a live database through SQLite's backup API into
// DEST_DIR/<name>-<yyyymmddThhmmssZ>-<seq>.db, mode 0600, beside a manifest
// <name>-<...>-<seq>.manifest.json (sha256, size, page size and count,
// schema version, source, creation time, SQLite version). The copy is one
// consistent transaction of the source; it is written to a temporary file
// in DEST_DIR, fsynced, checked (PRAGMA quick_check by default), hashed,
// and renamed into place after its manifest; the directory is then fsynced.
// A snapshot therefore either exists complete, with its manifest, under its
// final name, or not at all: a crash leaves at most a `.snapshot-*.tmp`
// file, which the next snapshot into the same directory removes.
//
// Writers are not stopped. In WAL mode the copy reads from its own
// connection inside one read transaction: writers commit as usual, and the
// WAL grows by what they write meanwhile (checkpoints cannot pass the
// snapshot's read mark until it ends). In rollback-journal mode a long read
// would block every commit, and with commits in between the backup must
// start over; the copy is first tried in short read transactions, and after
// SnapshotOptions::max_restarts restarts it is done under the cross-process
// write lock, so that writers wait in the queue for its duration (readers
// do not) — SnapshotResult says which happened. See docs/snapshots.md.
//
// VerifySnapshot() recomputes the checksum, compares it and the size with
// the manifest, and runs PRAGMA integrity_check. Restore() verifies first,
// refuses while another instance has the database open (unless asked to
// take over), keeps the current database as a "pre-restore" snapshot, then
// copies the snapshot into the live database through SQLite — a single
// write transaction that other connections see like any other — and checks
// the result. Files are never renamed under open connections.
//
// Errors (Status codes; the messages start with the phrase in quotes):
//   kNotFound           snapshot, manifest or database missing
//   kCorruption         "manifest malformed", "size mismatch",
//                       "checksum mismatch", "header mismatch",
//                       "integrity check failed"
//   kFailedPrecondition restore while another instance is live; page sizes
//                       that WAL mode cannot change
//   kResourceExhausted  disk full (nothing is left behind)
//
// Thread safety: the functions are safe for concurrent use, including
// several snapshots of one database into one directory. The progress
// callback is never called concurrently with itself, but may be called from
// threads of the call (the checksum and the integrity check run side by
// side) or, for work done under the write lock (a rollback-journal copy
// under the lock, a restore), from the thread that leads the database's
// write batch. It must return quickly and must not call into the Database.
#ifndef SQLSTEWARD_SNAPSHOT_H_
#define SQLSTEWARD_SNAPSHOT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward {

class Database;

enum class IntegrityCheck {
  kNone,
  // PRAGMA quick_check: page structure and record formats, O(N).
  kQuick,
  // PRAGMA integrity_check: quick_check plus index contents, O(N log N).
  kFull,
};
// "none", "quick", "full".
std::string_view IntegrityCheckName(IntegrityCheck check);
// Parses IntegrityCheckName's output; kInvalidArgument otherwise.
Result<IntegrityCheck> ParseIntegrityCheck(std::string_view name);

enum class SnapshotPhase {
  kCopy,            // Backup API: pages of the source into the temporary file.
  kSync,            // fsync of the copy.
  kChecksum,        // sha256 of the file.
  kIntegrityCheck,  // PRAGMA quick_check / integrity_check.
  kPreRestore,      // Restore: the live database copied aside.
  kRestore,         // Restore: pages of the snapshot into the live database.
};
// "copy", "sync", "checksum", "integrity_check", "pre_restore", "restore".
std::string_view SnapshotPhaseName(SnapshotPhase phase);

struct SnapshotProgress {
  SnapshotPhase phase = SnapshotPhase::kCopy;
  // Pages of the phase done and in all; for kChecksum the file's size in
  // pages. An integrity check reports only its start (0) and end (total).
  std::int64_t pages_done = 0;
  std::int64_t pages_total = 0;
  std::int64_t page_size = 0;
  // pages_done * page_size.
  std::int64_t bytes_done = 0;
  // Since the phase began.
  std::chrono::nanoseconds elapsed{0};
  // The phase's last report.
  bool finished = false;
  // Times the copy started over because the source changed (rollback
  // journal only; see the top of this file).
  int restarts = 0;
};
using SnapshotProgressFn = std::function<void(const SnapshotProgress&)>;

// How a snapshot's copy is made (docs/snapshots.md, "How the copy is made").
enum class SnapshotCopyMethod {
  // WAL mode: the file copy when its preconditions hold, else the backup
  // API. Rollback journal: the backup API.
  kAuto,
  // The database file in large reads with the snapshot's WAL frames laid
  // over it, hashed while it is written (WAL mode only). As an option: the
  // file copy or an error (kFailedPrecondition, saying which precondition
  // failed), never the backup API.
  kFileCopy,
  // SQLite's backup API, a page at a time.
  kBackupApi,
};

struct SnapshotOptions {
  // The check run on the copy before it is published.
  IntegrityCheck integrity = IntegrityCheck::kQuick;
  // After a successful snapshot, keep only the newest `keep` snapshots of
  // this database in the directory (with their manifests); 0 keeps all.
  // Only files that form a snapshot/manifest pair of this name and kind
  // "snapshot" are ever deleted; pre-restore snapshots are never deleted.
  int keep = 0;
  // File name prefix; empty: the database's file name without its
  // extension ("/data/app.db" -> "app").
  std::string name;
  // Pages copied per backup step, or per chunk of the file copy (at most
  // 1 MiB). Between steps the progress callback runs and, in
  // rollback-journal mode, writers may commit.
  int pages_per_step = 1024;
  // Called at the start and end of each phase and at most this often in
  // between.
  SnapshotProgressFn progress;
  std::chrono::milliseconds progress_interval{100};
  // Rollback-journal mode: restarts tolerated (or half a second of writers
  // keeping the database locked) before the copy is done under the write
  // lock. 0: under the write lock at once.
  int max_restarts = 2;
  // Bound on every wait for a lock (SQLite's, or the cross-process write
  // lock in rollback-journal mode). The copy itself is not bounded.
  std::chrono::milliseconds timeout{30'000};
  // Run the checksum, the integrity check and the fsync of the copy on
  // threads at nice +10, so that they yield the CPU to the application's
  // threads; on a busy machine the snapshot then takes longer. The copy
  // runs on the calling thread, at its priority, and so does the hash that
  // trails the file copy (it sets the copy's pace).
  bool background_priority = true;
  // kAuto unless a test or a cautious operator wants one method.
  SnapshotCopyMethod copy_method = SnapshotCopyMethod::kAuto;
};

// What a manifest records (docs/snapshots.md has the JSON).
struct SnapshotManifest {
  int format_version = 1;
  std::string kind;  // "snapshot" or "pre-restore".
  std::string file;  // The snapshot's file name, without directory.
  std::string sha256;
  std::int64_t size_bytes = 0;
  std::int64_t page_size = 0;
  std::int64_t page_count = 0;
  // PRAGMA user_version of the copy (the migrator keeps it equal to the
  // schema version).
  std::int64_t schema_version = 0;
  std::string source;               // Absolute path of the database copied.
  std::string source_journal_mode;  // "wal" or "delete".
  std::string created_at;           // UTC, "2024-05-01T10:00:00.123Z".
  std::int64_t created_unix_ms = 0;  // When the copy's read transaction began.
  std::string sqlite_version;
  std::string integrity_check;  // What ran on the copy: "quick", "full", "none".
};

struct SnapshotResult {
  std::string path;           // The snapshot file.
  std::string manifest_path;  // Its manifest.
  SnapshotManifest manifest;
  // Copy phase and the whole call.
  std::chrono::nanoseconds copy_time{0};
  std::chrono::nanoseconds total_time{0};
  // Rollback journal only: restarts, and whether the copy was finally made
  // under the write lock (writers waited for it). The restart that goes
  // past max_restarts is counted too, so after a copy under the lock
  // restarts is max_restarts + 1.
  int restarts = 0;
  bool copied_under_write_lock = false;
  // How the copy was made (kFileCopy or kBackupApi), and, when kAuto took
  // the backup API in WAL mode, which precondition of the file copy failed.
  SnapshotCopyMethod copy_method = SnapshotCopyMethod::kBackupApi;
  std::string fallback_reason;
  // Snapshot files deleted by retention, and stale temporary files of
  // earlier, interrupted snapshots that were removed (with any manifest a
  // crash left published without its snapshot).
  std::vector<std::string> removed;
  std::vector<std::string> removed_temporary;
};

// Snapshots the open database `db` into `dest_dir` (created 0700 if
// missing).
Result<SnapshotResult> Snapshot(Database& db, const std::string& dest_dir,
                                const SnapshotOptions& options = {});
// Opens the database at `db_path` (it must exist; `open_options` with
// create_if_missing forced off), snapshots it and closes it.
Result<SnapshotResult> Snapshot(const std::string& db_path, const std::string& dest_dir,
                                const SnapshotOptions& options = {},
                                Options open_options = {});

// "<dir>/app-20240501T100000Z-1.db" -> "<dir>/app-20240501T100000Z-1.manifest.json";
// a name not ending in ".db" gets ".manifest.json" appended.
std::string ManifestPathFor(const std::string& snapshot_path);

// Reads and checks the form of a manifest: kNotFound when missing,
// kFailedPrecondition when it is a symbolic link, a FIFO, a directory or
// anything but a regular file (never followed or waited on), kCorruption
// ("manifest malformed: ...") when it is not one.
Result<SnapshotManifest> ReadManifest(const std::string& manifest_path);

struct VerifyOptions {
  IntegrityCheck integrity = IntegrityCheck::kFull;
  SnapshotProgressFn progress;
  std::chrono::milliseconds progress_interval{100};
};

struct VerifyResult {
  std::string path;
  std::string manifest_path;
  SnapshotManifest manifest;
  std::chrono::nanoseconds total_time{0};
};

// Checks a snapshot against its manifest: size, sha256, page size and
// count, then the integrity check. OK means the file is exactly what was
// snapshotted and SQLite finds it sound.
Result<VerifyResult> VerifySnapshot(const std::string& snapshot_path,
                                    const VerifyOptions& options = {});

struct RestoreOptions {
  // When other instances have the database open: ask every one of them to
  // hand over (sqlsteward/instances.h) and wait up to handover_timeout,
  // instead of refusing. Only Restore(snapshot, db_path) does this.
  bool take_over = false;
  std::chrono::milliseconds handover_timeout{10'000};
  // The wait for the write lock.
  std::chrono::milliseconds timeout{30'000};
  // The check of the snapshot before anything is touched, and of the live
  // database after the restore.
  IntegrityCheck verify_integrity = IntegrityCheck::kFull;
  IntegrityCheck after_integrity = IntegrityCheck::kFull;
  // Where the current database is kept, as
  // <name>-pre-restore-<yyyymmddThhmmssZ>-<seq>.db with a manifest; empty:
  // the snapshot's directory. Skipped when the database has no pages yet.
  std::string pre_restore_dir;
  SnapshotProgressFn progress;
  std::chrono::milliseconds progress_interval{100};
  int pages_per_step = 1024;
};

struct RestoreResult {
  VerifyResult verified;
  // Empty path when there was nothing to keep.
  SnapshotResult pre_restore;
  std::int64_t pages_restored = 0;
  std::chrono::nanoseconds total_time{0};
  // A damaged database (not a database, corrupted pages, truncated) is not
  // copied aside but moved: its files' new paths, database first, named
  // `<db>.damaged-<yyyymmddThhmmssZ>[-wal|-shm|-journal]`, and what was
  // wrong with it. Empty for a healthy, missing or empty database.
  std::vector<std::string> damaged_kept;
  std::string damaged_reason;
};

// Restores `snapshot_path` into the database at `db_path`: verifies the
// snapshot, refuses with kFailedPrecondition while other instances have the
// database open (naming them) unless options.take_over, opens it
// exclusively (`open_options`, ownership forced to kExclusive), keeps the
// current content as a pre-restore snapshot and restores. A damaged
// database is moved aside instead (damaged_kept), and moved back if the
// restore fails. kInvalidArgument when `snapshot_path` and `db_path` are
// one file (also through a hard link or a linked directory), before
// anything is written.
Result<RestoreResult> Restore(const std::string& snapshot_path, const std::string& db_path,
                              const RestoreOptions& options = {}, Options open_options = {});
// The same into a database this process has open. Refuses with
// kFailedPrecondition while any other instance (another process) has it
// open; take_over is not available here (open `db` with
// Options::take_over and Ownership::kExclusive instead).
Result<RestoreResult> Restore(Database& db, const std::string& snapshot_path,
                              const RestoreOptions& options = {});

}  // namespace sqlsteward

#endif  // SQLSTEWARD_SNAPSHOT_H_
