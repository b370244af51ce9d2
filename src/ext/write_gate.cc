#include "ext/write_gate.h"

#include <cstdint>
#include <unordered_map>
#include <utility>

namespace sqlsteward::ext {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

// The gate this thread last answered kBusy for, whose wait the next
// busy-handler sleep of the thread continues; and the gate whose lock that
// sleep was granted, until the retry claims it. Kept as ids, looked up in
// the live gates: a thread-local with a destructor in a dlopen'ed library
// runs at thread exit after the gate may be gone (and ThreadSanitizer
// reports glibc's freeing of such TLS as a race).
thread_local std::uint64_t t_queued = 0;
thread_local std::uint64_t t_pending = 0;

struct LiveGates {
  Mutex mu;
  std::uint64_t next_id GUARDED_BY(mu) = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<WriteGate>> by_id GUARDED_BY(mu);

  static LiveGates& Get() {
    static LiveGates* gates = new LiveGates;  // Leaked: see Registrations.
    return *gates;
  }
  std::shared_ptr<WriteGate> Find(std::uint64_t id) EXCLUDES(mu) {
    if (id == 0) return nullptr;
    MutexLock l(&mu);
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second.lock();
  }
};

}  // namespace

Result<std::shared_ptr<WriteGate>> WriteGate::Open(std::shared_ptr<SharedDatabase> db) {
  auto sidecar = internal::SidecarFile::Open(db->env(), db->path(), db->owner(),
                                             [](std::string_view m) { Warn(m); });
  if (!sidecar.has_value()) return std::move(sidecar).error();
  auto lock = internal::WriteLock::Create(**sidecar, db->shared_memory_coherent());
  if (!lock.has_value()) return std::move(lock).error();
  (*lock)->set_owner_slot(db->slot());
  std::shared_ptr<WriteGate> gate(
      new WriteGate(std::move(db), std::move(sidecar).value(), std::move(lock).value()));
  LiveGates& live = LiveGates::Get();
  MutexLock l(&live.mu);
  gate->id_ = live.next_id++;
  live.by_id[gate->id_] = gate;
  return gate;
}

WriteGate::WriteGate(std::shared_ptr<SharedDatabase> db,
                     std::unique_ptr<internal::SidecarFile> sidecar,
                     std::unique_ptr<internal::WriteLock> lock)
    : db_(std::move(db)), sidecar_(std::move(sidecar)), lock_(std::move(lock)) {}

WriteGate::~WriteGate() {
  {
    LiveGates& live = LiveGates::Get();
    MutexLock l(&live.mu);
    live.by_id.erase(id_);
  }
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
  // Free now: taken, as stock SQLite would take its own lock, even when
  // others are in line for their turn; SQLite makes some first attempts on
  // paths that never call the busy handler, where a refusal would be a
  // SQLITE_BUSY stock SQLite does not give. Held: queued for a turn, which
  // the busy handler's sleep then waits for (SleepFor).
  Status st = lock_->TryAcquire();
  if (st.code() == StatusCode::kTimeout) st = lock_->Acquire(Clock::now(), {}, false);
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
  t_queued = id_;
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
  Status st = lock_->Acquire(Clock::now() + us, {}, /*name_holder=*/false);
  if (!st.ok()) return st.code() == StatusCode::kTimeout;  // Waited the whole sleep.
  held_ = true;
  pending_ = true;
  queued_ = false;
  Counters& c = db_->counters();
  c.write_locks.fetch_add(1, std::memory_order_relaxed);
  c.RecordWait(duration_cast<microseconds>(Clock::now() - queued_at_));
  t_pending = id_;
  return true;
}

bool WriteGate::SleepOnBehalfOfThread(microseconds us) {
  if (t_queued == 0) return false;
  std::shared_ptr<WriteGate> gate = LiveGates::Get().Find(t_queued);
  // Granted, or nothing to wait for: the next BUSY queues the thread anew.
  t_queued = 0;
  return gate != nullptr && gate->SleepFor(us);
}

void WriteGate::NoteThreadActivity(const WriteGate* gate) {
  const std::uint64_t current = gate != nullptr ? gate->id_ : 0;
  if (t_queued != 0 && t_queued != current) t_queued = 0;
  if (t_pending != 0 && t_pending != current) {
    std::shared_ptr<WriteGate> pending = LiveGates::Get().Find(t_pending);
    t_pending = 0;
    if (pending != nullptr) pending->DropPending();
  }
}

}  // namespace sqlsteward::ext
