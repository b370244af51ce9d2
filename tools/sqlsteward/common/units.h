// Durations and sizes as the commands take them from flags and print them.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_TOOLS_COMMON_UNITS_H_
#define SQLSTEWARD_TOOLS_COMMON_UNITS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace CLI {
class Validator;
}  // namespace CLI

namespace sqlsteward::cli {

// The longest wait any seconds flag accepts: one week. Longer is a typo
// (1e300), and would overflow the library's milliseconds.
inline constexpr double kMaxSeconds = 7 * 24 * 3600;

// What 0 means for a seconds flag: nothing sensible (a timeout), or "do not
// wait" (--wait-for-owner).
enum class ZeroSeconds { kRefused, kAtOnce };

// The check of every seconds flag (`->check(SecondsFlag(...))`): a finite
// number within (0, kMaxSeconds], or [0, kMaxSeconds] with kAtOnce. `nan`,
// `inf`, negative and absurd values are usage errors naming the flag and
// the range, before anything runs.
CLI::Validator SecondsFlag(ZeroSeconds zero);

// "0.42 s", "3.1 s", "2 min 05 s".
std::string FormatSeconds(double seconds);

// "12.3 MiB", always in MiB (progress lines keep one unit while they grow).
std::string FormatMib(std::int64_t bytes);

double SecondsSince(std::chrono::steady_clock::time_point start);

// A --timeout style flag (seconds, fractions allowed) as the library's
// milliseconds, rounded to the nearest.
std::chrono::milliseconds Millis(double seconds);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_UNITS_H_
