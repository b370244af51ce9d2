#include "ext/write_gate.h"

#include <utility>

namespace sqlsteward::ext {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

// The gate this thread last answered kBusy for, whose wait the next
// busy-handler sleep of the thread continues; and the gate whose lock that
// sleep was granted, until the retry claims it.
thread_local std::weak_ptr<WriteGate> t_queued;
thread_local std::weak_ptr<WriteGate> t_pending;

}  // namespace

Result<std::shared_ptr<WriteGate>> WriteGate::Open(std::shared_ptr<SharedDatabase> db) {
  auto sidecar = internal::SidecarFile::Open(db->env(), db->path(), db->owner(),
                                             [](std::string_view m) { Warn(m); });
  if (!sidecar.has_value()) return std::move(sidecar).error();
  auto lock = internal::WriteLock::Create(**sidecar);
  if (!lock.has_value()) return std::move(lock).error();
  return std::shared_ptr<WriteGate>(
      new WriteGate(std::move(db), std::move(sidecar).value(), std::move(lock).value()));
}

WriteGate::WriteGate(std::shared_ptr<SharedDatabase> db,
                     std::unique_ptr<internal::SidecarFile> sidecar,
                     std::unique_ptr<internal::WriteLock> lock)
    : db_(std::move(db)), sidecar_(std::move(sidecar)), lock_(std::move(lock)) {}

WriteGate::~WriteGate() {
  MutexLock l(&mu_);
  if (held_) lock_->Release();
}

WriteGate::Outcome WriteGate::Take(Reason reason) {
  MutexLock l(&mu_);
  if (held_) {
    reasons_ |= reason;
    pending_ = false;
    return Outcome::kHeld;
  }
  if (db_->handed_over_to() != 0) {
    db_->counters().refused_writes.fetch_add(1, std::memory_order_relaxed);
    return Outcome::kHandedOver;
  }
  Status st = lock_->Acquire(Clock::now());
  if (st.ok()) {
    held_ = true;
    reasons_ |= reason;
    Counters& c = db_->counters();
    c.write_locks.fetch_add(1, std::memory_order_relaxed);
    if (queued_) {
      c.RecordWait(duration_cast<microseconds>(Clock::now() - queued_at_));
      queued_ = false;
    }
    return Outcome::kHeld;
  }
  if (st.code() != StatusCode::kTimeout) {
    Warn("write lock of " + db_->path() + ": " + st.ToString());
    return Outcome::kError;
  }
  if (!queued_) {
    queued_ = true;
    queued_at_ = Clock::now();
    db_->counters().write_lock_waits.fetch_add(1, std::memory_order_relaxed);
  }
  db_->counters().busy.fetch_add(1, std::memory_order_relaxed);
  t_queued = weak_from_this();
  return Outcome::kBusy;
}

WriteGate::Outcome WriteGate::TakeForCheckpoint() {
  MutexLock l(&mu_);
  Counters& c = db_->counters();
  if (!held_) {
    const auto start = Clock::now();
    Status st = lock_->Acquire(start + db_->config().checkpoint_wait, "checkpoint");
    if (!st.ok()) {
      c.checkpoints_skipped.fetch_add(1, std::memory_order_relaxed);
      if (st.code() == StatusCode::kTimeout) return Outcome::kBusy;
      Warn("write lock of " + db_->path() + ": " + st.ToString());
      return Outcome::kError;
    }
    held_ = true;
    c.write_locks.fetch_add(1, std::memory_order_relaxed);
    c.RecordWait(duration_cast<microseconds>(Clock::now() - start));
  }
  reasons_ |= kCheckpoint;
  pending_ = false;
  c.checkpoints.fetch_add(1, std::memory_order_relaxed);
  return Outcome::kHeld;
}

void WriteGate::Drop(Reason reason) {
  MutexLock l(&mu_);
  reasons_ &= ~static_cast<unsigned>(reason);
  ReleaseIfUnused();
}

void WriteGate::DropPending() {
  MutexLock l(&mu_);
  pending_ = false;
  ReleaseIfUnused();
}

void WriteGate::ReleaseIfUnused() {
  if (held_ && reasons_ == 0 && !pending_) {
    lock_->Release();
    held_ = false;
  }
}

bool WriteGate::SleepFor(microseconds us) {
  MutexLock l(&mu_);
  if (held_ || !queued_) return false;
  Status st = lock_->Acquire(Clock::now() + us);
  if (!st.ok()) return st.code() == StatusCode::kTimeout;  // Waited the whole sleep.
  held_ = true;
  pending_ = true;
  queued_ = false;
  Counters& c = db_->counters();
  c.write_locks.fetch_add(1, std::memory_order_relaxed);
  c.RecordWait(duration_cast<microseconds>(Clock::now() - queued_at_));
  t_pending = weak_from_this();
  return true;
}

bool WriteGate::SleepOnBehalfOfThread(microseconds us) {
  std::shared_ptr<WriteGate> gate = t_queued.lock();
  if (gate == nullptr) return false;
  const bool slept = gate->SleepFor(us);
  // Granted, or nothing to wait for: the next BUSY queues the thread anew.
  t_queued.reset();
  return slept;
}

void WriteGate::NoteThreadActivity(const WriteGate* gate) {
  if (auto queued = t_queued.lock(); queued != nullptr && queued.get() != gate) t_queued.reset();
  if (auto pending = t_pending.lock(); pending != nullptr && pending.get() != gate) {
    t_pending.reset();
    pending->DropPending();
  }
}

}  // namespace sqlsteward::ext
