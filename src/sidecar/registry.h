// Registry: this instance's slot in the sidecar, from Open to Close, with
// ownership, handover and the refusal of other lock domains.
//
// Register() runs under the registration claim (claim.h): it scans the
// slots (slot_scan.h), reclaims dead instances' slots, refuses an instance
// in another lock domain or WAL across machines, waits for or asks an
// exclusive owner to hand over (handover.h) as configured, then claims a
// free slot: writes it whole and holds an exclusive OFD lock on its first
// byte for its lifetime, so that a crashed instance is recognised by its
// released lock. The process's heartbeat thread (heartbeats.h) then
// advances the slot's heartbeat every interval and watches its handover
// field; when a successor asks, a thread of the instance's own calls
// on_step_down and frees the slot.
//
// Lock order: mu_ is innermost; on_step_down runs without it (it takes the
// Database's close_mu), and Release() waits for the heartbeat and joins the
// step-down thread without it.
//
// Thread safety: Register/Release from one thread; the heartbeat only
// touches the slot's own bytes.
#ifndef SQLSTEWARD_SIDECAR_REGISTRY_H_
#define SQLSTEWARD_SIDECAR_REGISTRY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "posix/env.h"
#include "sidecar/file_owner.h"
#include "sidecar/format.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

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
    // The database file's owner: the claim file we create is given to it,
    // and a claim file of another user refused (file_owner.h).
    FileOwner database_owner;
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
  void Release() EXCLUDES(mu_);
  int slot() const { return slot_; }

 private:
  Registry(posix::Env* env, std::string db_path, posix::UniqueFd fd, Config config);
  // One look at the slots under the registration claim: claims a slot
  // (true), or returns the instances in the way (false).
  Result<bool> TryRegister(std::vector<Slot>* blockers);
  // Refusal of a blocker when neither waiting nor taking over is asked for.
  Status Refuse(const InstanceInfo& blocker) const;
  Status ClaimSlot(const std::vector<Slot>& live);
  // One heartbeat (on the process's heartbeat thread); false once a
  // successor asked this instance to step down.
  bool Beat() EXCLUDES(mu_);
  void FreeSlot() EXCLUDES(mu_);

  posix::Env* const env_;
  const std::string db_path_;
  const std::string sidecar_path_;
  posix::UniqueFd fd_;  // Our own open file description: holds the slot lock.
  const Config config_;
  int slot_ = -1;                   // Set by Register before the heartbeat starts.
  std::uint64_t handover_seq_ = 0;  // Beat() only: last request seen.
  std::uint64_t beat_ = 1;          // Beat() only.
  unsigned long long heartbeat_ = 0;  // Heartbeats::Id; 0: not scheduled.
  std::thread step_down_;             // Started by Beat(), joined by Release().

  Mutex mu_;
  bool released_ GUARDED_BY(mu_) = false;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_REGISTRY_H_
