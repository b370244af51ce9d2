// WriteGate: one connection's hold on the cross-process write lock
// (sidecar/write_lock.h), taken for the reasons SQLite gives it.
//
// A connection takes the lock before SQLite's own write lock (WAL: the
// WRITE slot of the shared memory; rollback journal: RESERVED or stronger
// on the database file) and before a checkpoint (WAL: the CHECKPOINTER
// slot), and gives it back when SQLite releases the last of them. So every
// writer and every checkpoint of every process that uses sqlsteward, the
// library or the extension, takes turns on one lock.
//
// Waiting: a write never waits inside the lock call, where SQLite may hold
// locks a holder needs (a rollback reader's SHARED lock blocks the
// holder's commit). Take() answers SQLITE_BUSY at once and leaves the
// connection queued in the kernel; SQLite then releases what it holds and
// calls the connection's busy handler, whose sleep comes back through the
// VFS's xSleep: Sleep() spends it waiting in the kernel queue, and returns
// as soon as the lock is granted. The retry finds the lock held ("pending")
// and claims it. So the wait is exactly as long as the connection's busy
// timeout allows (none: SQLITE_BUSY at once, as SQLite does), and FIFO
// rather than a poll. A checkpoint holds nothing the writers need and
// waits in the call itself, up to its bound.
//
// Thread safety: a connection is used by one thread at a time; the gate's
// state is guarded by its own mutex all the same, because a pending lock
// may be dropped by another thread's activity (see DropStale).
#ifndef SQLSTEWARD_EXT_WRITE_GATE_H_
#define SQLSTEWARD_EXT_WRITE_GATE_H_

#include <chrono>
#include <cstdint>
#include <memory>

#include "base/mutex.h"
#include "ext/shared_database.h"
#include "sidecar/sidecar_file.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/status.h"

namespace sqlsteward::ext {

class WriteGate {
 public:
  using Clock = std::chrono::steady_clock;
  enum Reason : unsigned {
    kWalWrite = 1,       // SQLite's WAL WRITE lock
    kCheckpoint = 2,     // SQLite's WAL CHECKPOINTER lock
    kDatabaseLock = 4,   // RESERVED or stronger on the database (rollback journal)
  };
  // What Take answers, mapped to SQLite codes by the VFS.
  enum class Outcome { kHeld, kBusy, kHandedOver, kError };

  // Opens a description of its own on the sidecar: OFD locks of two
  // connections of one process must conflict.
  static Result<std::shared_ptr<WriteGate>> Open(std::shared_ptr<SharedDatabase> db);
  ~WriteGate();

  // Never waits: kBusy leaves the connection queued, and makes this gate
  // the one the thread's next busy-handler sleep waits for.
  Outcome Take(Reason reason) EXCLUDES(mu_);
  // Waits up to the configured checkpoint bound; kBusy when it passed.
  Outcome TakeForCheckpoint() EXCLUDES(mu_);
  void Drop(Reason reason) EXCLUDES(mu_);
  // A lock granted during a sleep but not claimed is let go (SQLite gave
  // up, or released its own locks before retrying).
  void DropPending() EXCLUDES(mu_);

  // The sleep of the thread's busy handler: waits up to `us` for the gate
  // this thread last answered kBusy for; false when there is none (the
  // caller then really sleeps).
  static bool SleepOnBehalfOfThread(std::chrono::microseconds us);
  // Any use of another database by this thread ends its claim on the
  // sleep of the next busy handler.
  static void NoteThreadActivity(const WriteGate* gate);

  SharedDatabase& database() { return *db_; }

 private:
  WriteGate(std::shared_ptr<SharedDatabase> db, std::unique_ptr<internal::SidecarFile> sidecar,
            std::unique_ptr<internal::WriteLock> lock);
  // Waits up to `us`; false when there was nothing to wait for.
  bool SleepFor(std::chrono::microseconds us) EXCLUDES(mu_);
  void ReleaseIfUnused() REQUIRES(mu_);

  std::uint64_t id_ = 0;  // Set once by Open; names the gate to threads.
  std::shared_ptr<SharedDatabase> db_;
  std::unique_ptr<internal::SidecarFile> sidecar_;
  std::unique_ptr<internal::WriteLock> lock_;

  Mutex mu_;
  unsigned reasons_ GUARDED_BY(mu_) = 0;
  bool held_ GUARDED_BY(mu_) = false;
  bool pending_ GUARDED_BY(mu_) = false;  // Granted during a sleep, not claimed yet.
  bool queued_ GUARDED_BY(mu_) = false;   // Answered kBusy; waiting since queued_at_.
  Clock::time_point queued_at_ GUARDED_BY(mu_);
};

}  // namespace sqlsteward::ext

#endif  // SQLSTEWARD_EXT_WRITE_GATE_H_
