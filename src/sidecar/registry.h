// Registry: instance slots in the sidecar, ownership, handover, and the
// detection of instances in another lock domain.
//
// Slots (docs/formats.md): 128 records of 256 bytes from offset 4096. An
// open instance claims one, fills it (pid, the pid's start time, pid
// namespace, boot id, host, start time, ownership, state, heartbeat) and
// holds an exclusive OFD lock on the slot's first byte for its lifetime. A
// heartbeat thread advances the heartbeat every interval and reads the
// slot's handover request field.
//
// Classifying a claimed slot, from another instance's point of view:
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
// Reads that decide this go through a freshly opened descriptor: through
// some mounts an fd that stays open reads stale bytes indefinitely.
//
// Registration is serialised by an arbiter that works without locks: the
// file `<db>-steward.claim`, created with O_EXCL (atomic through FUSE, NFSv3+
// and local filesystems alike) and removed when the claim is written. Two
// instances starting at once in two lock domains therefore cannot both read
// the slots before the other's claim is there: the second sees the first and
// refuses. A claim file left by a crashed process is broken when its owner
// is provably dead (same host) or it is older than kClaimStaleMs.
//
// Handover: a successor writes (seq+1, its pid) into the owner's slot and
// waits, queued in the kernel, for the owner's slot lock. The owner's
// heartbeat thread sees the request within one interval, marks its slot
// stepping-down, calls the Database's step-down (finish the running batch,
// fail later writes as handed over, checkpoint under the write lock), then
// frees and unlocks its slot; the successor's wait returns at once.
//
// Thread safety: Register/Release from one thread; the heartbeat thread
// only touches the slot's own bytes. Scan functions are safe anywhere.
#ifndef SQLSTEWARD_SIDECAR_REGISTRY_H_
#define SQLSTEWARD_SIDECAR_REGISTRY_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "posix/env.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

inline constexpr std::int64_t kClaimStaleMs = 10'000;

// Who this process is, as recorded in a slot.
struct ProcessIdentity {
  std::int32_t pid = 0;
  std::uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22
  std::uint64_t pid_namespace = 0;
  std::string boot_id;
  std::string host;

  static const ProcessIdentity& Self();
  // Same kernel and pid namespace: the pid can be checked directly.
  bool SameMachineAs(const InstanceInfo& other) const;
};

// Whether `pid` runs and started at `start_ticks` (rules out pid reuse).
bool ProcessAlive(std::int32_t pid, std::uint64_t start_ticks);

struct SlotScan {
  InstanceInfo info;
  std::uint64_t start_ticks = 0;
  std::uint64_t pid_namespace = 0;
  std::uint64_t handover_seq = 0;
  std::uint64_t nonce = 0;  // Tells one claim of a slot from the next.
};

// Reads every claimed slot through a fresh descriptor and classifies it;
// `lock_fd` is a descriptor of the sidecar whose own locks are excluded from
// the visibility test (-1: none). With `observe`, kUnknown slots are watched
// for two heartbeat intervals.
Result<std::vector<SlotScan>> ScanSlots(posix::Env* env, const std::string& sidecar_path,
                                        int lock_fd, bool observe,
                                        std::chrono::milliseconds interval);

// Asks the instance in `slot` to hand over: writes (its last seq + 1, our
// pid) into its handover field.
Status WriteHandoverRequest(posix::Env* env, int fd, const std::string& sidecar_path,
                            const SlotScan& slot);

// Waits, queued in the kernel, until the instance's slot lock is released.
// kTimeout says `why` and names the instance.
Status WaitForSlotRelease(posix::Env* env, int fd, const InstanceInfo& info,
                          std::chrono::steady_clock::time_point deadline, const std::string& why);

class Registry {
 public:
  using Clock = std::chrono::steady_clock;
  struct Config {
    Ownership ownership = Ownership::kShared;
    std::chrono::milliseconds wait_for_owner{0};
    bool take_over = false;
    std::chrono::milliseconds handover_timeout{10'000};
    std::chrono::milliseconds heartbeat_interval{50};
    bool wal = true;
    // Called on the heartbeat thread when a successor asks us to step down;
    // the slot is freed when it returns.
    std::function<void(std::int32_t successor_pid)> on_step_down;
  };

  // Claims a slot for this instance, or fails with a typed error: another
  // lock domain (kFailedPrecondition), an owner in the way (kUnavailable),
  // WAL across hosts (kFailedPrecondition), no free slot.
  static Result<std::unique_ptr<Registry>> Register(posix::Env* env, const std::string& db_path,
                                                    Config config, Clock::time_point deadline);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();  // Release()

  // Stops the heartbeat, frees the slot and releases its lock. Idempotent;
  // not from the heartbeat thread.
  void Release();
  int slot() const { return slot_; }

 private:
  Registry(posix::Env* env, std::string sidecar_path, posix::UniqueFd fd, Config config);
  Status ClaimSlot(const std::vector<SlotScan>& live);
  void HeartbeatLoop();
  void FreeSlot();

  posix::Env* env_;
  const std::string sidecar_path_;
  posix::UniqueFd fd_;  // Our own open file description: holds the slot lock.
  const Config config_;
  int slot_ = -1;
  std::uint64_t handover_seq_ = 0;  // Last request seen.

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool released_ = false;
  std::thread heartbeat_;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_REGISTRY_H_
