// Heartbeats: one thread per process advances the heartbeat of every
// instance the process has registered (registry.h), instead of a thread per
// instance.
//
// Why: a thread per instance put a thread start into every Open and a join
// into every Close. The join waits for that thread to be scheduled, which on
// a loaded machine took milliseconds (Open+Close p90 3.6 ms against 0.4 ms
// at p50, with two compilers on the two cores); a warm process now opens
// and closes without creating or waking a thread.
//
// Protocol:
//   - Add(beat, interval) schedules `beat` every `interval`, first one
//     interval from now; the thread starts with the first Add.
//   - The thread runs each due beat outside mu_, with `running_` naming it.
//     A beat returns true to stay scheduled, false to be dropped (its
//     instance is stepping down and has taken over from there).
//   - Remove(beat) unschedules it and returns only when no beat of it is
//     running: afterwards the thread never touches it again. Not from a
//     beat.
// A slow beat (a sidecar on a slow network mount) delays the others of the
// process by as long; the others' readers allow two intervals, and a beat
// does one small write and one read.
//
// After fork() the child gets a new, empty set with no thread (the parent's
// thread does not exist in the child; the parent's handles are not usable
// there), started again by the child's first Add.
//
// Lock order: mu_ is innermost; it is never held while a beat runs.
// Thread safety: every method is safe for concurrent use.
#ifndef SQLSTEWARD_SIDECAR_HEARTBEATS_H_
#define SQLSTEWARD_SIDECAR_HEARTBEATS_H_

#include <chrono>
#include <functional>
#include <vector>

#include "base/mutex.h"

namespace sqlsteward::internal {

class Heartbeats {
 public:
  using Clock = std::chrono::steady_clock;
  // One heartbeat of one instance; false: stop scheduling it.
  using Beat = std::function<bool()>;
  using Id = unsigned long long;

  // The process's set (a new one in a child after fork()).
  static Heartbeats& Get();

  Id Add(Beat beat, std::chrono::milliseconds interval) EXCLUDES(mu_);
  // Unschedules `id` and waits for a beat of it in progress. Never from a
  // beat.
  void Remove(Id id) EXCLUDES(mu_);

 private:
  Heartbeats() = default;
  void Loop() EXCLUDES(mu_);

  struct Entry {
    Id id;
    Beat beat;
    Clock::duration interval;
    Clock::time_point due;
  };
  Mutex mu_;
  CondVar changed_;   // Entries added: the thread may need to wake earlier.
  CondVar finished_;  // A beat finished: Remove may return.
  std::vector<Entry> entries_ GUARDED_BY(mu_);
  Id next_id_ GUARDED_BY(mu_) = 1;
  Id running_ GUARDED_BY(mu_) = 0;
  bool started_ GUARDED_BY(mu_) = false;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_HEARTBEATS_H_
