#include "sidecar/handover.h"

#include <cerrno>

#include "base/status_builders.h"
#include "base/time.h"
#include "posix/file_lock.h"
#include "sidecar/process_identity.h"

namespace sqlsteward::internal {

std::string DescribeInstance(const InstanceInfo& info) {
  return "pid " + std::to_string(info.pid) + " on host " + info.host + " (started " +
         IsoUtc(info.started_unix_ms) +
         (info.ownership == Ownership::kExclusive ? ", exclusive" : ", shared") + ")";
}

Status WriteHandoverRequest(posix::Env* env, int fd, const std::string& sidecar_path,
                            const Slot& slot) {
  const HandoverRequest request = {slot.handover_seq + 1, ProcessIdentity::Self().pid};
  if (env->Pwrite(fd, &request, kHandoverRequestBytes,
                  SlotOffset(slot.info.slot) + kSlotHandoverOffset) !=
      static_cast<ssize_t>(kHandoverRequestBytes)) {
    return posix::ErrnoStatus(errno, "pwrite", sidecar_path);
  }
  return Status();
}

Status WaitForSlotRelease(posix::Env* env, int fd, const InstanceInfo& info,
                          std::chrono::steady_clock::time_point deadline, const std::string& why) {
  auto lock =
      posix::DeadlineLock::Create(env, fd, SlotOffset(info.slot), 1, posix::LockKind::kShared);
  if (!lock.has_value()) return std::move(lock).error();
  Status st = (*lock)->Acquire(deadline);
  (*lock)->Release();
  if (st.code() == StatusCode::kTimeout) {
    return Timeout(why + ": " + DescribeInstance(info) + " is still running",
                   "retry later, or stop it");
  }
  return st;
}

}  // namespace sqlsteward::internal
