#include "base/time.h"

#include <cstdio>
#include <ctime>

namespace sqlsteward {
namespace {

struct tm UtcOf(std::int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  return tm;
}

}  // namespace

std::int64_t WallClockUnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

// Formatted into a fixed buffer: building it from std::string pieces made
// g++ 12 at -O3 warn (-Wrestrict) inside libstdc++'s string code.
std::string IsoUtc(std::int64_t unix_ms, bool millis) {
  const struct tm tm = UtcOf(unix_ms);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (millis) {
    const int ms = static_cast<int>(((unix_ms % 1000) + 1000) % 1000);
    n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03d", ms));
  }
  buf[n++] = 'Z';
  return std::string(buf, n);
}

std::string CompactUtc(std::int64_t unix_ms) {
  const struct tm tm = UtcOf(unix_ms);
  char buf[32];
  return std::string(buf, std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm));
}

}  // namespace sqlsteward
