// The /proc/locks parser of `sqlsteward doctor` (PosixLockHolders,
// tools/sqlsteward/doctor/proc_locks.h). The kernel writes the text, but
// its format has varied across versions and namespaces, and doctor runs
// on whatever machine is broken.
//
// The input is a /proc/locks text. Properties:
//   - the pids are ascending, each once, positive, and each is a word of
//     the text;
//   - with no files asked about, none;
//   - a well-formed POSIX lock line appended for one of the files adds its
//     pid, and removes none.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "doctor/proc_locks.h"
#include "fuzz_check.h"

using sqlsteward::cli::doctor::LockedFileId;
using sqlsteward::cli::doctor::PosixLockHolders;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The files the seed corpus names.
  const std::vector<LockedFileId> files = {{0xfe, 0, 10953140}, {8, 1, 1234567}, {0xfd, 0, 42}};

  FUZZ_CHECK(PosixLockHolders(text, {}).empty());
  const std::vector<pid_t> pids = PosixLockHolders(text, files);
  FUZZ_CHECK(std::is_sorted(pids.begin(), pids.end()));
  FUZZ_CHECK(std::adjacent_find(pids.begin(), pids.end()) == pids.end());
  for (pid_t pid : pids) {
    FUZZ_CHECK(pid > 0);
    FUZZ_CHECK(text.find(std::to_string(pid)) != std::string_view::npos);
  }

  std::string more(text);
  if (!more.empty() && more.back() != '\n') more += '\n';
  more += "99: POSIX  ADVISORY  WRITE 4242424 fd:00:42 0 EOF\n";
  const std::vector<pid_t> with = PosixLockHolders(more, files);
  FUZZ_CHECK(std::binary_search(with.begin(), with.end(), 4242424));
  for (pid_t pid : pids) FUZZ_CHECK(std::binary_search(with.begin(), with.end(), pid));
  return 0;
}
