// Verification of a snapshot against its manifest, shared by
// VerifySnapshot() and Restore() (which verifies before it touches
// anything).
//
// Thread safety: safe for concurrent use.
#ifndef SQLSTEWARD_SNAPSHOT_VERIFY_H_
#define SQLSTEWARD_SNAPSHOT_VERIFY_H_

#include <string>

#include "posix/env.h"
#include "snapshot/progress.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// VerifySnapshot (sqlsteward/snapshot.h) through `env`, reporting to
// `reporter`.
Result<VerifyResult> Verify(posix::Env* env, const std::string& snapshot_path,
                            IntegrityCheck integrity, Reporter* reporter);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_VERIFY_H_
