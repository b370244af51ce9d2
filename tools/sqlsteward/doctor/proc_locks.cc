#include "doctor/proc_locks.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <system_error>

namespace sqlsteward::cli::doctor {
namespace {

// The words of `line`, split at runs of blanks.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const std::size_t start = line.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    const std::size_t end = std::min(line.find_first_of(" \t", start), line.size());
    words.push_back(line.substr(start, end - start));
    pos = end;
  }
  return words;
}

// All of `s` as a number in `base`; nullopt for anything else (a sign, a
// trailing character, an overflow).
template <typename T>
std::optional<T> Number(std::string_view s, int base = 10) {
  T value{};
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value, base);
  if (s.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// "08:01:1234567": hex major, hex minor, decimal inode.
std::optional<LockedFileId> ParseFileId(std::string_view s) {
  const std::size_t first = s.find(':');
  const std::size_t second = first == std::string_view::npos ? first : s.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto major = Number<unsigned int>(s.substr(0, first), 16);
  auto minor = Number<unsigned int>(s.substr(first + 1, second - first - 1), 16);
  auto inode = Number<std::uint64_t>(s.substr(second + 1));
  if (!major || !minor || !inode) return std::nullopt;
  return LockedFileId{*major, *minor, *inode};
}

// The pid of the POSIX lock `line` shows, when it is on one of `files`;
// 0 otherwise. Words: "N:", "->" for a waiter, type, ADVISORY or
// MANDATORY, READ or WRITE, pid, device:inode, start, end.
pid_t HolderOf(std::string_view line, const std::vector<LockedFileId>& files) {
  std::vector<std::string_view> w = Words(line);
  if (w.size() > 1 && w[1] == "->") w.erase(w.begin() + 1);
  if (w.size() != 8 || w[0].empty() || w[0].back() != ':' || w[1] != "POSIX") return 0;
  const auto pid = Number<pid_t>(w[4]);
  const auto file = ParseFileId(w[5]);
  if (!pid || *pid <= 0 || !file) return 0;
  return std::find(files.begin(), files.end(), *file) != files.end() ? *pid : 0;
}

}  // namespace

std::vector<pid_t> PosixLockHolders(std::string_view proc_locks,
                                    const std::vector<LockedFileId>& files) {
  std::vector<pid_t> pids;
  std::size_t pos = 0;
  while (pos < proc_locks.size()) {
    const std::size_t end = std::min(proc_locks.find('\n', pos), proc_locks.size());
    if (pid_t pid = HolderOf(proc_locks.substr(pos, end - pos), files); pid > 0) {
      pids.push_back(pid);
    }
    pos = end + 1;
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

}  // namespace sqlsteward::cli::doctor
