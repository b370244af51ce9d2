// The progress display of snapshot, verify and restore.
#ifndef SQLSTEWARD_TOOLS_COMMON_PROGRESS_H_
#define SQLSTEWARD_TOOLS_COMMON_PROGRESS_H_

#include "sqlsteward/snapshot.h"

namespace sqlsteward::cli {

// On a terminal a bar with pages, rate and ETA redrawn in place; otherwise a
// plain line per finished phase and every 2 s; nullptr (no progress) when
// !enabled. The callback is called from one thread at a time.
SnapshotProgressFn SnapshotProgressPrinter(bool enabled);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_PROGRESS_H_
