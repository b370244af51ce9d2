#include "sidecar/heartbeats.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

namespace sqlsteward::internal {

namespace {

std::atomic<Heartbeats*> g_heartbeats{nullptr};
// The sets left behind by fork(): the child must not touch their mutex (the
// parent's thread may have held it), and they stay reachable so that leak
// checkers do not report them.
std::vector<Heartbeats*>* g_orphans = nullptr;

}  // namespace

Heartbeats& Heartbeats::Get() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_heartbeats.store(new Heartbeats(), std::memory_order_release);
    pthread_atfork(nullptr, nullptr, [] {
      if (g_orphans == nullptr) g_orphans = new std::vector<Heartbeats*>();
      g_orphans->push_back(g_heartbeats.load(std::memory_order_relaxed));
      g_heartbeats.store(new Heartbeats(), std::memory_order_release);
    });
  });
  return *g_heartbeats.load(std::memory_order_acquire);
}

Heartbeats::Id Heartbeats::Add(Beat beat, std::chrono::milliseconds interval) {
  MutexLock lock(&mu_);
  const Id id = next_id_++;
  entries_.push_back(Entry{id, std::move(beat), interval, Clock::now() + interval});
  if (!started_) {
    started_ = true;
    // Detached: the set lives as long as the process.
    std::thread(&Heartbeats::Loop, this).detach();
  }
  changed_.SignalAll();
  return id;
}

void Heartbeats::Remove(Id id) {
  MutexLock lock(&mu_);
  std::erase_if(entries_, [id](const Entry& e) { return e.id == id; });
  while (running_ == id) finished_.Wait(&mu_);
}

void Heartbeats::Loop() {
  MutexLock lock(&mu_);
  while (true) {
    auto next = std::min_element(entries_.begin(), entries_.end(),
                                 [](const Entry& a, const Entry& b) { return a.due < b.due; });
    if (next == entries_.end()) {
      changed_.Wait(&mu_);
      continue;
    }
    if (Clock::now() < next->due) {
      changed_.WaitUntil(&mu_, next->due);
      continue;  // Entries may have changed meanwhile: look again.
    }
    // Due: the next one an interval later, or an interval from now when
    // the beats fell behind (no burst of catch-up beats).
    next->due += next->interval;
    if (const auto now = Clock::now(); next->due < now) next->due = now + next->interval;
    const Id id = next->id;
    Beat beat = next->beat;  // A copy: Remove may erase the entry meanwhile.
    running_ = id;
    mu_.Unlock();
    const bool keep = beat();
    mu_.Lock();
    running_ = 0;
    if (!keep) std::erase_if(entries_, [id](const Entry& e) { return e.id == id; });
    finished_.SignalAll();
  }
}

}  // namespace sqlsteward::internal
