#include "sidecar/turn_queue.h"

#include <time.h>

#include <atomic>
#include <cerrno>
#include <vector>

#include "posix/file_lock.h"
#include "sidecar/format.h"

namespace sqlsteward::internal {
namespace {

enum State : std::uint32_t {
  kEmpty = 0,
  kWaiting = 1,
  kGranted = 2,
  kAbandoned = 3,
};

constexpr std::uint64_t Word(std::uint32_t ticket, State state) {
  return (std::uint64_t{ticket} << 32) | state;
}
constexpr std::uint32_t TicketOf(std::uint64_t word) {
  return static_cast<std::uint32_t>(word >> 32);
}
constexpr std::uint32_t StateOf(std::uint64_t word) {
  return static_cast<std::uint32_t>(word & 0xffffffffu);
}
// Tickets wrap: a comes before b when b - a, as a signed 32-bit number, is
// positive.
constexpr bool Before(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(b - a) > 0;
}

std::uint32_t Load(std::uint32_t* p) { return std::atomic_ref<std::uint32_t>(*p).load(); }
std::uint64_t Load(std::uint64_t* p) { return std::atomic_ref<std::uint64_t>(*p).load(); }
bool Cas(std::uint32_t* p, std::uint32_t expected, std::uint32_t desired) {
  return std::atomic_ref<std::uint32_t>(*p).compare_exchange_strong(expected, desired);
}
bool Cas(std::uint64_t* p, std::uint64_t expected, std::uint64_t desired) {
  return std::atomic_ref<std::uint64_t>(*p).compare_exchange_strong(expected, desired);
}

struct timespec MonotonicTimespec(std::chrono::steady_clock::time_point t) {
  // steady_clock is CLOCK_MONOTONIC.
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return ts;
}

}  // namespace

TurnQueue::TurnQueue(const SharedHeader* header, int fd)
    : header_(header), env_(header->env()), fd_(fd) {}

TurnQueue::~TurnQueue() {
  if (holding_) Pass();
  if (have_ticket_) Cas(EntryWord(ticket_), Word(ticket_, kWaiting), Word(ticket_, kAbandoned));
}

std::uint32_t* TurnQueue::next() const { return header_->Word32(kTurnNextOffset); }
std::uint32_t* TurnQueue::serving() const { return header_->Word32(kTurnServingOffset); }
std::uint64_t* TurnQueue::EntryWord(std::uint32_t ticket) const {
  return header_->Word64(kTurnEntryBase + (ticket % kTurnEntries) * kTurnEntrySize);
}
std::int32_t* TurnQueue::EntrySlot(std::uint32_t ticket) const {
  return reinterpret_cast<std::int32_t*>(
      header_->Word32(kTurnEntryBase + (ticket % kTurnEntries) * kTurnEntrySize + 8));
}

void TurnQueue::Take() {
  ticket_ = std::atomic_ref<std::uint32_t>(*next()).fetch_add(1);
  std::atomic_ref<std::int32_t>(*EntrySlot(ticket_)).store(owner_slot_);
  std::atomic_ref<std::uint64_t>(*EntryWord(ticket_)).store(Word(ticket_, kWaiting));
  have_ticket_ = true;
}

bool TurnQueue::Rejoin() {
  if (Before(ticket_, Load(serving()))) return false;  // Passed while we were away.
  return Cas(EntryWord(ticket_), Word(ticket_, kAbandoned), Word(ticket_, kWaiting));
}

TurnQueue::Turn TurnQueue::Wait(Clock::time_point deadline) {
  if (!have_ticket_ || !Rejoin()) Take();
  const std::uint32_t t = ticket_;
  std::uint64_t* const word = EntryWord(t);
  // The state is the low half of the entry's word: the futex word.
  const std::uint32_t* const state = header_->Word32(kTurnEntryBase + (t % kTurnEntries) *
                                                                          kTurnEntrySize);
  bool slept = false;
  seen_serving_ = Load(serving());
  seen_since_ = Clock::now();
  while (true) {
    const std::uint64_t w = Load(word);
    if (TicketOf(w) != t) {  // Overwritten: more tickets out than entries.
      have_ticket_ = false;
      ++stats_.bypasses;
      return Turn::kBypass;
    }
    if (StateOf(w) == kGranted) {
      have_ticket_ = false;
      holding_ = true;
      ++stats_.turns;
      if (slept) ++stats_.waited;
      return Turn::kOurs;
    }
    const std::uint32_t s = Load(serving());
    if (s == t) {
      Cas(word, Word(t, kWaiting), Word(t, kGranted));
      continue;  // Granted, by us or by the releaser.
    }
    // Passed without a grant (a stall recovery skipped us), or further
    // behind than the queue can hold (garbage in the area).
    if (Before(t, s) || t - s > static_cast<std::uint32_t>(kTurnEntries)) {
      Cas(word, Word(t, kWaiting), Word(t, kAbandoned));
      have_ticket_ = false;
      ++stats_.bypasses;
      return Turn::kBypass;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      if (Cas(word, Word(t, kWaiting), Word(t, kAbandoned))) return Turn::kTimeout;
      continue;  // Granted meanwhile.
    }
    const Clock::time_point slice_end = std::min(deadline, now + kCheckInterval);
    const struct timespec until = MonotonicTimespec(slice_end);
    slept = true;
    if (env_->FutexWait(state, kWaiting, &until) != 0 && errno == ETIMEDOUT) {
      CheckStalled(Clock::now());
    }
  }
}

void TurnQueue::Pass() {
  if (!holding_) return;
  holding_ = false;
  if (Cas(serving(), ticket_, ticket_ + 1)) GrantFrom(ticket_ + 1);
}

void TurnQueue::GrantFrom(std::uint32_t s) {
  // Bounded: each round either grants, stops, or skips one abandoned entry.
  for (int round = 0; round < 2 * kTurnEntries; ++round) {
    if (s == Load(next())) return;  // Nobody in line: the next taker finds its turn.
    std::uint64_t* const word = EntryWord(s);
    const std::uint64_t w = Load(word);
    if (TicketOf(w) != s) return;  // Its taker has yet to write it, and will find its turn.
    switch (StateOf(w)) {
      case kWaiting:
        if (Cas(word, w, Word(s, kGranted))) {
          env_->FutexWake(reinterpret_cast<const std::uint32_t*>(word), 1);
          return;
        }
        continue;  // Abandoned or self-granted meanwhile: look again.
      case kAbandoned:
        if (!Cas(serving(), s, s + 1)) return;  // Someone else moved it.
        ++s;
        continue;
      default:  // kGranted: it is served.
        return;
    }
  }
}

void TurnQueue::CheckStalled(Clock::time_point now) {
  const std::uint32_t s = Load(serving());
  if (s == ticket_) return;  // Ours: Wait() takes it.
  if (s != seen_serving_) {
    seen_serving_ = s;
    seen_since_ = now;
    return;
  }
  const std::uint64_t w = Load(EntryWord(s));
  bool dead = false;
  if (TicketOf(w) == s) {
    if (StateOf(w) == kAbandoned) {
      GrantFrom(s);
      return;
    }
    const std::int32_t slot = std::atomic_ref<std::int32_t>(*EntrySlot(s)).load();
    dead = slot >= 0 && slot < kMaxSlots && slot != owner_slot_ && !SlotAlive(slot);
  }
  if (!dead) {
    if (!WriteLockFree()) {
      seen_since_ = now;  // The holder of the turn (or another writer) is at work.
      return;
    }
    if (now - seen_since_ < kStallTimeout) return;
  }
  if (Cas(serving(), s, s + 1)) {
    ++stats_.stall_skips;
    GrantFrom(s + 1);
  }
  seen_serving_ = s + 1;
  seen_since_ = now;
}

bool TurnQueue::SlotAlive(int slot) const {
  auto locked = posix::RangeLockedByOther(env_, fd_, SlotOffset(slot), 1, posix::LockKind::kShared);
  return !locked.has_value() || *locked;  // An error proves nothing: assume alive.
}

bool TurnQueue::WriteLockFree() const {
  auto locked = posix::RangeLockedByOther(env_, fd_, kWriteLockByte, 1, posix::LockKind::kShared);
  return locked.has_value() && !*locked;
}

Status ResetTurns(posix::Env* env, int fd, const std::string& path) {
  const std::vector<char> zeros(static_cast<std::size_t>(kTurnAreaEnd - kTurnAreaBegin), 0);
  if (env->Pwrite(fd, zeros.data(), zeros.size(), kTurnAreaBegin) !=
      static_cast<ssize_t>(zeros.size())) {
    return posix::ErrnoStatus(errno, "pwrite", path);
  }
  return Status();
}

}  // namespace sqlsteward::internal
