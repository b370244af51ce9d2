#include "sidecar/registry.h"

#include <cerrno>
#include <random>

#include "base/status_builders.h"
#include "base/time.h"
#include "posix/file_lock.h"
#include "sidecar/claim.h"
#include "sidecar/handover.h"
#include "sidecar/heartbeats.h"
#include "sidecar/process_identity.h"
#include "sidecar/slot_scan.h"
#include "sidecar/turn_queue.h"

namespace sqlsteward::internal {

Registry::Registry(posix::Env* env, std::string db_path, posix::UniqueFd fd, Config config)
    : env_(env),
      db_path_(std::move(db_path)),
      sidecar_path_(SidecarPath(db_path_)),
      fd_(std::move(fd)),
      config_(std::move(config)) {}

Result<std::unique_ptr<Registry>> Registry::Register(posix::Env* env, const std::string& db_path,
                                                     Config config, Clock::time_point deadline) {
  const std::string path = SidecarPath(db_path);
  int raw = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW, 0);
  if (raw < 0) return posix::ErrnoStatus(errno, "open", path);
  posix::UniqueFd fd(env, raw);
  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return posix::ErrnoStatus(errno, "fstat", path);
  // The file Open validated, unless it was replaced since.
  SQLSTEWARD_RETURN_IF_ERROR(CheckCompanionOwner("sidecar", path, st, config.database_owner));
  std::unique_ptr<Registry> reg(new Registry(env, db_path, std::move(fd), std::move(config)));
  const Config& cfg = reg->config_;
  const auto wait_deadline = Clock::now() + cfg.wait_for_owner;
  const auto handover_deadline = Clock::now() + cfg.handover_timeout;
  bool handover_requested = false;

  while (true) {
    std::vector<Slot> blockers;
    {
      RegistrationClaim claim(env, ClaimPath(db_path), cfg.database_owner);
      SQLSTEWARD_RETURN_IF_ERROR(claim.Lock(deadline));
      SQLSTEWARD_ASSIGN_OR_RETURN(bool claimed, reg->TryRegister(&blockers));
      if (claimed) {
        claim.Unlock();
        Registry* beating = reg.get();
        reg->heartbeat_ = Heartbeats::Get().Add([beating] { return beating->Beat(); },
                                                cfg.heartbeat_interval);
        return reg;
      }
    }
    if (cfg.take_over) {
      if (!handover_requested) {
        for (const Slot& b : blockers) {
          SQLSTEWARD_RETURN_IF_ERROR(WriteHandoverRequest(env, reg->fd_.get(), path, b));
        }
        handover_requested = true;
      }
      for (const Slot& b : blockers) {
        SQLSTEWARD_RETURN_IF_ERROR(WaitForSlotRelease(
            env, reg->fd_.get(), b.info, handover_deadline, "handover did not complete in time"));
      }
      continue;
    }
    if (cfg.wait_for_owner.count() > 0 && Clock::now() < wait_deadline) {
      for (const Slot& b : blockers) {
        SQLSTEWARD_RETURN_IF_ERROR(
            WaitForSlotRelease(env, reg->fd_.get(), b.info, wait_deadline, "waited for the owner"));
      }
      continue;
    }
    return reg->Refuse(blockers.front().info);
  }
}

Result<bool> Registry::TryRegister(std::vector<Slot>* blockers) {
  SQLSTEWARD_ASSIGN_OR_RETURN(
      std::vector<Slot> scan,
      ScanSlots(env_, sidecar_path_, fd_.get(), /*observe=*/true, config_.heartbeat_interval));
  const ProcessIdentity& self = ProcessIdentity::Self();
  std::vector<Slot> live;
  for (Slot& s : scan) {
    const InstanceInfo& info = s.info;
    if (info.domain == InstanceDomain::kDead) {
      const SlotRecord zero = {};  // Reclaimed: a crashed instance's slot.
      if (env_->Pwrite(fd_.get(), &zero, sizeof zero, SlotOffset(info.slot)) != sizeof zero) {
        return posix::ErrnoStatus(errno, "pwrite", sidecar_path_);
      }
      continue;
    }
    if (info.domain == InstanceDomain::kOtherDomain) {
      return FailedPrecondition(
          db_path_ + " is in use by " + DescribeInstance(info) +
              " through another lock domain: its locks are not visible here, "
              "so sharing the file would corrupt it or lose writes",
          "use the database through one mount only: run every process on the "
          "same side of the bind mount, VM share or network filesystem, or stop "
          "the other instance");
    }
    live.push_back(std::move(s));
  }
  for (const Slot& s : live) {
    if (config_.wal && !self.SameMachineAs(s.info)) {
      return FailedPrecondition(
          db_path_ + " is open in WAL mode by " + DescribeInstance(s.info) +
              " on another machine: WAL's shared memory does not span machines",
          "use JournalMode::kDelete for a database shared between hosts, or run "
          "every instance on one host");
    }
  }
  for (const Slot& s : live) {
    if (config_.ownership == Ownership::kExclusive || s.info.ownership == Ownership::kExclusive) {
      blockers->push_back(s);
    }
  }
  if (!blockers->empty()) return false;
  SQLSTEWARD_RETURN_IF_ERROR(ClaimSlot(live));
  return true;
}

Status Registry::Refuse(const InstanceInfo& b) const {
  std::string why =
      b.ownership == Ownership::kExclusive
          ? db_path_ + " is owned exclusively by " + DescribeInstance(b)
          : "cannot open " + db_path_ + " exclusively: it is open in " + DescribeInstance(b);
  return Unavailable(why,
                     "wait for it to exit (Options::wait_for_owner), or ask it to hand over "
                     "(Options::take_over, `sqlsteward handover`)");
}

Status Registry::ClaimSlot(const std::vector<Slot>& live) {
  // Alone: any ticket of the turn queue belongs to an instance that is gone
  // (a crash of every user, or a power loss), and none will be served.
  if (live.empty()) SQLSTEWARD_RETURN_IF_ERROR(ResetTurns(env_, fd_.get(), sidecar_path_));
  std::vector<bool> used(kMaxSlots, false);
  for (const Slot& s : live) used[static_cast<std::size_t>(s.info.slot)] = true;
  const ProcessIdentity& self = ProcessIdentity::Self();
  for (int i = 0; i < kMaxSlots; ++i) {
    if (used[static_cast<std::size_t>(i)]) continue;
    auto got = posix::TryLockRange(env_, fd_.get(), SlotOffset(i), 1, posix::LockKind::kExclusive);
    if (!got.has_value()) return std::move(got).error();
    if (!*got) continue;
    SlotClaim claim;
    claim.ownership = config_.ownership;
    claim.pid = self.pid;
    claim.start_ticks = self.start_ticks;
    claim.pid_namespace = self.pid_namespace;
    claim.started_unix_ms = WallClockUnixMs();
    claim.nonce = std::random_device()();
    claim.boot_id = self.boot_id;
    claim.host = self.host;
    const SlotRecord rec = EncodeSlot(claim);
    if (env_->Pwrite(fd_.get(), &rec, sizeof rec, SlotOffset(i)) != sizeof rec) {
      Status st = posix::ErrnoStatus(errno, "pwrite", sidecar_path_);
      posix::UnlockRange(env_, fd_.get(), SlotOffset(i), 1).IgnoreError();
      return st;
    }
    slot_ = i;
    return Status();
  }
  return ResourceExhausted(
      "all " + std::to_string(kMaxSlots) + " instance slots of " + sidecar_path_ + " are in use",
      "close some instances; each open Database handle takes one slot");
}

bool Registry::Beat() {
  const Heartbeat hb = {++beat_, WallClockUnixMs()};
  env_->Pwrite(fd_.get(), &hb, sizeof hb, SlotOffset(slot_) + kSlotHeartbeatOffset);
  auto slots = ReadSlotsFresh(env_, sidecar_path_);
  std::int32_t successor = 0;
  if (slots.has_value()) {
    const SlotRecord& mine = (*slots)[static_cast<std::size_t>(slot_)];
    if (mine.handover_seq != handover_seq_) {
      handover_seq_ = mine.handover_seq;
      successor = mine.handover_requester;
    }
  }
  if (successor == 0) return true;
  const std::uint32_t stepping = kStateSteppingDown;
  env_->Pwrite(fd_.get(), &stepping, sizeof stepping, SlotOffset(slot_) + kSlotStateOffset);
  // On a thread of its own: stepping down finishes the running batch, which
  // must not hold up the heartbeats of the process's other instances.
  // Release() joins it; Heartbeats::Remove waits for this beat, so the
  // thread exists before Release looks.
  step_down_ = std::thread([this, successor] {
    if (config_.on_step_down) config_.on_step_down(successor);
    FreeSlot();
  });
  return false;
}

void Registry::FreeSlot() {
  MutexLock lock(&mu_);
  if (released_ || slot_ < 0) return;
  released_ = true;
  const SlotRecord zero = {};
  env_->Pwrite(fd_.get(), &zero, sizeof zero, SlotOffset(slot_));
  posix::UnlockRange(env_, fd_.get(), SlotOffset(slot_), 1).IgnoreError();
}

void Registry::Release() {
  if (heartbeat_ != 0) {
    Heartbeats::Get().Remove(heartbeat_);
    heartbeat_ = 0;
  }
  if (step_down_.joinable()) step_down_.join();
  FreeSlot();
}

Registry::~Registry() { Release(); }

}  // namespace sqlsteward::internal
