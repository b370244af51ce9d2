#include "posix/file_lock.h"

#include <unistd.h>

#include <cerrno>
#include <thread>

namespace sqlsteward::posix {
namespace {

struct flock MakeFlock(short type, off_t start, off_t len) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  fl.l_pid = 0;  // Required by F_OFD_*.
  return fl;
}

short TypeOf(LockKind kind) {
  return kind == LockKind::kExclusive ? short{F_WRLCK} : short{F_RDLCK};
}

}  // namespace

Result<bool> TryLockRange(Env* env, int fd, off_t start, off_t len, LockKind kind) {
  struct flock fl = MakeFlock(TypeOf(kind), start, len);
  if (env->FcntlLock(fd, F_OFD_SETLK, &fl) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  return ErrnoStatus(errno, "fcntl(F_OFD_SETLK)", "sidecar",
                     "the filesystem may not support open file description locks");
}

Status WaitLockRange(Env* env, int fd, off_t start, off_t len, LockKind kind) {
  struct flock fl = MakeFlock(TypeOf(kind), start, len);
  while (env->FcntlLock(fd, F_OFD_SETLKW, &fl) != 0) {
    if (errno == EINTR) continue;
    return ErrnoStatus(errno, "fcntl(F_OFD_SETLKW)", "sidecar",
                       "the filesystem may not support open file description locks");
  }
  return Status();
}

Status UnlockRange(Env* env, int fd, off_t start, off_t len) {
  struct flock fl = MakeFlock(F_UNLCK, start, len);
  if (env->FcntlLock(fd, F_OFD_SETLK, &fl) != 0) {
    return ErrnoStatus(errno, "fcntl(F_OFD_SETLK, F_UNLCK)", "sidecar");
  }
  return Status();
}

Result<bool> RangeLockedByOther(Env* env, int fd, off_t start, off_t len, LockKind kind) {
  struct flock fl = MakeFlock(TypeOf(kind), start, len);
  if (env->FcntlLock(fd, F_OFD_GETLK, &fl) != 0) {
    return ErrnoStatus(errno, "fcntl(F_OFD_GETLK)", "sidecar");
  }
  return fl.l_type != F_UNLCK;
}

// State shared between the owner and the waiter thread. The waiter holds a
// reference so that it can outlive the owner (see ~DeadlineLock).
struct DeadlineLock::Shared {
  Env* env;
  int fd;  // Our own dup; closed by whoever drops the last reference.
  off_t start;
  off_t len;
  LockKind kind;

  std::mutex mu;
  std::condition_variable cv;
  bool want = false;        // The owner is waiting for the waiter's grant.
  bool waiting = false;     // The waiter is blocked in F_OFD_SETLKW.
  bool granted = false;     // Granted to the waiter, not yet claimed.
  bool stop = false;        // The owner is gone.
  bool thread_started = false;
  Status error;             // A failed F_OFD_SETLKW, for the owner.

  ~Shared() { env->Close(fd); }
};

Result<std::unique_ptr<DeadlineLock>> DeadlineLock::Create(Env* env, int fd, off_t start,
                                                           off_t len, LockKind kind) {
  int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return ErrnoStatus(errno, "fcntl(F_DUPFD_CLOEXEC)", "sidecar");
  auto shared = std::make_shared<Shared>();
  shared->env = env;
  shared->fd = own;
  shared->start = start;
  shared->len = len;
  shared->kind = kind;
  return std::unique_ptr<DeadlineLock>(new DeadlineLock(std::move(shared)));
}

DeadlineLock::DeadlineLock(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

DeadlineLock::~DeadlineLock() {
  if (held_) Release();
  std::lock_guard lock(shared_->mu);
  shared_->stop = true;
  shared_->want = false;
  if (shared_->granted) {
    shared_->granted = false;
    UnlockRange(shared_->env, shared_->fd, shared_->start, shared_->len).IgnoreError();
  }
  shared_->cv.notify_all();
  // A waiter blocked in the kernel keeps `shared_` alive and exits once it is
  // granted; nothing here waits for another process.
}

Status DeadlineLock::Acquire(Clock::time_point deadline) {
  std::unique_lock lock(shared_->mu);
  if (shared_->granted) {  // Granted to the waiter after an earlier timeout.
    shared_->granted = false;
    held_ = true;
    return Status();
  }
  if (!shared_->waiting) {
    lock.unlock();
    auto got = TryLockRange(shared_->env, shared_->fd, shared_->start, shared_->len,
                            shared_->kind);
    if (!got.has_value()) return got.error();
    if (*got) {
      held_ = true;
      return Status();
    }
    lock.lock();
  }
  shared_->want = true;
  shared_->error = Status();
  if (!shared_->thread_started) {
    shared_->thread_started = true;
    std::thread(&DeadlineLock::WaiterLoop, shared_).detach();
  }
  shared_->cv.notify_all();
  bool done = shared_->cv.wait_until(lock, deadline, [&] {
    return shared_->granted || !shared_->error.ok();
  });
  shared_->want = false;
  if (shared_->granted) {
    shared_->granted = false;
    held_ = true;
    return Status();
  }
  if (done) return shared_->error;
  return Status(StatusCode::kTimeout, "deadline passed waiting for the lock");
}

void DeadlineLock::Release() {
  if (!held_) return;
  held_ = false;
  UnlockRange(shared_->env, shared_->fd, shared_->start, shared_->len).IgnoreError();
}

void DeadlineLock::WaiterLoop(std::shared_ptr<Shared> shared) {
  std::unique_lock lock(shared->mu);
  while (true) {
    shared->cv.wait(lock, [&] { return shared->stop || (shared->want && !shared->granted); });
    if (shared->stop) return;
    shared->waiting = true;
    lock.unlock();
    Status st = WaitLockRange(shared->env, shared->fd, shared->start, shared->len, shared->kind);
    lock.lock();
    shared->waiting = false;
    if (!st.ok()) {
      shared->error = std::move(st);
    } else if (shared->want && !shared->stop) {
      shared->granted = true;
    } else {
      // Nobody wants it any more: let the next process in the kernel's queue
      // have it.
      UnlockRange(shared->env, shared->fd, shared->start, shared->len).IgnoreError();
    }
    shared->cv.notify_all();
  }
}

}  // namespace sqlsteward::posix
