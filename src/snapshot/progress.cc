#include "snapshot/progress.h"

namespace sqlsteward {

namespace internal {

void Reporter::Begin(SnapshotPhase phase, std::int64_t total, std::int64_t page_size) {
  MutexLock lock(&mu_);
  State& s = state_[Index(phase)];
  s = State{};
  s.start = Clock::now();
  s.page_size = page_size;
  CallLocked(phase, s, 0, total, false);
}

void Reporter::Update(SnapshotPhase phase, std::int64_t done, std::int64_t total, int restarts) {
  MutexLock lock(&mu_);
  State& s = state_[Index(phase)];
  s.restarts = restarts;
  if (Clock::now() - s.last < interval_) return;
  CallLocked(phase, s, done, total, false);
}

void Reporter::End(SnapshotPhase phase, std::int64_t done, std::int64_t total) {
  MutexLock lock(&mu_);
  CallLocked(phase, state_[Index(phase)], done, total, true);
}

void Reporter::CallLocked(SnapshotPhase phase, State& s, std::int64_t done, std::int64_t total,
                          bool finished) {
  if (!fn_) return;
  s.last = Clock::now();
  SnapshotProgress p;
  p.phase = phase;
  p.pages_done = done;
  p.pages_total = total;
  p.page_size = s.page_size;
  p.bytes_done = done * s.page_size;
  p.elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(s.last - s.start);
  p.finished = finished;
  p.restarts = s.restarts;
  fn_(p);
}

}  // namespace internal

std::string_view SnapshotPhaseName(SnapshotPhase phase) {
  switch (phase) {
    case SnapshotPhase::kCopy:
      return "copy";
    case SnapshotPhase::kSync:
      return "sync";
    case SnapshotPhase::kChecksum:
      return "checksum";
    case SnapshotPhase::kIntegrityCheck:
      return "integrity_check";
    case SnapshotPhase::kPreRestore:
      return "pre_restore";
    case SnapshotPhase::kRestore:
      return "restore";
  }
  return "unknown";
}

}  // namespace sqlsteward
