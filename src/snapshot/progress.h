// Reporter: turns the phases of a snapshot, verify or restore into calls of
// the caller's SnapshotProgressFn, rate-limited per phase.
//
// Thread safety: safe for concurrent use (the checksum, the integrity check
// and the fsync report from threads of their own); the callback is never
// called concurrently with itself, as sqlsteward/snapshot.h promises.
#ifndef SQLSTEWARD_SNAPSHOT_PROGRESS_H_
#define SQLSTEWARD_SNAPSHOT_PROGRESS_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "sqlsteward/snapshot.h"

namespace sqlsteward::internal {

class Reporter {
 public:
  // `fn` (may be empty) must outlive the Reporter.
  Reporter(const SnapshotProgressFn& fn, std::chrono::milliseconds interval)
      : fn_(fn), interval_(interval) {}

  // The phase starts: always reported.
  void Begin(SnapshotPhase phase, std::int64_t total, std::int64_t page_size) EXCLUDES(mu_);
  // Reported when `interval` has passed since the phase's last report.
  void Update(SnapshotPhase phase, std::int64_t done, std::int64_t total, int restarts = 0)
      EXCLUDES(mu_);
  // The phase ends: always reported, with finished = true.
  void End(SnapshotPhase phase, std::int64_t done, std::int64_t total) EXCLUDES(mu_);

 private:
  using Clock = std::chrono::steady_clock;
  struct State {
    Clock::time_point start{};
    Clock::time_point last{};
    std::int64_t page_size = 0;
    int restarts = 0;
  };
  static std::size_t Index(SnapshotPhase phase) { return static_cast<std::size_t>(phase); }

  void CallLocked(SnapshotPhase phase, State& s, std::int64_t done, std::int64_t total,
                  bool finished) REQUIRES(mu_);

  const SnapshotProgressFn& fn_;
  const std::chrono::milliseconds interval_;
  Mutex mu_;
  std::array<State, 6> state_ GUARDED_BY(mu_);
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_PROGRESS_H_
