// WriteLock: the cross-process write lock, an exclusive OFD lock on byte
// kWriteLockByte of the sidecar, and the holder record that names whoever
// holds it.
//
// Protocol: a writer takes the lock (kernel-queued, F_OFD_SETLKW, through
// posix::DeadlineLock) before BEGIN IMMEDIATE and releases it after COMMIT
// and any checkpoint; right after taking it, it writes the holder record
// (pid, host, since, purpose). A waiter whose deadline passes reads the
// record while the lock is still held by another description, so its
// kTimeout names the holder. The record is advisory: it may name a holder
// that has since released the lock, never one that holds nothing when the
// lock is held.
//
// Who takes it: the write queue's leader (core/write_queue.h), one at a
// time; Database::Open before the queue exists (to open the writer
// connection, whose first read may roll back a hot journal); the queue's
// final checkpoint at shutdown, once no leader can start.
//
// Thread safety: Acquire/Release by one thread at a time (see above);
// CurrentHolder from any thread.
#ifndef SQLSTEWARD_SIDECAR_WRITE_LOCK_H_
#define SQLSTEWARD_SIDECAR_WRITE_LOCK_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "posix/file_lock.h"
#include "sidecar/sidecar_file.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

class WriteLock {
 public:
  using Clock = std::chrono::steady_clock;

  // `file` must outlive the lock.
  static Result<std::unique_ptr<WriteLock>> Create(const SidecarFile& file);

  // Takes the lock and records this process as holder, doing `purpose`
  // (empty for ordinary writes). kTimeout names the holder, unless
  // `name_holder` is false (a caller that only asks whether it got the
  // lock, and asks often, saves reading and formatting the record).
  Status Acquire(Clock::time_point deadline, std::string_view purpose = {},
                 bool name_holder = true);
  void Release();

  // The recorded holder when another description holds the lock now;
  // nullopt when it is free.
  Result<std::optional<WriteLockStatus>> CurrentHolder() const;

  const std::string& path() const { return file_.path(); }

 private:
  WriteLock(const SidecarFile& file, std::unique_ptr<posix::DeadlineLock> lock);
  Status WriteHolderRecord(std::string_view purpose);

  const SidecarFile& file_;
  std::unique_ptr<posix::DeadlineLock> lock_;
  const std::string host_;
};

// Reads the write lock's state through descriptor `fd` of the sidecar at
// `path` (a descriptor that holds no lock itself).
Result<WriteLockStatus> ReadWriteLockState(posix::Env* env, int fd, const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_WRITE_LOCK_H_
