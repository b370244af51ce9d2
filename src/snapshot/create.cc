// Publishing a snapshot (all in DEST_DIR, so that renames are atomic):
//   1. Stale temporaries of dead snapshotters are removed (see 2 for how
//      they are told apart from live ones).
//   2. `.snapshot-<hex>.tmp` is created and locked as in use
//      (temp_file.h says how the lock tells live temporaries from dead).
//   3. The copy (SnapshotJob::copy): in WAL mode usually the file copy
//      (file_copy.cc), which writes the file through the Env, header bytes
//      18-19 already 1, and hashes it as it goes; otherwise the backup API:
//      a private SQLite connection on the temporary file (journal_mode=OFF:
//      no journal beside it; synchronous=OFF: we fsync once at the end) is
//      the backup's destination. The copy keeps the source's header bytes
//      18-19, which say "WAL" when the source is in WAL mode; they are reset
//      to 1 (rollback journal) so that a snapshot is one self-contained
//      file that opens without -wal/-shm files.
//   4. fsync; then, in parallel, the integrity check (its own read-only,
//      immutable connection) and the sha256 of the file (unless the copy
//      hashed it).
//   5. Under an flock on DEST_DIR (snapshotters of one directory publish one
//      at a time; the lock is not held during the copy): choose <seq>, write
//      the manifest to `.snapshot-<hex>.manifest.tmp`, fsync, rename it to
//      its final name, rename the snapshot to its final name, fsync the
//      directory, apply retention.
// A snapshot exists exactly when its final .db name exists, and then its
// manifest exists too. Any failure removes the temporaries; a crash leaves
// them for step 1 of the next snapshot.
#include "snapshot/create.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "base/status_builders.h"
#include "base/time.h"
#include "posix/fs.h"
#include "snapshot/checksum.h"
#include "snapshot/file_io.h"
#include "snapshot/integrity.h"
#include "snapshot/manifest.h"
#include "snapshot/names.h"
#include "snapshot/retention.h"
#include "snapshot/sqlite_util.h"

namespace sqlsteward::internal {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view JournalModeName(JournalMode mode) {
  return mode == JournalMode::kWal ? "wal" : "delete";
}

// Nice +10 for the calling thread (Linux: the nice value is per thread).
// Best effort.
void LowerThreadPriority() { ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10); }

// An flock on a directory: snapshotters of one directory publish (choose a
// name, rename, apply retention) one at a time. flock rather than an OFD
// lock: a directory cannot be opened for writing, which F_WRLCK requires.
class DirectoryLock {
 public:
  static Result<DirectoryLock> Acquire(posix::Env* env, const std::string& dir) {
    int fd = env->Open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return posix::ErrnoStatus(errno, "open", dir);
    posix::UniqueFd guard(env, fd);
    if (env->Flock(fd, LOCK_EX) != 0) return posix::ErrnoStatus(errno, "flock", dir);
    return DirectoryLock(std::move(guard));
  }

 private:
  explicit DirectoryLock(posix::UniqueFd fd) : fd_(std::move(fd)) {}
  posix::UniqueFd fd_;  // Closing it releases the lock.
};

struct FileFacts {
  std::int64_t page_size = 0;
  std::int64_t page_count = 0;
  std::int64_t user_version = 0;
};

// The copy's page size, page count and schema version, and its integrity
// check, through a read-only immutable connection.
Result<FileFacts> CheckCopy(const std::string& path, IntegrityCheck integrity, Reporter* reporter) {
  // Not memory-mapped, though that would make the check 4x faster: the
  // munmap of a 1 GiB mapping at close takes ~40 ms with the process's
  // mmap lock held, and every thread of the process that faults a page in
  // meanwhile (the application's writers) waits for it. Through pread the
  // check still takes less time than the checksum running beside it.
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle db, OpenSnapshotFile(path));
  FileFacts facts;
  SQLSTEWARD_ASSIGN_OR_RETURN(facts.page_size, QueryInt(db.get(), "PRAGMA page_size", path));
  SQLSTEWARD_ASSIGN_OR_RETURN(facts.page_count, QueryInt(db.get(), "PRAGMA page_count", path));
  SQLSTEWARD_ASSIGN_OR_RETURN(facts.user_version, QueryInt(db.get(), "PRAGMA user_version", path));
  if (integrity != IntegrityCheck::kNone) {
    reporter->Begin(SnapshotPhase::kIntegrityCheck, facts.page_count, facts.page_size);
    SQLSTEWARD_RETURN_IF_ERROR(RunIntegrityCheck(db.get(), integrity, path));
    reporter->End(SnapshotPhase::kIntegrityCheck, facts.page_count, facts.page_count);
  }
  return facts;
}

struct CheckedCopy {
  FileFacts facts;
  std::string sha256;
};

// Step 4. fsync (waiting on the disk), the integrity check (SQLite reading
// pages) and the checksum (reading bytes) are independent: together they
// cost the longest of the three. By default they run at a lower priority
// (SnapshotOptions::background_priority), so that on a small machine the
// application's own threads (its writers) do not wait for a CPU behind
// them. Nothing is published before all three succeeded.
// A copy that hashed what it wrote (`known_sha256`) is not hashed again.
Result<CheckedCopy> SyncCheckAndHash(const SnapshotJob& job, TempSnapshot& temp, std::int64_t size,
                                     const std::string& known_sha256, Reporter* reporter) {
  const auto lower = [&job] {
    if (job.background_priority) LowerThreadPriority();
  };
  Status synced;
  std::thread syncer([&] {
    lower();
    reporter->Begin(SnapshotPhase::kSync, 0, 0);
    synced = temp.Sync();
    reporter->End(SnapshotPhase::kSync, 0, 0);
  });
  Result<FileFacts> facts = Internal("not run");
  std::thread checker([&] {
    lower();
    facts = CheckCopy(temp.path(), job.integrity, reporter);
  });
  Result<std::string> sha = Internal("not run");
  if (known_sha256.empty()) {
    std::thread hasher([&] {
      lower();
      sha = HashFile(job.env, temp.fd(), temp.path(), size, 0, reporter);
    });
    hasher.join();
  } else {
    sha = known_sha256;
  }
  checker.join();
  syncer.join();
  SQLSTEWARD_RETURN_IF_ERROR(synced);
  if (!facts.has_value()) return std::move(facts).error().WithContext("check the copy");
  if (!sha.has_value()) return std::move(sha).error();
  if (facts->page_size * facts->page_count != size) {
    return Internal("the copy has " + std::to_string(size) + " bytes, its header says " +
                        std::to_string(facts->page_count) + " pages of " +
                        std::to_string(facts->page_size),
                    "this is a bug in sqlsteward; please report it");
  }
  return CheckedCopy{*facts, std::move(sha).value()};
}

// The manifest of a checked copy; `file` is chosen when it is published.
SnapshotManifest ManifestFor(const SnapshotJob& job, const CopyOutcome& outcome,
                             const CheckedCopy& copy, std::int64_t size) {
  SnapshotManifest m;
  m.format_version = kManifestFormatVersion;
  m.kind = job.kind;
  m.sha256 = copy.sha256;
  m.size_bytes = size;
  m.page_size = copy.facts.page_size;
  m.page_count = copy.facts.page_count;
  m.schema_version = copy.facts.user_version;
  m.source = job.source;
  m.source_journal_mode = std::string(JournalModeName(job.source_mode));
  m.created_unix_ms = outcome.created_unix_ms;
  m.created_at = IsoUtc(outcome.created_unix_ms, /*millis=*/true);
  m.sqlite_version = sqlite3_libversion();
  m.integrity_check = std::string(IntegrityCheckName(job.integrity));
  return m;
}

// Step 5: names, writes and renames the manifest and the snapshot under
// the directory's flock, then applies retention. Fills result->path,
// manifest_path, manifest.file and removed.
Status Publish(const SnapshotJob& job, TempSnapshot& temp, SnapshotResult* result) {
  posix::Env* env = job.env;
  SnapshotManifest& m = result->manifest;
  SQLSTEWARD_ASSIGN_OR_RETURN(DirectoryLock lock, DirectoryLock::Acquire(env, job.dest_dir));
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(env, job.dest_dir));
  const std::string stem = job.prefix + "-" + CompactUtc(m.created_unix_ms) + "-";
  const std::string final_stem = stem + std::to_string(NextSequence(names, stem));
  m.file = final_stem + ".db";
  result->path = JoinPath(job.dest_dir, m.file);
  // Appended, not `final_stem + std::string(...)`: g++ 12 at -O3 warns
  // (-Wrestrict) inside that operator+ of libstdc++.
  std::string manifest_name = final_stem;
  manifest_name += kManifestSuffix;
  result->manifest_path = JoinPath(job.dest_dir, manifest_name);
  SQLSTEWARD_ASSIGN_OR_RETURN(std::string json, ManifestToJson(m));
  SQLSTEWARD_RETURN_IF_ERROR(temp.WriteManifest(json + "\n"));
  SQLSTEWARD_RETURN_IF_ERROR(temp.Publish(result->path, result->manifest_path));
  // From here the snapshot exists, complete; a later error says so.
  SQLSTEWARD_RETURN_IF_ERROR(
      posix::SyncDirectory(env, job.dest_dir)
          .WithContext(result->path + " was written, but may not survive a power loss"));
  if (job.keep > 0) {
    auto removed =
        ApplyRetention(env, job.dest_dir, job.prefix, job.keep, m.file, WallClockUnixMs());
    if (!removed.has_value()) {
      return std::move(removed).error().WithContext(result->path +
                                                    " was taken, but retention failed");
    }
    result->removed = std::move(removed).value();
  }
  return Status();
}

}  // namespace

Result<SnapshotResult> CreateSnapshot(const SnapshotJob& job, Reporter* reporter) {
  posix::Env* env = job.env;
  const auto start = Clock::now();
  SnapshotResult result;
  SQLSTEWARD_RETURN_IF_ERROR(
      posix::MakeDirectories(env, job.dest_dir, "give a directory for the snapshots"));
  SQLSTEWARD_ASSIGN_OR_RETURN(result.removed_temporary, RemoveStaleTemporaries(env, job.dest_dir));
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<TempSnapshot> temp,
                              TempSnapshot::Create(env, job.dest_dir));

  CopyOutcome outcome;
  SQLSTEWARD_RETURN_IF_ERROR(job.copy(*temp, &outcome));
  result.copy_time = Clock::now() - start;
  result.restarts = outcome.restarts;
  result.copied_under_write_lock = outcome.under_write_lock;
  result.copy_method =
      outcome.file_copy ? SnapshotCopyMethod::kFileCopy : SnapshotCopyMethod::kBackupApi;
  result.fallback_reason = outcome.fallback_reason;
  SQLSTEWARD_RETURN_IF_ERROR(temp->CloseConnection());
  SQLSTEWARD_RETURN_IF_ERROR(temp->ResetWalHeader());
  SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t size, temp->Size());
  SQLSTEWARD_ASSIGN_OR_RETURN(CheckedCopy checked,
                              SyncCheckAndHash(job, *temp, size, outcome.sha256, reporter));
  result.manifest = ManifestFor(job, outcome, checked, size);
  SQLSTEWARD_RETURN_IF_ERROR(Publish(job, *temp, &result));
  result.total_time = Clock::now() - start;
  return result;
}

}  // namespace sqlsteward::internal
