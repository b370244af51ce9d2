// Retention: keeping the newest N snapshots of one name in a directory.
//
// Deleting is the one thing here that can lose data, so it is narrow: only
// a file whose name parses as `<prefix>-<timestamp>-<seq>.db` and whose
// manifest parses, names that very file and has kind "snapshot" is ever
// deleted (never a pre-restore snapshot, never a stranger's file), and the
// snapshot just published is spared whatever its name sorts as. Callers
// hold the directory's flock (create.cc), so two publishers never count
// the same files at once.
//
// Thread safety: safe for concurrent use under that flock.
#ifndef SQLSTEWARD_SNAPSHOT_RETENTION_H_
#define SQLSTEWARD_SNAPSHOT_RETENTION_H_

#include <string>
#include <string_view>
#include <vector>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// Deletes all but the newest `keep` snapshots named `prefix` in `dir`, and
// their manifests. A file is deleted only when it and its manifest exist,
// the manifest parses, names the file and has kind "snapshot". `spare` (a
// file name) is never deleted. Returns the paths of deleted snapshots.
Result<std::vector<std::string>> ApplyRetention(posix::Env* env, const std::string& dir,
                                                std::string_view prefix, int keep,
                                                std::string_view spare);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_RETENTION_H_
