#include "doctor/text.h"

#include <fmt/core.h>

namespace sqlsteward::cli::doctor {

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ModeString(mode_t mode) { return fmt::format("{:04o}", mode & 07777U); }

std::string FormatBytes(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  if (bytes < (std::int64_t{1} << 20))
    return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
  if (bytes < (std::int64_t{1} << 30)) {
    return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0);
  }
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / 1073741824.0);
}

std::string_view Basename(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

}  // namespace sqlsteward::cli::doctor
