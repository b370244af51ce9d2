// Restore copies a verified snapshot into the live database through the
// writer's connection (WithWriterConnection): one write transaction that every
// other connection sees as a commit (the backup bumps the schema cookie),
// atomic — a failed step rolls it back — and never a rename under open
// connections (sqlite.org/howtocorrupt.html, section 2). Before that, in
// the same job, the current content is snapshotted aside as
// `<name>-pre-restore-...`.
//
// Order: refuse a snapshot that is the database itself (one file under two
// names would be read while it is overwritten); verify the snapshot
// (nothing is touched before it is known good); refuse while other
// instances are live (or, from a path, ask them to hand over); move a
// damaged database aside (snapshot/damaged.h); then, under the write lock:
// keep the current content aside, copy the snapshot in, check the result.
//
// A copy that fails (a full disk) is rolled back, and leaves nothing
// behind: the WAL it grew is truncated while the write lock is still held
// (a rolled-back WAL keeps its size, and on a full disk that size is the
// space everything else needs), and the pre-restore snapshot, now a
// duplicate of the unchanged database, is removed.
#include <sqlite3.h>

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/status_builders.h"
#include "base/time.h"
#include "core/connection.h"
#include "core/database_access.h"
#include "posix/fs.h"
#include "sidecar/instances.h"
#include "snapshot/backup.h"
#include "snapshot/create.h"
#include "snapshot/damaged.h"
#include "snapshot/entry_points.h"
#include "snapshot/integrity.h"
#include "snapshot/names.h"
#include "snapshot/progress.h"
#include "snapshot/sqlite_util.h"
#include "snapshot/temp_file.h"
#include "snapshot/verify.h"
#include "sqlsteward/database.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/snapshot.h"

namespace sqlsteward {

namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

std::string DescribeInstances(const std::vector<InstanceInfo>& instances) {
  std::string out;
  for (const InstanceInfo& info : instances) {
    if (!out.empty()) out += ", ";
    out += "pid " + std::to_string(info.pid) + " on " +
           (info.host.empty() ? std::string("an unknown host") : info.host) + " (" +
           (info.ownership == Ownership::kExclusive ? "exclusive" : "shared") +
           (info.domain == InstanceDomain::kOtherDomain ? ", another lock domain" : "") + ")";
  }
  return out;
}

Status RefuseLiveInstances(posix::Env* env, const std::string& db_path, bool offer_take_over) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<InstanceInfo> others,
                              internal::OtherLiveInstances(env, db_path));
  if (others.empty()) return Status();
  return FailedPrecondition(
      "restore refused: " + std::to_string(others.size()) + " other instance" +
          (others.size() == 1 ? " has " : "s have ") + db_path +
          " open: " + DescribeInstances(others),
      offer_take_over ? "stop them first, or let them hand over: `sqlsteward restore --take-over` "
                        "(RestoreOptions::take_over) or `sqlsteward handover --all DB`"
                      : "stop them first, or have them hand over (`sqlsteward handover --all DB`)");
}

// kInvalidArgument when the snapshot and the database are one file: the
// same inode through another name, a hard link or a linked directory.
Status RefuseSameFile(posix::Env* env, const std::string& snapshot_path,
                      const std::string& db_path) {
  struct stat snap;
  struct stat db;
  if (env->Stat(snapshot_path.c_str(), &snap) != 0) return Status();  // Verify reports it.
  if (env->Stat(db_path.c_str(), &db) != 0) return Status();
  if (snap.st_dev != db.st_dev || snap.st_ino != db.st_ino) return Status();
  return InvalidArgument(
      "restore refused: the snapshot " + snapshot_path + " and the database " + db_path +
          " are the same file" + (snapshot_path == db_path ? "" : " (one inode under two names)"),
      "give a snapshot file as SNAPSHOT (one made by `sqlsteward snapshot DB DIR`) "
      "and the live database as DB; to check a file, use `sqlsteward verify`",
      0, EINVAL);
}

// One restore of a verified snapshot into `db`, and what it has done so far.
struct RestoreRun {
  Database& db;
  const std::string& snapshot_path;
  const RestoreOptions& options;
  Reporter* reporter;
  RestoreResult* result;
  std::string db_abs;   // The database's absolute path, for messages and manifests.
  std::string pre_dir;  // Where the pre-restore snapshot goes.
  Clock::time_point deadline;

  const SnapshotManifest& manifest() const { return result->verified.manifest; }
};

// After a failed copy-in, with the write lock still held: the transaction
// rolled back, the WAL it grew truncated, so the disk has its space back.
void CleanUpFailedCopy(const RestoreRun& r, sqlite3* writer) {
  if (!sqlite3_get_autocommit(writer)) Exec(writer, "ROLLBACK", r.db_abs).IgnoreError();
  if (r.db.journal_mode() == JournalMode::kWal) {
    sqlite3_wal_checkpoint_v2(writer, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  SnapshotResult& pre = r.result->pre_restore;
  if (!pre.path.empty()) {
    posix::Env* env = DatabaseAccess::Env(r.db);
    env->Unlink(pre.manifest_path.c_str());
    env->Unlink(pre.path.c_str());
    pre = SnapshotResult();
  }
}

// The live database at the state before the restore, as size and shape.
struct LiveFacts {
  std::int64_t pages = 0;
  std::int64_t page_size = 0;
  std::int64_t objects = 0;  // Rows of sqlite_master.
};

Result<LiveFacts> ReadLiveFacts(const RestoreRun& r, sqlite3* writer) {
  LiveFacts live;
  SQLSTEWARD_ASSIGN_OR_RETURN(live.pages, QueryInt(writer, "PRAGMA page_count", r.db_abs));
  SQLSTEWARD_ASSIGN_OR_RETURN(live.page_size, QueryInt(writer, "PRAGMA page_size", r.db_abs));
  if (r.db.journal_mode() == JournalMode::kWal && live.page_size != r.manifest().page_size &&
      live.pages > 0) {
    return FailedPrecondition("restore refused: the snapshot's page size is " +
                                  std::to_string(r.manifest().page_size) + " bytes and " +
                                  r.db_abs + "'s is " + std::to_string(live.page_size) +
                                  "; WAL mode cannot change it",
                              "restore into a new path (no database there yet), then move it into "
                              "place while nothing has it open");
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(live.objects,
                              QueryInt(writer, "SELECT count(*) FROM sqlite_master", r.db_abs));
  return live;
}

// The pre-restore copy: the live database, read through the writer's
// connection (the write lock is held), into the pre-restore temporary.
Status CopyLiveDatabase(const RestoreRun& r, sqlite3* writer, const LiveFacts& live,
                        TempSnapshot& temp, CopyOutcome* outcome) {
  outcome->created_unix_ms = WallClockUnixMs();
  SQLSTEWARD_RETURN_IF_ERROR(temp.Preallocate(live.pages * live.page_size));
  BackupRun run;
  SQLSTEWARD_ASSIGN_OR_RETURN(run.dest, temp.Connection());
  run.source = writer;
  run.pages_per_step = r.options.pages_per_step;
  run.phase = SnapshotPhase::kPreRestore;
  run.deadline = r.deadline;
  run.reporter = r.reporter;
  run.page_size = live.page_size;
  run.after_step = [&temp] { temp.StartWriteback(); };
  BackupOutcome backup;
  return RunBackup(run, &backup);
}

// Keeps the current content aside as <name>-pre-restore-<...>.db.
Result<SnapshotResult> KeepPreRestore(const RestoreRun& r, sqlite3* writer, const LiveFacts& live) {
  SnapshotJob job;
  job.env = DatabaseAccess::Env(r.db);
  job.dest_dir = r.pre_dir;
  job.prefix = DefaultName(r.db_abs) + std::string(kPreRestoreInfix);
  job.kind = "pre-restore";
  job.source = r.db_abs;
  job.source_mode = r.db.journal_mode();
  job.integrity = IntegrityCheck::kQuick;
  job.background_priority = false;  // We hold the write lock: be quick.
  job.copy = [&](TempSnapshot& temp, CopyOutcome* outcome) -> Status {
    return CopyLiveDatabase(r, writer, live, temp, outcome);
  };
  return CreateSnapshot(job, r.reporter);
}

// Copies the snapshot into the live database; returns the pages copied.
Result<std::int64_t> CopySnapshotIn(const RestoreRun& r, sqlite3* writer) {
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle source, OpenSnapshotFile(r.snapshot_path));
  BackupRun run;
  run.dest = writer;
  run.source = source.get();
  run.pages_per_step = r.options.pages_per_step;
  run.phase = SnapshotPhase::kRestore;
  run.deadline = r.deadline;
  run.reporter = r.reporter;
  run.page_size = r.manifest().page_size;
  BackupOutcome backup;
  SQLSTEWARD_RETURN_IF_ERROR(RunBackup(run, &backup)
                                 .WithContext("restore " + r.snapshot_path + " into " + r.db_abs +
                                              " (the database is unchanged)"));
  return backup.pages;
}

// The integrity check of the restored database; a failure says where the
// previous content is kept.
Status CheckAfterRestore(const RestoreRun& r, sqlite3* writer, std::int64_t pages) {
  const std::int64_t page_size = r.manifest().page_size;
  r.reporter->Begin(SnapshotPhase::kIntegrityCheck, pages, page_size);
  Status check = RunIntegrityCheck(writer, r.options.after_integrity, r.db_abs);
  if (!check.ok()) {
    const std::string& pre = r.result->pre_restore.path;
    return Status(check.code(), std::string(check.message()) + " (after the restore)",
                  pre.empty()
                      ? std::string(check.hint())
                      : "the previous database is kept in " + pre +
                            "; restore it with `sqlsteward restore " + pre + " " + r.db_abs + "`",
                  check.sqlite_code());
  }
  r.reporter->End(SnapshotPhase::kIntegrityCheck, pages, pages);
  return Status();
}

// The job run with the writer's connection, under the write lock.
Status RestoreUnderWriteLock(const RestoreRun& r, sqlite3* writer) {
  SQLSTEWARD_ASSIGN_OR_RETURN(LiveFacts live, ReadLiveFacts(r, writer));
  // A database with no schema yet (new, or never written) has
  // nothing worth keeping.
  if (live.pages > 1 || live.objects > 0) {
    auto pre = KeepPreRestore(r, writer, live);
    if (!pre.has_value()) {
      return std::move(pre).error().WithContext(
          "restore refused: could not keep the current database aside");
    }
    r.result->pre_restore = std::move(pre).value();
  }
  auto copied = CopySnapshotIn(r, writer);
  if (!copied.has_value()) {
    CleanUpFailedCopy(r, writer);
    return std::move(copied).error();
  }
  r.result->pages_restored = *copied;
  if (r.options.after_integrity != IntegrityCheck::kNone) {
    SQLSTEWARD_RETURN_IF_ERROR(CheckAfterRestore(r, writer, r.result->pages_restored));
  }
  // The restore left the whole database in the WAL: the write queue
  // checkpoints after this job, under the write lock.
  return Status();
}

Result<RestoreResult> RestoreVerified(Database& db, const std::string& snapshot_path,
                                      VerifyResult verified, const RestoreOptions& options,
                                      Reporter* reporter, Clock::time_point start) {
  SQLSTEWARD_RETURN_IF_ERROR(
      RefuseLiveInstances(DatabaseAccess::Env(db), db.path(), /*offer_take_over=*/false));
  RestoreResult result;
  result.verified = std::move(verified);
  const RestoreRun run{
      .db = db,
      .snapshot_path = snapshot_path,
      .options = options,
      .reporter = reporter,
      .result = &result,
      .db_abs = AbsolutePath(db.path()),
      .pre_dir =
          options.pre_restore_dir.empty() ? posix::DirName(snapshot_path) : options.pre_restore_dir,
      .deadline = Clock::now() + options.timeout,
  };
  Status restored = DatabaseAccess::WithWriterConnection(
      db, [&](Connection& conn) { return RestoreUnderWriteLock(run, conn.handle()); }, run.deadline,
      "restore");
  if (!restored.ok()) return restored;
  result.total_time = Clock::now() - start;
  return result;
}

// Verify first: nothing is touched before the snapshot is known good.
Result<VerifyResult> VerifyBeforeRestore(posix::Env* env, const std::string& snapshot_path,
                                         const RestoreOptions& options, Reporter* reporter) {
  auto verified = Verify(env, snapshot_path, options.verify_integrity, reporter);
  if (!verified.has_value()) {
    return std::move(verified).error().WithContext("restore refused");
  }
  return verified;
}

}  // namespace

// Restoring into a cluster would have to replace the database under every
// node's Raft log: not done; a snapshot restores into a local file.
Status RefuseCluster(const std::string& db_path) {
  if (!std::string_view(db_path).starts_with("dqlite://")) return Status();
  return FailedPrecondition(
      "restore into a cluster (" + db_path + ") is not supported",
      "restore into a local file (sqlsteward restore SNAPSHOT app.db), or load the rows into "
      "the cluster through Write(); see docs/cluster.md");
}

Result<RestoreResult> Restore(posix::Env* env, const std::string& snapshot_path,
                              const std::string& db_path, const RestoreOptions& options,
                              Options open_options) {
  const auto start = Clock::now();
  SQLSTEWARD_RETURN_IF_ERROR(RefuseCluster(db_path));
  SQLSTEWARD_RETURN_IF_ERROR(RefuseSameFile(env, snapshot_path, db_path));
  Reporter reporter(options.progress, options.progress_interval);
  SQLSTEWARD_ASSIGN_OR_RETURN(VerifyResult verified,
                              VerifyBeforeRestore(env, snapshot_path, options, &reporter));
  Status alone = RefuseLiveInstances(env, db_path, /*offer_take_over=*/true);
  if (!alone.ok()) {
    if (!options.take_over || alone.code() != StatusCode::kFailedPrecondition) return alone;
    SQLSTEWARD_RETURN_IF_ERROR(internal::RequestHandover(env, db_path, options.handover_timeout,
                                                         /*all=*/true)
                                   .WithContext("restore: hand over " + db_path));
  }
  // A damaged database cannot be copied aside through SQLite: move its
  // files aside instead, and restore into the free path.
  const DamageReport damage = ExamineDatabase(env, db_path);
  MovedAside moved;
  if (damage.damaged) {
    auto aside = MoveDamagedAside(env, db_path, WallClockUnixMs());
    if (!aside.has_value()) {
      return std::move(aside).error().WithContext("restore refused: " + db_path +
                                                  " is damaged (" + damage.why +
                                                  ") and could not be moved aside");
    }
    moved = std::move(aside).value();
  }
  open_options.ownership = Ownership::kExclusive;
  open_options.take_over = false;
  Result<RestoreResult> result = [&]() -> Result<RestoreResult> {
    auto db = DatabaseAccess::OpenWithEnv(db_path, open_options, env);
    if (!db.has_value()) return std::move(db).error().WithContext("restore: open " + db_path);
    auto restored =
        RestoreVerified(**db, snapshot_path, std::move(verified), options, &reporter, start);
    Status closed = (*db)->Close();
    if (restored.has_value() && !closed.ok()) return closed;
    return restored;
  }();
  if (moved.from.empty()) return result;
  if (!result.has_value()) {
    Status back = PutDamagedBack(env, db_path, moved);
    Status failed = std::move(result).error();
    return Status(failed.code(),
                  std::string(failed.message()) + " (" + db_path + " was damaged: " +
                      damage.why + "; " +
                      (back.ok() ? "it is back in place, unchanged)"
                                 : "it is kept in " + moved.to[0] + ")"),
                  std::string(failed.hint()), failed.sqlite_code(), failed.sys_errno());
  }
  result->damaged_kept = std::move(moved.to);
  result->damaged_reason = damage.why;
  return result;
}

}  // namespace internal

Result<RestoreResult> Restore(Database& db, const std::string& snapshot_path,
                              const RestoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SQLSTEWARD_RETURN_IF_ERROR(internal::RefuseCluster(db.path()));
  SQLSTEWARD_RETURN_IF_ERROR(
      internal::RefuseSameFile(internal::DatabaseAccess::Env(db), snapshot_path, db.path()));
  internal::Reporter reporter(options.progress, options.progress_interval);
  SQLSTEWARD_ASSIGN_OR_RETURN(VerifyResult verified,
                              internal::VerifyBeforeRestore(internal::DatabaseAccess::Env(db),
                                                            snapshot_path, options, &reporter));
  return internal::RestoreVerified(db, snapshot_path, std::move(verified), options, &reporter,
                                   start);
}

Result<RestoreResult> Restore(const std::string& snapshot_path, const std::string& db_path,
                              const RestoreOptions& options, Options open_options) {
  return internal::Restore(posix::Env::Default(), snapshot_path, db_path, options,
                           std::move(open_options));
}

}  // namespace sqlsteward
