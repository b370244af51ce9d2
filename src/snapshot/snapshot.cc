// Snapshot(): an online snapshot of a live database, published by
// CreateSnapshot (create.cc). This file is the copy, and why it does not
// stall writers:
//   WAL: a separate read-only connection (no checkpoint on close, no mmap)
//     runs BEGIN and one SELECT, and holds that read transaction for the
//     whole copy. The file copy (file_copy.cc, which proves it consistent)
//     reads the database file and the snapshot's WAL frames in that view;
//     where one of its preconditions fails, the backup API reads one
//     unchanging view of the database
//     and never restarts, whatever writers commit meanwhile (checked by
//     snapshot_test's WalSnapshotDoesNotRestartUnderWrites); writers are
//     not blocked at all, and checkpoints stop at our read mark until the
//     copy ends (the WAL grows by what is written meanwhile).
//   Rollback journal: a read transaction held for the copy would block
//     every commit, and a writer waiting for it (PENDING lock) would block
//     every new reader too. So steps run in short read transactions; a
//     commit between two steps makes SQLite restart the backup. After
//     max_restarts restarts the copy is redone under the cross-process write
//     lock (DatabaseAccess::WithWriterConnection, reading through the writer's
//     connection): writers queue behind it, readers keep going.
#include "sqlsteward/snapshot.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <utility>

#include "base/status_builders.h"
#include "base/time.h"
#include "core/connection.h"
#include "core/database_access.h"
#include "core/engine.h"
#include "posix/env.h"
#include "snapshot/backup.h"
#include "snapshot/create.h"
#include "snapshot/entry_points.h"
#include "snapshot/file_copy.h"
#include "snapshot/names.h"
#include "snapshot/progress.h"
#include "snapshot/source_vfs.h"
#include "snapshot/sqlite_util.h"
#include "snapshot/staged_dump.h"
#include "snapshot/temp_file.h"
#include "sqlsteward/database.h"

namespace sqlsteward {

namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

// copy_method kFileCopy, and a precondition of the file copy failed.
Status FileCopyRefused(const Status& why) {
  return FailedPrecondition(std::string(why.message()),
                            "take the snapshot with copy_method kAuto, which then uses SQLite's "
                            "backup API");
}

// WAL, or rollback journal while restarts are tolerated: the copy through a
// read-only connection of our own. Returns an error of the setup; the
// copy's own result goes to *copied, where in rollback-journal mode
// kAborted means "too many restarts": the caller copies under the write lock.
// In WAL mode the file copy (file_copy.h) is taken when its preconditions
// hold, otherwise the backup API inside the same read transaction.
Status CopyThroughOwnConnection(Database& db, const SnapshotOptions& options, BackupRun& run,
                                TempSnapshot& temp, CopyOutcome* outcome, Status* copied) {
  const std::string& path = db.path();
  const bool wal = db.journal_mode() == JournalMode::kWal;
  // The same VFS as the database's own connections, so that its locks
  // meet theirs; in WAL mode with the source VFS stacked on it, which
  // tells the file copy which snapshot the read transaction holds.
  std::string vfs = DatabaseAccess::Vfs(db);
  bool try_file_copy = wal && options.copy_method != SnapshotCopyMethod::kBackupApi;
  if (try_file_copy) {
    auto source_vfs = RegisterSnapshotSourceVfs(vfs);
    if (source_vfs.has_value()) {
      vfs = std::move(source_vfs).value();
    } else {
      if (options.copy_method == SnapshotCopyMethod::kFileCopy) {
        return FileCopyRefused(source_vfs.error());
      }
      outcome->fallback_reason = std::string(source_vfs.error().message());
      try_file_copy = false;
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(run.deadline - Clock::now());
  const int remaining_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 1, 1 << 30));
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle source,
                              OpenSqlite(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, path,
                                         vfs.empty() ? nullptr : vfs.c_str()));
  sqlite3_busy_timeout(source.get(), remaining_ms);
  SQLSTEWARD_RETURN_IF_ERROR(Exec(source.get(), "PRAGMA mmap_size=0", "configure " + path));
  SQLSTEWARD_ASSIGN_OR_RETURN(run.page_size, QueryInt(source.get(), "PRAGMA page_size", path));
  if (wal) {
    // One read transaction for the whole copy: one unchanging view.
    SQLSTEWARD_RETURN_IF_ERROR(Exec(source.get(), "BEGIN; SELECT 1 FROM sqlite_master LIMIT 1",
                                    "start the snapshot's read transaction on " + path));
    SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t pages,
                                QueryInt(source.get(), "PRAGMA page_count", path));
    SQLSTEWARD_RETURN_IF_ERROR(temp.Preallocate(pages * run.page_size));
  } else {
    // Steps take SQLite's lock themselves; BUSY is retried by RunBackup.
    sqlite3_busy_timeout(source.get(), 0);
  }
  outcome->created_unix_ms = WallClockUnixMs();
  if (try_file_copy) {
    auto plan = PlanFileCopy(source.get(), path);
    if (plan.has_value()) {
      FileCopyRun file_run;
      file_run.env = DatabaseAccess::Env(db);
      file_run.reporter = run.reporter;
      file_run.chunk_pages = options.pages_per_step;
      auto sha = RunFileCopy(*plan, file_run, temp, path);
      Exec(source.get(), "COMMIT", "end the snapshot's read transaction").IgnoreError();
      outcome->file_copy = true;
      if (sha.has_value()) {
        outcome->sha256 = std::move(sha).value();
      } else {
        *copied = std::move(sha).error();
      }
      return Status();
    }
    if (plan.error().code() != StatusCode::kFailedPrecondition) return std::move(plan).error();
    if (options.copy_method == SnapshotCopyMethod::kFileCopy) return FileCopyRefused(plan.error());
    outcome->fallback_reason = std::string(plan.error().message());
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(run.dest, temp.Connection());
  run.source = source.get();
  run.max_restarts = wal ? -1 : options.max_restarts;
  run.after_step = [&temp] { temp.StartWriteback(); };
  BackupOutcome backup;
  *copied = RunBackup(run, &backup);
  outcome->restarts = backup.restarts;
  if (wal) Exec(source.get(), "COMMIT", "end the snapshot's read transaction").IgnoreError();
  return Status();
}

// Rollback journal with writers about: copy under the write lock, reading
// through the writer's connection.
Status CopyUnderWriteLock(Database& db, BackupRun& run, TempSnapshot& temp, CopyOutcome* outcome) {
  const std::string& path = db.path();
  outcome->under_write_lock = true;
  return DatabaseAccess::WithWriterConnection(
      db,
      [&](Connection& conn) -> Status {
        sqlite3* writer = conn.handle();
        outcome->created_unix_ms = WallClockUnixMs();
        SQLSTEWARD_ASSIGN_OR_RETURN(run.page_size, QueryInt(writer, "PRAGMA page_size", path));
        SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t pages,
                                    QueryInt(writer, "PRAGMA page_count", path));
        SQLSTEWARD_RETURN_IF_ERROR(temp.Preallocate(pages * run.page_size));
        SQLSTEWARD_ASSIGN_OR_RETURN(run.dest, temp.Connection());
        run.source = writer;
        run.max_restarts = -1;
        run.after_step = [&temp] { temp.StartWriteback(); };
        BackupOutcome backup;
        Status st = RunBackup(run, &backup);
        outcome->restarts += backup.restarts;
        return st;
      },
      run.deadline, "snapshot");
}

// The copy strategy of Snapshot(Database&); see the top of this file.
Status CopyFromDatabase(Database& db, const SnapshotOptions& options, Reporter* reporter,
                        TempSnapshot& temp, CopyOutcome* outcome) {
  BackupRun run;
  run.pages_per_step = options.pages_per_step;
  run.phase = SnapshotPhase::kCopy;
  run.deadline = Clock::now() + options.timeout;
  run.reporter = reporter;
  if (options.copy_method == SnapshotCopyMethod::kFileCopy &&
      db.journal_mode() != JournalMode::kWal) {
    return FailedPrecondition("the file copy needs a database in WAL mode",
                              "take the snapshot with copy_method kAuto or kBackupApi");
  }
  if (db.journal_mode() == JournalMode::kWal || options.max_restarts > 0) {
    Status copied;
    SQLSTEWARD_RETURN_IF_ERROR(CopyThroughOwnConnection(db, options, run, temp, outcome, &copied));
    if (copied.ok() || copied.code() != StatusCode::kAborted ||
        db.journal_mode() == JournalMode::kWal) {
      return copied;
    }
    SQLSTEWARD_RETURN_IF_ERROR(temp.Reset());
  }
  return CopyUnderWriteLock(db, run, temp, outcome);
}

}  // namespace

Result<SnapshotResult> Snapshot(posix::Env* env, const std::string& db_path,
                                const std::string& dest_dir, const SnapshotOptions& options,
                                Options open_options) {
  open_options.create_if_missing = false;
  if (std::string_view(db_path).starts_with("dqlite://")) {
    auto cluster = Database::Open(db_path, open_options);
    if (!cluster.has_value()) return std::move(cluster).error();
    auto result = sqlsteward::Snapshot(**cluster, dest_dir, options);
    Status closed = (*cluster)->Close();
    if (result.has_value() && !closed.ok()) return closed;
    return result;
  }
  struct stat st;
  if (env->Stat(db_path.c_str(), &st) != 0 && errno == ENOENT) {
    return NotFound("database " + db_path + " does not exist", "check the path", 0, ENOENT);
  }
  auto opened = DatabaseAccess::OpenWithEnv(db_path, open_options, env);
  if (!opened.has_value() && opened.error().code() == StatusCode::kResourceExhausted &&
      !open_options.read_only) {
    // The database's disk is full: registering (the claim file) needs a
    // few bytes there, a snapshot elsewhere needs none. A read-only handle
    // writes nothing beside the database; the copy reads it as any reader.
    open_options.read_only = true;
    auto read_only = DatabaseAccess::OpenWithEnv(db_path, open_options, env);
    if (read_only.has_value()) opened = std::move(read_only);
  }
  if (!opened.has_value()) return std::move(opened).error();
  std::unique_ptr<Database> db = std::move(opened).value();
  auto result = sqlsteward::Snapshot(*db, dest_dir, options);
  Status closed = db->Close();
  if (result.has_value() && !closed.ok()) return closed;
  return result;
}

}  // namespace internal

Result<SnapshotResult> Snapshot(Database& db, const std::string& dest_dir,
                                const SnapshotOptions& options) {
  const std::string name = options.name.empty() ? internal::DefaultName(db.path()) : options.name;
  SQLSTEWARD_RETURN_IF_ERROR(internal::CheckName(name));
  if (options.keep < 0) {
    return InvalidArgument("keep must be 0 (all) or more", "pass the number of snapshots to keep");
  }
  internal::Reporter reporter(options.progress, options.progress_interval);
  // A cluster's database is dumped by its leader and staged as a local
  // file: from there on the copy is the same (snapshot/staged_dump.h).
  Database* source = &db;
  std::unique_ptr<internal::StagedDump> staged;
  std::unique_ptr<Database> staged_db;
  if (internal::Engine* engine = internal::DatabaseAccess::EngineOf(db)) {
    auto dumped = internal::StagedDump::Create(
        *engine, dest_dir, std::chrono::steady_clock::now() + options.timeout);
    if (!dumped.has_value()) return std::move(dumped).error().WithContext("snapshot " + db.path());
    staged = std::move(dumped).value();
    auto opened = internal::DatabaseAccess::OpenWithEnv(staged->path(), Options(),
                                                        internal::DatabaseAccess::Env(db));
    if (!opened.has_value()) {
      return std::move(opened).error().WithContext("snapshot " + db.path() + ": open its dump");
    }
    staged_db = std::move(opened).value();
    source = staged_db.get();
  }
  internal::SnapshotJob job;
  job.env = internal::DatabaseAccess::Env(db);
  job.dest_dir = dest_dir;
  job.prefix = name;
  job.kind = "snapshot";
  job.source = staged != nullptr ? db.path() : internal::AbsolutePath(db.path());
  job.source_mode = db.journal_mode();
  job.integrity = options.integrity;
  job.keep = options.keep;
  job.background_priority = options.background_priority;
  job.copy = [&](internal::TempSnapshot& temp, internal::CopyOutcome* outcome) {
    return internal::CopyFromDatabase(*source, options, &reporter, temp, outcome);
  };
  auto result = internal::CreateSnapshot(job, &reporter);
  if (staged_db != nullptr) staged_db->Close().IgnoreError();
  if (!result.has_value()) return std::move(result).error().WithContext("snapshot " + db.path());
  return result;
}

Result<SnapshotResult> Snapshot(const std::string& db_path, const std::string& dest_dir,
                                const SnapshotOptions& options, Options open_options) {
  return internal::Snapshot(posix::Env::Default(), db_path, dest_dir, options,
                            std::move(open_options));
}

}  // namespace sqlsteward
