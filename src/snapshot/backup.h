// One run of SQLite's online backup API, stepped: the copy into a snapshot's
// temporary file, the pre-restore copy and the restore itself all go
// through RunBackup.
//
// Thread safety: a BackupRun is used by one thread; its connections must
// not be used by another thread meanwhile.
#ifndef SQLSTEWARD_SNAPSHOT_BACKUP_H_
#define SQLSTEWARD_SNAPSHOT_BACKUP_H_

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>

#include "snapshot/progress.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

struct BackupRun {
  sqlite3* dest = nullptr;
  sqlite3* source = nullptr;
  int pages_per_step = 1024;
  SnapshotPhase phase = SnapshotPhase::kCopy;
  // Restarts tolerated before giving up with kAborted; negative: any.
  int max_restarts = -1;
  std::chrono::steady_clock::time_point deadline{};
  Reporter* reporter = nullptr;
  std::int64_t page_size = 0;
  // Runs after each step (the snapshot starts writeback of what was copied).
  std::function<void()> after_step;
};

struct BackupOutcome {
  int restarts = 0;
  std::int64_t pages = 0;
};

// Runs the backup to completion. SQLite restarts a backup when the source
// changes between two steps through another connection; it shows as the
// count of copied pages not growing. Adds the restarts to out->restarts.
// kAborted when a run that may give up (max_restarts >= 0) restarts too
// often or finds the source locked for too long; kTimeout when the source
// stays locked past the deadline.
Status RunBackup(const BackupRun& run, BackupOutcome* out);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_BACKUP_H_
