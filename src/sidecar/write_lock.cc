#include "sidecar/write_lock.h"

#include <unistd.h>

#include <cerrno>

#include "base/status_builders.h"
#include "base/time.h"
#include "sidecar/format.h"
#include "sidecar/process_identity.h"

namespace sqlsteward::internal {

WriteLock::WriteLock(const SidecarFile& file, std::unique_ptr<posix::DeadlineLock> lock,
                     std::unique_ptr<SharedHeader> header)
    : file_(file), lock_(std::move(lock)), host_(HostName()),
      pid_(static_cast<std::int32_t>(getpid())),
      header_(std::move(header)) {
  if (header_ != nullptr) turns_ = std::make_unique<TurnQueue>(header_.get(), file_.fd());
}

Result<std::unique_ptr<WriteLock>> WriteLock::Create(const SidecarFile& file, bool ordered) {
  auto lock = posix::DeadlineLock::Create(file.env(), file.fd(), kWriteLockByte, 1);
  if (!lock.has_value()) return std::move(lock).error();
  return std::unique_ptr<WriteLock>(new WriteLock(
      file, std::move(lock).value(), SharedHeader::Map(file.env(), file.fd(), ordered)));
}

void WriteLock::set_owner_slot(int slot) {
  if (turns_ != nullptr) turns_->set_owner_slot(slot);
}

TurnQueue::Stats WriteLock::turn_stats() const {
  return turns_ != nullptr ? turns_->stats() : TurnQueue::Stats{};
}

Status WriteLock::TimedOut(bool name_holder) const {
  if (!name_holder) return Timeout("deadline passed waiting for the write lock");
  std::string who = "another process";
  auto holder = CurrentHolder();
  if (holder.has_value() && holder->has_value()) who = DescribeHolder(**holder);
  return Timeout("timed out waiting for the write lock on " + path() + ", held by " + who,
                 "retry; if the holder is stuck, inspect or stop it (the lock is released "
                 "when its process exits)");
}

Status WriteLock::Acquire(Clock::time_point deadline, std::string_view purpose,
                          bool name_holder) {
  if (turns_ != nullptr) {
    switch (turns_->Wait(deadline)) {
      case TurnQueue::Turn::kOurs:
        turn_held_ = true;
        break;
      case TurnQueue::Turn::kBypass:
        break;
      case TurnQueue::Turn::kTimeout:
        return TimedOut(name_holder);
    }
  }
  Status st = lock_->Acquire(deadline);
  if (st.ok()) {
    Status rec = WriteHolderRecord(purpose);
    if (rec.ok()) return rec;
    lock_->Release();
    st = std::move(rec);
  }
  if (turn_held_) {
    turn_held_ = false;
    turns_->Pass();
  }
  if (st.code() == StatusCode::kTimeout) return TimedOut(name_holder);
  return st;
}

Status WriteLock::TryAcquire() {
  SQLSTEWARD_ASSIGN_OR_RETURN(bool got, lock_->TryAcquire());
  if (!got) return Timeout("the write lock is held");
  Status rec = WriteHolderRecord({});
  if (!rec.ok()) lock_->Release();
  return rec;
}

void WriteLock::Release() {
  lock_->Release();
  if (turn_held_) {
    turn_held_ = false;
    turns_->Pass();
  }
}

Status WriteLock::WriteHolderRecord(std::string_view purpose) {
  const HolderRecord rec =
      EncodeHolder(pid_, WallClockUnixMs(), host_, purpose);
  if (header_ != nullptr) {
    header_->WriteHolder(rec);
    return Status();
  }
  if (file_.env()->Pwrite(file_.fd(), &rec, sizeof rec, kHolderOffset) != sizeof rec) {
    return posix::ErrnoStatus(errno, "pwrite", path());
  }
  return Status();
}

Result<std::optional<WriteLockStatus>> WriteLock::CurrentHolder() const {
  SQLSTEWARD_ASSIGN_OR_RETURN(WriteLockStatus state,
                              ReadWriteLockState(file_.env(), file_.fd(), path()));
  if (!state.held) return std::optional<WriteLockStatus>();
  return std::optional<WriteLockStatus>(std::move(state));
}

Result<WriteLockStatus> ReadWriteLockState(posix::Env* env, int fd, const std::string& path) {
  auto locked = posix::RangeLockedByOther(env, fd, kWriteLockByte, 1, posix::LockKind::kShared);
  if (!locked.has_value()) return std::move(locked).error().WithContext(path);
  WriteLockStatus state;
  if (!*locked) return state;
  HolderRecord rec = {};
  if (env->Pread(fd, &rec, sizeof rec, kHolderOffset) == sizeof rec) state = DecodeHolder(rec);
  state.held = true;
  return state;
}

}  // namespace sqlsteward::internal
