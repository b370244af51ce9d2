#include "common/units.h"

#include <cmath>

#include <fmt/core.h>

namespace sqlsteward::cli {

std::string FormatSeconds(double seconds) {
  if (seconds < 10) return fmt::format("{:.2f} s", seconds);
  if (seconds < 120) return fmt::format("{:.1f} s", seconds);
  auto whole = static_cast<long>(seconds);
  return fmt::format("{} min {:02} s", whole / 60, whole % 60);
}

std::string FormatMib(std::int64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000.0));
}

}  // namespace sqlsteward::cli
