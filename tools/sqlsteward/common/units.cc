#include "common/units.h"

#include <cmath>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

namespace sqlsteward::cli {

CLI::Validator SecondsFlag(ZeroSeconds zero) {
  const bool zero_ok = zero == ZeroSeconds::kAtOnce;
  const std::string range = fmt::format("{}0, {}] (up to one week)", zero_ok ? "[" : "(",
                                        static_cast<long>(kMaxSeconds));
  return CLI::Validator(
      [zero_ok, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        const bool number = !text.empty() && end == text.c_str() + text.size();
        if (number && std::isfinite(value) && value <= kMaxSeconds &&
            (value > 0 || (zero_ok && value == 0))) {
          return {};
        }
        return fmt::format("{} is not a number of seconds in {}", text, range);
      },
      fmt::format("SECONDS in {}0, {}]", zero_ok ? "[" : "(", static_cast<long>(kMaxSeconds)),
      "seconds");
}

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
