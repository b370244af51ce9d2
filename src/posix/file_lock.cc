#include "posix/file_lock.h"

#include <unistd.h>

#include <cerrno>
#include <thread>

#include "base/status_builders.h"

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
  // The Env resumes the wait after EINTR; the deadline is the owner's.
  if (env->FcntlLock(fd, F_OFD_SETLKW, &fl) != 0) {
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

  Mutex mu;
  CondVar cv;
  bool want GUARDED_BY(mu) = false;     // The owner is waiting for the waiter's grant.
  bool waiting GUARDED_BY(mu) = false;  // The waiter is blocked in F_OFD_SETLKW.
  bool granted GUARDED_BY(mu) = false;  // Granted to the waiter, not yet claimed.
  bool stop GUARDED_BY(mu) = false;     // The owner is gone.
  bool thread_started GUARDED_BY(mu) = false;
  Status error GUARDED_BY(mu);  // A failed F_OFD_SETLKW, for the owner.

  ~Shared() { env->Close(fd); }
};

Result<std::unique_ptr<DeadlineLock>> DeadlineLock::Create(Env* env, int fd, off_t start, off_t len,
                                                           LockKind kind) {
  int own = env->Dup(fd);
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
  MutexLock lock(&shared_->mu);
  shared_->stop = true;
  shared_->want = false;
  if (shared_->granted) {
    shared_->granted = false;
    UnlockRange(shared_->env, shared_->fd, shared_->start, shared_->len).IgnoreError();
  }
  shared_->cv.SignalAll();
  // A waiter blocked in the kernel keeps `shared_` alive and exits once it is
  // granted; nothing here waits for another process.
}

Status DeadlineLock::Acquire(Clock::time_point deadline) {
  Shared& sh = *shared_;
  MutexLock lock(&sh.mu);
  if (sh.granted) {  // Granted to the waiter after an earlier timeout.
    sh.granted = false;
    held_ = true;
    return Status();
  }
  if (!sh.waiting) {
    sh.mu.Unlock();
    auto got = TryLockRange(sh.env, sh.fd, sh.start, sh.len, sh.kind);
    sh.mu.Lock();
    if (!got.has_value()) return got.error();
    if (*got) {
      held_ = true;
      return Status();
    }
  }
  sh.want = true;
  sh.error = Status();
  if (!sh.thread_started) {
    sh.thread_started = true;
    std::thread(&DeadlineLock::WaiterLoop, shared_).detach();
  }
  sh.cv.SignalAll();
  while (!sh.granted && sh.error.ok() && sh.cv.WaitUntil(&sh.mu, deadline)) {
  }
  sh.want = false;
  if (sh.granted) {
    sh.granted = false;
    held_ = true;
    return Status();
  }
  if (!sh.error.ok()) return sh.error;
  return Timeout("deadline passed waiting for the lock");
}

Result<bool> DeadlineLock::TryAcquire() {
  Shared& sh = *shared_;
  MutexLock lock(&sh.mu);
  if (sh.granted) {
    sh.granted = false;
    held_ = true;
    return true;
  }
  if (sh.waiting) return false;  // Our own waiter is in line: it is taken.
  auto got = TryLockRange(sh.env, sh.fd, sh.start, sh.len, sh.kind);
  if (!got.has_value()) return got.error();
  held_ = *got;
  return *got;
}

void DeadlineLock::Release() {
  if (!held_) return;
  held_ = false;
  UnlockRange(shared_->env, shared_->fd, shared_->start, shared_->len).IgnoreError();
}

void DeadlineLock::WaiterLoop(std::shared_ptr<Shared> shared) {
  Shared& sh = *shared;
  MutexLock lock(&sh.mu);
  while (true) {
    while (!sh.stop && !(sh.want && !sh.granted)) sh.cv.Wait(&sh.mu);
    if (sh.stop) return;
    sh.waiting = true;
    sh.mu.Unlock();
    Status st = WaitLockRange(sh.env, sh.fd, sh.start, sh.len, sh.kind);
    sh.mu.Lock();
    sh.waiting = false;
    if (!st.ok()) {
      sh.error = std::move(st);
    } else if (sh.want && !sh.stop) {
      sh.granted = true;
    } else {
      // Nobody wants it any more: let the next process in the kernel's queue
      // have it.
      UnlockRange(sh.env, sh.fd, sh.start, sh.len).IgnoreError();
    }
    sh.cv.SignalAll();
  }
}

}  // namespace sqlsteward::posix
