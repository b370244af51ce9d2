// Handover between instances: a successor writes (seq + 1, its pid) into
// the owner's slot and waits, queued in the kernel, for the owner's slot
// lock. The owner's heartbeat thread (registry.h) sees the request within
// one interval, marks its slot stepping-down, steps down (finishes the
// running batch, fails later writes as handed over, checkpoints under the
// write lock), then frees and unlocks its slot; the successor's wait
// returns at once.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_SIDECAR_HANDOVER_H_
#define SQLSTEWARD_SIDECAR_HANDOVER_H_

#include <chrono>
#include <string>

#include "posix/env.h"
#include "sidecar/format.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// "pid 123 on host web-1 (started 2024-05-01T10:00:00Z, exclusive)"
std::string DescribeInstance(const InstanceInfo& info);

// Asks the instance in `slot` to hand over: writes (its last seq + 1, our
// pid) into its handover field through `fd`, a descriptor of the sidecar.
Status WriteHandoverRequest(posix::Env* env, int fd, const std::string& sidecar_path,
                            const Slot& slot);

// Waits, queued in the kernel, until the instance's slot lock is released.
// kTimeout says `why` and names the instance.
Status WaitForSlotRelease(posix::Env* env, int fd, const InstanceInfo& info,
                          std::chrono::steady_clock::time_point deadline, const std::string& why);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_HANDOVER_H_
