// OFD byte-range locks (F_OFD_SETLK / F_OFD_SETLKW).
//
// Why OFD and not classic POSIX locks: a POSIX lock belongs to the process,
// so any close() of any descriptor of the file drops it, and two threads of
// one process never conflict. An OFD lock belongs to the open file
// description: it survives unrelated close() calls, and two descriptions
// conflict even inside one process. That is the semantics a cross-process
// queue needs.
#ifndef SQLSTEWARD_POSIX_FILE_LOCK_H_
#define SQLSTEWARD_POSIX_FILE_LOCK_H_

#include <sys/types.h>

#include <chrono>
#include <memory>

#include "base/mutex.h"
#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::posix {

enum class LockKind { kShared, kExclusive };

// One non-blocking attempt. true: acquired; false: another description holds
// a conflicting lock.
Result<bool> TryLockRange(Env* env, int fd, off_t start, off_t len, LockKind kind);
// Blocks, queued by the kernel, until granted.
Status WaitLockRange(Env* env, int fd, off_t start, off_t len, LockKind kind);
Status UnlockRange(Env* env, int fd, off_t start, off_t len);
// true when another open file description holds a lock that conflicts with
// `kind` on the range (F_OFD_GETLK).
Result<bool> RangeLockedByOther(Env* env, int fd, off_t start, off_t len, LockKind kind);

// An OFD lock on one byte range (exclusive unless created kShared), acquired
// with a deadline. A shared one serves to wait until another description's
// exclusive lock is released (a crashed or stepping-down instance).
//
// Acquire() first tries F_OFD_SETLK on the caller's thread. When another
// process holds the range, a waiter thread blocks in F_OFD_SETLKW, so the
// kernel queues us (no sleep-and-retry), and the caller waits for the waiter
// up to its deadline. A caller that gives up leaves the waiter in the kernel
// queue: the next Acquire() takes over the granted lock at once; if nobody
// wants it by the time it is granted, the waiter releases it.
//
// Thread safety: Acquire/Release must be called by one thread at a time
// (the write queue's leader). The state shared with the waiter thread is
// guarded by its own mutex, innermost of all (docs/design.md).
class DeadlineLock {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes its own dup() of fd so that an abandoned waiter never touches a
  // descriptor its owner has closed.
  static Result<std::unique_ptr<DeadlineLock>> Create(Env* env, int fd, off_t start, off_t len,
                                                      LockKind kind = LockKind::kExclusive);
  DeadlineLock(const DeadlineLock&) = delete;
  DeadlineLock& operator=(const DeadlineLock&) = delete;
  // Releases the lock. A waiter blocked in the kernel is detached; it
  // releases the lock the moment it is granted.
  ~DeadlineLock();

  // OK: held. kTimeout: the deadline passed first. Other codes: fcntl failed.
  Status Acquire(Clock::time_point deadline);
  // One attempt that never waits and leaves no waiter behind: true when
  // held (free, or granted to a waiter an earlier Acquire left queued).
  Result<bool> TryAcquire();
  void Release();

 private:
  struct Shared;
  explicit DeadlineLock(std::shared_ptr<Shared> shared);
  static void WaiterLoop(std::shared_ptr<Shared> shared);

  std::shared_ptr<Shared> shared_;
  bool held_ = false;
};

}  // namespace sqlsteward::posix

#endif  // SQLSTEWARD_POSIX_FILE_LOCK_H_
