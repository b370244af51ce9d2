// Verify: a snapshot is trusted only when it is exactly the file its
// manifest describes and SQLite finds it sound. The checks go from cheap to
// dear, each failing with its own message (sqlsteward/snapshot.h lists
// them): the snapshot and its manifest exist as regular files (no link,
// FIFO or directory is followed or waited on) and the manifest parses; the
// size matches; the sha256 of every byte matches; the header's page size
// and count match; the integrity check passes.
#include "snapshot/verify.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>

#include "base/status_builders.h"
#include "posix/read_only.h"
#include "snapshot/checksum.h"
#include "snapshot/entry_points.h"
#include "snapshot/integrity.h"
#include "snapshot/manifest.h"
#include "snapshot/sqlite_util.h"

namespace sqlsteward {

namespace internal {
namespace {

constexpr char kDamagedHint[] =
    "the snapshot is not the file its manifest describes (damaged, truncated or replaced): "
    "do not restore it; use another snapshot";

// The page size and count in the snapshot's header against its manifest's.
Status CheckHeader(sqlite3* db, const std::string& snapshot_path, const SnapshotManifest& m) {
  auto page_size = QueryInt(db, "PRAGMA page_size", snapshot_path);
  auto page_count = QueryInt(db, "PRAGMA page_count", snapshot_path);
  if (!page_size.has_value() || !page_count.has_value() || *page_size != m.page_size ||
      *page_count != m.page_count) {
    std::string seen =
        page_size.has_value() && page_count.has_value()
            ? std::to_string(*page_count) + " pages of " + std::to_string(*page_size) + " bytes"
            : "no readable header";
    return Corruption("header mismatch: " + snapshot_path + " has " + seen +
                          ", its manifest says " + std::to_string(m.page_count) + " pages of " +
                          std::to_string(m.page_size) + " bytes",
                      kDamagedHint);
  }
  return Status();
}

// The name `path` still names the regular file `opened` (the fstat of the
// descriptor read so far).
Status CheckStillTheSameFile(posix::Env* env, const std::string& path, const struct stat& opened) {
  struct stat now;
  if (env->Lstat(path.c_str(), &now) != 0) return posix::ErrnoStatus(errno, "stat", path);
  if (!S_ISREG(now.st_mode) || now.st_dev != opened.st_dev || now.st_ino != opened.st_ino) {
    return Corruption("snapshot " + path + " was replaced while it was verified",
                      "something else is writing the snapshot directory; snapshots must not be "
                      "modified: verify again once it stopped");
  }
  return Status();
}

}  // namespace

Result<VerifyResult> Verify(posix::Env* env, const std::string& snapshot_path,
                            IntegrityCheck integrity, Reporter* reporter) {
  const auto start = std::chrono::steady_clock::now();
  VerifyResult result;
  result.path = snapshot_path;
  result.manifest_path = ManifestPathFor(snapshot_path);

  // Opened as every file we only read is (posix/read_only.h): a link, a
  // FIFO or a directory in its place is refused without blocking. No size
  // bound: a snapshot may be GiBs, and it is hashed in chunks, not loaded.
  struct stat st;
  auto opened = posix::OpenRegularForReading(env, snapshot_path, "snapshot", &st);
  if (!opened.has_value()) {
    if (opened.error().code() == StatusCode::kNotFound) {
      return NotFound("snapshot " + snapshot_path + " does not exist",
                      "check the path; `ls` the snapshot directory for *.db files", 0, ENOENT);
    }
    return std::move(opened).error();
  }
  posix::UniqueFd fd = std::move(opened).value();
  SQLSTEWARD_ASSIGN_OR_RETURN(result.manifest, ReadManifest(env, result.manifest_path));
  const SnapshotManifest& m = result.manifest;

  if (st.st_size != m.size_bytes) {
    return Corruption("size mismatch: " + snapshot_path + " has " + std::to_string(st.st_size) +
                          " bytes, its manifest says " + std::to_string(m.size_bytes),
                      kDamagedHint);
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(
      std::string sha, HashFile(env, fd.get(), snapshot_path, m.size_bytes, m.page_size, reporter));
  if (sha != m.sha256) {
    return Corruption("checksum mismatch: the sha256 of " + snapshot_path + " is " + sha +
                          ", its manifest says " + m.sha256,
                      kDamagedHint);
  }
  // SQLite opens the file by its name again: it must still be the file
  // just hashed, not a FIFO (whose open would block) or another file put
  // in its place meanwhile.
  SQLSTEWARD_RETURN_IF_ERROR(CheckStillTheSameFile(env, snapshot_path, st));
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle db, OpenSnapshotFile(snapshot_path));
  SQLSTEWARD_RETURN_IF_ERROR(CheckHeader(db.get(), snapshot_path, m));
  if (integrity != IntegrityCheck::kNone) {
    reporter->Begin(SnapshotPhase::kIntegrityCheck, m.page_count, m.page_size);
    SQLSTEWARD_RETURN_IF_ERROR(RunIntegrityCheck(db.get(), integrity, snapshot_path));
    reporter->End(SnapshotPhase::kIntegrityCheck, m.page_count, m.page_count);
  }
  result.total_time = std::chrono::steady_clock::now() - start;
  return result;
}

Result<VerifyResult> VerifySnapshot(posix::Env* env, const std::string& snapshot_path,
                                    const VerifyOptions& options) {
  Reporter reporter(options.progress, options.progress_interval);
  return Verify(env, snapshot_path, options.integrity, &reporter);
}

}  // namespace internal

Result<VerifyResult> VerifySnapshot(const std::string& snapshot_path,
                                    const VerifyOptions& options) {
  return internal::VerifySnapshot(posix::Env::Default(), snapshot_path, options);
}

}  // namespace sqlsteward
