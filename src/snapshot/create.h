// Making one snapshot file: copy into a temporary, check it, publish it
// under its final name with its manifest, apply retention. Snapshot()
// (snapshot.cc) and the pre-restore copy (restore.cc) differ only in how
// they fill the temporary: SnapshotJob::copy.
//
// Thread safety: CreateSnapshot is safe for concurrent use, also by other
// processes publishing into the same directory.
#ifndef SQLSTEWARD_SNAPSHOT_CREATE_H_
#define SQLSTEWARD_SNAPSHOT_CREATE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "posix/env.h"
#include "snapshot/progress.h"
#include "snapshot/temp_file.h"
#include "sqlsteward/options.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// What a copy tells the publisher.
struct CopyOutcome {
  std::int64_t created_unix_ms = 0;  // When the copy's read transaction began.
  int restarts = 0;
  bool under_write_lock = false;
  bool file_copy = false;       // Made by the file copy (file_copy.h), not the backup API.
  std::string fallback_reason;  // Why the file copy was not taken, when it was tried.
  std::string sha256;           // Of the file, when the copy hashed what it wrote.
};

// One snapshot to publish; `copy` fills the temporary file.
struct SnapshotJob {
  std::string dest_dir;
  std::string prefix;  // File names are <prefix>-<timestamp>-<seq>.db
  std::string kind;    // "snapshot" or "pre-restore"
  std::string source;  // Absolute path, for the manifest.
  JournalMode source_mode = JournalMode::kWal;
  IntegrityCheck integrity = IntegrityCheck::kQuick;
  int keep = 0;
  bool background_priority = true;
  std::function<Status(TempSnapshot& temp, CopyOutcome* outcome)> copy;
  posix::Env* env = nullptr;  // The source handle's.
};

// Makes and publishes the snapshot `job` describes. Nothing is published
// unless every step succeeded; every failure removes the temporaries.
Result<SnapshotResult> CreateSnapshot(const SnapshotJob& job, Reporter* reporter);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_CREATE_H_
