// Wall-clock time as other processes and hosts read it, and its UTC text.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_BASE_TIME_H_
#define SQLSTEWARD_BASE_TIME_H_

#include <cstdint>
#include <string>

namespace sqlsteward {

// Milliseconds since the Unix epoch (CLOCK_REALTIME), for timestamps that
// other processes and hosts read (holder records, slots, manifests).
std::int64_t WallClockUnixMs();

// `unix_ms` in UTC: "2024-05-01T10:00:00Z", or with `millis`
// "2024-05-01T10:00:00.123Z".
std::string IsoUtc(std::int64_t unix_ms, bool millis = false);

// "20240501T100000Z", for file names.
std::string CompactUtc(std::int64_t unix_ms);

}  // namespace sqlsteward

#endif  // SQLSTEWARD_BASE_TIME_H_
