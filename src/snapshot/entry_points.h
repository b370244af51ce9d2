// The public entry points that have no Database handle, with the Env they
// do their file operations through passed in. The public functions of
// sqlsteward/snapshot.h call these with posix::Env::Default(); tests pass a
// FaultEnv (tests/support/fault_env.h). A database they open is opened
// with the same Env.
//
// Thread safety: as their public counterparts.
#ifndef SQLSTEWARD_SNAPSHOT_ENTRY_POINTS_H_
#define SQLSTEWARD_SNAPSHOT_ENTRY_POINTS_H_

#include <string>

#include "posix/env.h"
#include "sqlsteward/options.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

Result<SnapshotResult> Snapshot(posix::Env* env, const std::string& db_path,
                                const std::string& dest_dir, const SnapshotOptions& options,
                                Options open_options);

Result<VerifyResult> VerifySnapshot(posix::Env* env, const std::string& snapshot_path,
                                    const VerifyOptions& options);

Result<RestoreResult> Restore(posix::Env* env, const std::string& snapshot_path,
                              const std::string& db_path, const RestoreOptions& options,
                              Options open_options);

// ReadManifest is in snapshot/manifest.h.

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_ENTRY_POINTS_H_
