#include "probe/child.h"

#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>

namespace sqlsteward::probe_internal {

// Helpers for the probes

std::uint64_t Random64() {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof value, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof value)) {
    return value;
  }
  // No entropy yet (early boot): uniqueness is all the name needs, and
  // O_EXCL catches the rest.
  static std::atomic<std::uint64_t> counter{0};
  auto now =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::uint64_t pid = static_cast<std::uint32_t>(getpid());
  return (now ^ (pid << 32)) * std::uint64_t{0x9E3779B97F4A7C15} + counter.fetch_add(1);
}

std::uint64_t NonZeroRandom() {
  std::uint64_t value = Random64();
  return value == 0 ? 1 : value;
}

std::int64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Another thread's probe may have forked us while its socket was open;
// holding that copy would keep its child or itself from ever seeing EOF.
int KeepOnly(int keep) {
  constexpr int kFirst = STDERR_FILENO + 1;
  if (keep != kFirst) {
    if (dup2(keep, kFirst) < 0) return keep;  // then at least keep `keep` open
    keep = kFirst;
  }
  if (syscall(SYS_close_range, kFirst + 1, ~0U, 0) != 0) {
    for (int fd = kFirst + 1; fd < 65536; ++fd) close(fd);  // kernel before 5.9
  }
  return keep;
}

// A forked child joined to us by a SOCK_SEQPACKET socketpair (one message
// per send, EOF when either side goes away, no SIGPIPE for us).

}  // namespace sqlsteward::probe_internal
