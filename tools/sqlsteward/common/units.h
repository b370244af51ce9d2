// Durations and sizes as the commands take them from flags and print them.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_TOOLS_COMMON_UNITS_H_
#define SQLSTEWARD_TOOLS_COMMON_UNITS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace sqlsteward::cli {

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
