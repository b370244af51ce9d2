// WriteLock: the cross-process write lock, an exclusive OFD lock on byte
// kWriteLockByte of the sidecar, and the holder record that names whoever
// holds it.
//
// Protocol: a writer takes the lock before BEGIN IMMEDIATE and releases it
// after COMMIT and any checkpoint; right after taking it, it writes the
// holder record (pid, host, since, purpose). A waiter whose deadline passes
// reads the record while the lock is still held by another description, so
// its kTimeout names the holder. The record is advisory: it may name a
// holder that has since released the lock, never one that holds nothing
// when the lock is held.
//
// Order among waiters: where the probe found shared memory coherent, the
// sidecar's header is mapped (shared_header.h) and a writer first waits for
// its turn in the turn queue (turn_queue.h), first come first served, on
// the thread that asked; then takes the OFD lock, which is free unless a
// process outside the queue holds it, and passes the turn on after
// releasing it. Elsewhere, or when the queue has nothing to offer, it
// queues on the OFD lock alone (kernel-queued F_OFD_SETLKW, through
// posix::DeadlineLock), unordered. The holder record goes into the mapped
// page when there is one (a memory copy), else through pwrite.
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
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "posix/file_lock.h"
#include "sidecar/shared_header.h"
#include "sidecar/sidecar_file.h"
#include "sidecar/turn_queue.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

class WriteLock {
 public:
  using Clock = std::chrono::steady_clock;

  // `file` must outlive the lock. `ordered`: waiters queue in the turn
  // queue; pass the probe's shared_memory_coherent for the sidecar's
  // directory (the queue's page is shared memory).
  static Result<std::unique_ptr<WriteLock>> Create(const SidecarFile& file, bool ordered);

  // Takes the lock and records this process as holder, doing `purpose`
  // (empty for ordinary writes). kTimeout names the holder, unless
  // `name_holder` is false (a caller that only asks whether it got the
  // lock, and asks often, saves reading and formatting the record).
  Status Acquire(Clock::time_point deadline, std::string_view purpose = {},
                 bool name_holder = true);
  void Release();
  // Takes the lock only if it is free now, without a turn and without
  // queueing: kTimeout when another description holds it. For a caller that
  // must never be refused where the lock itself would not refuse it (the
  // extension's first attempt, which SQLite may make on a path that does
  // not call its busy handler).
  Status TryAcquire();

  // The recorded holder when another description holds the lock now;
  // nullopt when it is free.
  Result<std::optional<WriteLockStatus>> CurrentHolder() const;

  const std::string& path() const { return file_.path(); }

  // This instance's registry slot, recorded with its place in the turn
  // queue so that those behind it can tell when it died.
  void set_owner_slot(int slot);
  // Whether waiters queue in the turn queue; its counts when they do.
  bool ordered() const { return turns_ != nullptr; }
  TurnQueue::Stats turn_stats() const;

 private:
  WriteLock(const SidecarFile& file, std::unique_ptr<posix::DeadlineLock> lock,
            std::unique_ptr<SharedHeader> header);
  Status WriteHolderRecord(std::string_view purpose);
  Status TimedOut(bool name_holder) const;

  const SidecarFile& file_;
  std::unique_ptr<posix::DeadlineLock> lock_;
  const std::string host_;
  // getpid() is a system call; a handle never writes from another process
  // (after fork() the child's handle refuses every call).
  const std::int32_t pid_;
  std::unique_ptr<SharedHeader> header_;  // Null: not ordered.
  std::unique_ptr<TurnQueue> turns_;      // Null: not ordered.
  bool turn_held_ = false;
};

// Reads the write lock's state through descriptor `fd` of the sidecar at
// `path` (a descriptor that holds no lock itself).
Result<WriteLockStatus> ReadWriteLockState(posix::Env* env, int fd, const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_WRITE_LOCK_H_
