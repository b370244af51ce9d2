#include "sidecar/slot_scan.h"

#include <sys/statfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "base/status_builders.h"
#include "base/status_builders.h"
#include "posix/file_lock.h"
#include "posix/read_only.h"
#include "sidecar/process_identity.h"
#include "sqlsteward/probe.h"

namespace sqlsteward::internal {
namespace {

// True where every reader of the file goes through one kernel's page
// cache, so that a plain read returns what any process last wrote: the
// local filesystems, tmpfs and overlay. Not FUSE (each mount of a bindfs
// or Docker Desktop share has its own cache, which can serve another
// mount's write stale), nor network filesystems (each client caches).
bool PageCacheIsShared(posix::Env* env, int fd) {
  struct statfs fs;
  if (env->Fstatfs(fd, &fs) != 0) return false;
  const FsKind kind = ClassifyStatfsMagic(static_cast<std::int64_t>(fs.f_type));
  return kind == FsKind::kLocal || kind == FsKind::kTmpfs || kind == FsKind::kOverlay;
}

// The slot's domain from one look; kUnknown when only watching the
// heartbeat can tell.
InstanceDomain FirstVerdict(const Slot& slot, bool lock_visible, bool observe) {
  const ProcessIdentity& self = ProcessIdentity::Self();
  if (lock_visible) return InstanceDomain::kThisDomain;
  if (!self.SameMachineAs(slot.info) || slot.pid_namespace != self.pid_namespace) {
    return InstanceDomain::kUnknown;
  }
  if (!ProcessAlive(slot.info.pid, slot.start_ticks)) return InstanceDomain::kDead;
  // A process that is exiting has released its locks before /proc says
  // so: when observing, it must also show a live heartbeat.
  return observe ? InstanceDomain::kUnknown : InstanceDomain::kOtherDomain;
}

// A delta lease: a live instance advances its heartbeat every interval.
Status ObserveHeartbeats(posix::Env* env, const std::string& sidecar_path,
                         std::chrono::milliseconds interval, std::vector<Slot>* slots) {
  std::this_thread::sleep_for(2 * interval + std::chrono::milliseconds(10));
  auto again = ReadSlotsFresh(env, sidecar_path);
  if (!again.has_value()) return std::move(again).error();
  const ProcessIdentity& self = ProcessIdentity::Self();
  for (Slot& slot : *slots) {
    if (slot.info.domain != InstanceDomain::kUnknown) continue;
    const SlotRecord& now = (*again)[static_cast<std::size_t>(slot.info.slot)];
    if (now.magic != kSlotMagic || now.nonce != slot.nonce) {
      // It freed its slot meanwhile (a close racing our scan): it left.
      slot.info.domain = InstanceDomain::kDead;
      continue;
    }
    bool advanced = now.heartbeat != slot.info.heartbeat;
    // On this machine the process table is the stronger witness: one that
    // still runs two intervals later is no exiting process.
    bool running = self.SameMachineAs(slot.info) && slot.pid_namespace == self.pid_namespace &&
                   ProcessAlive(slot.info.pid, slot.start_ticks);
    slot.info.domain = advanced || running ? InstanceDomain::kOtherDomain : InstanceDomain::kDead;
  }
  return Status();
}

}  // namespace

// O_DIRECT everywhere would be a disk read per scan: Open's p99 was ~8 ms
// on a busy virtual disk.
Result<std::vector<SlotRecord>> ReadSlotsFresh(posix::Env* env, const std::string& path) {
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd fd,
                              posix::OpenRegularForReading(env, path, "sidecar"));
  if (!PageCacheIsShared(env, fd.get())) {
    int direct = env->Open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_DIRECT, 0);
    if (direct >= 0) {
      posix::UniqueFd direct_fd(env, direct);
      struct stat st;
      if (env->Fstat(direct, &st) != 0) return posix::ErrnoStatus(errno, "fstat", path);
      if (!S_ISREG(st.st_mode)) {
        return FailedPrecondition("sidecar " + path + " is not a regular file",
                                  "move it aside; sqlsteward recreates it");
      }
      fd = std::move(direct_fd);
    } else if (errno != EINVAL) {
      return posix::ErrnoStatus(errno, "open", path);
    }
  }
  constexpr std::size_t kBytes = static_cast<std::size_t>(kMaxSlots * kSlotSize);
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, FreeDeleter> buf(std::aligned_alloc(4096, kBytes));
  if (buf == nullptr) return ResourceExhausted("out of memory");
  ssize_t n = env->Pread(fd.get(), buf.get(), kBytes, kSlotBase);
  if (n < 0) return posix::ErrnoStatus(errno, "pread", path);
  if (static_cast<std::size_t>(n) != kBytes) {
    return Corruption(path + " is shorter than its instance slots",
                      "if no sqlsteward process uses the database, move the file aside");
  }
  std::vector<SlotRecord> slots(kMaxSlots);
  std::memcpy(slots.data(), buf.get(), kBytes);
  return slots;
}

Result<std::vector<Slot>> ScanSlots(posix::Env* env, const std::string& sidecar_path, int lock_fd,
                                    bool observe, std::chrono::milliseconds interval) {
  auto records = ReadSlotsFresh(env, sidecar_path);
  if (!records.has_value()) return std::move(records).error();
  int probe_fd = lock_fd;
  posix::UniqueFd own;
  if (probe_fd < 0) {
    SQLSTEWARD_ASSIGN_OR_RETURN(own, posix::OpenRegularForReading(env, sidecar_path, "sidecar"));
    probe_fd = own.get();
  }
  std::vector<Slot> out;
  bool any_unknown = false;
  for (int i = 0; i < kMaxSlots; ++i) {
    SQLSTEWARD_ASSIGN_OR_RETURN(
        std::optional<Slot> slot,
        DecodeSlot((*records)[static_cast<std::size_t>(i)], i, sidecar_path));
    if (!slot.has_value()) continue;
    auto locked =
        posix::RangeLockedByOther(env, probe_fd, SlotOffset(i), 1, posix::LockKind::kShared);
    if (!locked.has_value()) return std::move(locked).error();
    slot->info.domain = FirstVerdict(*slot, *locked, observe);
    any_unknown = any_unknown || slot->info.domain == InstanceDomain::kUnknown;
    out.push_back(std::move(*slot));
  }
  if (observe && any_unknown) {
    SQLSTEWARD_RETURN_IF_ERROR(ObserveHeartbeats(env, sidecar_path, interval, &out));
  }
  return out;
}

}  // namespace sqlsteward::internal
