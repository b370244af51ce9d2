// Reading the instance slots and deciding, for each claimed one, how its
// instance relates to this process's lock domain.
//
// Classifying a claimed slot:
//   - lock visible                      -> alive, in our lock domain;
//   - lock not visible, same host, boot and pid namespace:
//       the pid is gone, a zombie, or another process (pid reuse) -> dead
//       (kill -9) -> reclaimed at once; the pid runs with the recorded
//       start time -> alive in ANOTHER lock domain (e.g. a second FUSE
//       mount of the directory) if its heartbeat also advances: a process
//       that is exiting has released its locks before /proc shows it gone;
//   - lock not visible, elsewhere: watch the heartbeat for two intervals
//     (a delta lease, as sanlock does on shared storage): advancing ->
//     another domain; still -> dead -> reclaimed.
// Reads that decide this see the file as it is now: where every reader
// shares one page cache (local filesystems, tmpfs, overlay) a plain read;
// elsewhere O_DIRECT, or a freshly opened descriptor, since through some
// mounts an fd that stays open reads stale bytes indefinitely.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_SIDECAR_SLOT_SCAN_H_
#define SQLSTEWARD_SIDECAR_SLOT_SCAN_H_

#include <chrono>
#include <string>
#include <vector>

#include "posix/env.h"
#include "sidecar/format.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// All slots as the filesystem holds them now (see above).
Result<std::vector<SlotRecord>> ReadSlotsFresh(posix::Env* env, const std::string& sidecar_path);

// Reads every claimed slot and classifies it; `lock_fd` is a descriptor of
// the sidecar whose own locks are excluded from the visibility test (-1:
// none). With `observe`, kUnknown slots are watched for two heartbeat
// intervals.
Result<std::vector<Slot>> ScanSlots(posix::Env* env, const std::string& sidecar_path, int lock_fd,
                                    bool observe, std::chrono::milliseconds interval);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_SLOT_SCAN_H_
