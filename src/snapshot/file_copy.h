// The fast copy of a WAL database into a snapshot's temporary file: the
// database file in large reads, the WAL frames of the snapshot laid over
// it, hashed as it is written (file_copy.cc has the design and the proof
// of consistency).
//
// Thread safety: a FileCopy is used by one thread, the one that owns the
// read connection; the hash runs on a thread of its own inside Run().
#ifndef SQLSTEWARD_SNAPSHOT_FILE_COPY_H_
#define SQLSTEWARD_SNAPSHOT_FILE_COPY_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "posix/env.h"
#include "snapshot/progress.h"
#include "snapshot/source_vfs.h"
#include "snapshot/temp_file.h"
#include "snapshot/wal_frames.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

struct FileCopyPlan {
  SourceFiles files;
  ReadSlot slot;
  WalFrames frames;  // Empty when nothing is laid over (slot 0, or no frames).
  std::int64_t page_size = 0;
  std::int64_t page_count = 0;
};

// Checks the preconditions of the fast copy on `source`, a connection
// through the source VFS (source_vfs.h) inside its read transaction:
// kFailedPrecondition, saying which one failed, when the copy must go
// through the backup API instead.
Result<FileCopyPlan> PlanFileCopy(sqlite3* source, const std::string& path);

struct FileCopyRun {
  posix::Env* env = nullptr;
  Reporter* reporter = nullptr;
  std::int64_t chunk_pages = 1024;  // Pages per read, write and progress report (<= 1 MiB).
};

// Copies the snapshot of `plan` into `temp` (its header marked rollback
// journal; its space reserved by the caller) and returns the sha256 of
// what it wrote.
Result<std::string> RunFileCopy(const FileCopyPlan& plan, const FileCopyRun& run,
                                TempSnapshot& temp, const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_FILE_COPY_H_
