// TurnQueue: first come, first served among the processes that wait for
// the cross-process write lock.
//
// Why. The write lock is an OFD lock, and the kernel does not queue its
// waiters in order: a release wakes every waiter, and whoever runs first
// takes the lock. That is most often the process that just released it,
// whose threads have their next writes queued already, so the others wait
// for tens of milliseconds, and every batch the lock passes through holds
// only the jobs that came in since the last one: more commits, each with
// its fsync, for the same writes. In turn, a process that waits its turn
// comes to the lock with every job its threads queued meanwhile.
//
// What. A ticket lock in the sidecar's header page (shared_header.h), where
// the probe found shared memory coherent. It orders and does not exclude:
// every holder of a turn then takes the OFD lock, which alone keeps two
// writers apart. So a process that does not take part (an older version,
// a filesystem whose shared memory is not coherent, a mapping that failed)
// is safe, only not ordered, and no content of the area, however wrong,
// can let two processes write at once: the worst it can do is delay a
// waiter by kStallTimeout, after which the waiter stops waiting for its
// turn and queues on the OFD lock alone ("bypass").
//
// Layout (sidecar/format.h, all in the header page): `next`, the next
// ticket to hand out; `serving`, the ticket whose turn it is; a ring of
// kTurnEntries entries, entry[t % kTurnEntries] describing ticket t: one
// 64-bit word ticket << 32 | state, whose low half (the state) is the
// futex word the ticket's waiter sleeps on, and the registry slot of the
// waiter's instance.
//
// States: kWaiting (the waiter is in line), kGranted (its turn has come:
// set by the releaser, or by the waiter itself when it finds serving ==
// its ticket), kAbandoned (the waiter's deadline passed; it may rejoin at
// the same place while serving has not passed it).
//
// Protocol (all accesses sequentially consistent atomics):
//   Take:    t = next++; entry[t] = (t, kWaiting), slot; then read
//            serving: equal to t, the turn is ours (grant it to ourselves).
//   Wait:    sleep on entry[t]'s state while it is kWaiting, in slices of
//            kCheckInterval, up to the deadline; a slice that ends looks
//            for a stalled turn (below).
//   Pass:    after the OFD lock is released: serving = t + 1 (a
//            compare-and-swap from t: a stall recovery may have moved it
//            already), then grant the next ticket in line: kWaiting ->
//            kGranted and wake its sleeper; skip kAbandoned ones; stop at
//            an entry whose taker has not written it yet (it reads serving
//            after writing it, and so finds its turn itself: the writes of
//            serving and of the entry are each followed by a read of the
//            other, so at least one of the two sides sees the other).
//   Give up: kWaiting -> kAbandoned; if that fails the turn was granted
//            meanwhile, and is taken (the caller tries the lock, and on
//            failure passes the turn on).
//   Stall:   the ticket being served belongs to an instance whose slot
//            lock is free (it died; kill -9 frees every lock of a
//            process), or serving has not moved for kStallTimeout while
//            the OFD lock was free at each look: serving moves one on (a
//            compare-and-swap, so only one waiter does it) and the next in
//            line is granted.
//   Lost:    our entry was overwritten (more than kTurnEntries tickets out)
//            or serving passed our ticket without granting it: bypass.
// Registry::Register clears the area when it finds no other instance
// alive (turn_queue.h ResetTurns): a crash of every user, or a power loss,
// can leave tickets that no one will ever serve.
//
// Thread safety: one thread at a time per TurnQueue (the write lock's
// owner, see write_lock.h). Any number of TurnQueues, in any processes,
// share one area.
#ifndef SQLSTEWARD_SIDECAR_TURN_QUEUE_H_
#define SQLSTEWARD_SIDECAR_TURN_QUEUE_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "posix/env.h"
#include "sidecar/shared_header.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

class TurnQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // How often a waiter looks for a dead or stalled turn ahead of it.
  static constexpr std::chrono::milliseconds kCheckInterval{10};
  // How long serving may stand still, with the OFD lock free, before a
  // waiter moves it on: longer than any wake-up of a live holder takes.
  static constexpr std::chrono::milliseconds kStallTimeout{200};

  // `header` and the sidecar descriptor `fd` (its own open file
  // description, used only to look at locks) must outlive the queue.
  TurnQueue(const SharedHeader* header, int fd);
  TurnQueue(const TurnQueue&) = delete;
  TurnQueue& operator=(const TurnQueue&) = delete;
  // Gives up an outstanding ticket, and passes a turn still held.
  ~TurnQueue();

  // The registry slot of this instance, recorded with its tickets so that
  // waiters behind it can tell when it died. -1 until known.
  void set_owner_slot(int slot) { owner_slot_ = slot; }

  enum class Turn {
    kOurs,     // Our turn: take the OFD lock, then Pass() after releasing it.
    kBypass,   // No turn to wait for: take the OFD lock as if unordered.
    kTimeout,  // The deadline passed first; the place in line is kept for a
               // later Wait() while nobody passes it.
  };
  Turn Wait(Clock::time_point deadline);
  // Ends the turn Wait() returned kOurs for; nothing otherwise.
  void Pass();

  // Counts since construction, for tests and metrics.
  struct Stats {
    std::uint64_t turns = 0;         // kOurs
    std::uint64_t waited = 0;        // kOurs after sleeping at least once
    std::uint64_t bypasses = 0;      // kBypass
    std::uint64_t stall_skips = 0;   // turns of others moved on by this queue
  };
  const Stats& stats() const { return stats_; }

 private:
  void Take();
  bool Rejoin();
  // From serving == s: grants the first ticket in line, skipping abandoned
  // ones.
  void GrantFrom(std::uint32_t s);
  // Called when a wait slice ended: moves a dead or stalled turn on.
  void CheckStalled(Clock::time_point now);
  bool SlotAlive(int slot) const;
  bool WriteLockFree() const;

  std::uint32_t* next() const;
  std::uint32_t* serving() const;
  std::uint64_t* EntryWord(std::uint32_t ticket) const;
  std::int32_t* EntrySlot(std::uint32_t ticket) const;

  const SharedHeader* const header_;
  posix::Env* const env_;
  const int fd_;
  int owner_slot_ = -1;

  std::uint32_t ticket_ = 0;
  bool have_ticket_ = false;  // Waiting or abandoned, not yet our turn.
  bool holding_ = false;      // Our turn, until Pass().

  // Stall detection: the serving value last seen and since when.
  std::uint32_t seen_serving_ = 0;
  Clock::time_point seen_since_{};
  bool lock_seen_held_ = false;

  Stats stats_;
};

// Clears the turn area of the sidecar open as `fd` (pwrite of zeros): for
// Registry::Register when no other instance is alive.
Status ResetTurns(posix::Env* env, int fd, const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_TURN_QUEUE_H_
