// The text of /proc/locks read as a list of who holds POSIX locks on which
// files, for instances.unprotected (unprotected.cc). A pure parser, so the
// format's corner cases (OFD and flock locks, pids of other namespaces,
// waiters, damaged lines) are tested on literal text
// (tests/cli/proc_locks_test.cc); it depends on nothing but the standard
// library.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_TOOLS_DOCTOR_PROC_LOCKS_H_
#define SQLSTEWARD_TOOLS_DOCTOR_PROC_LOCKS_H_

#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace sqlsteward::cli::doctor {

// A file as /proc/locks names it: its device's major and minor number and
// its inode number (major() and minor() of lstat's st_dev, and st_ino).
struct LockedFileId {
  unsigned int major = 0;
  unsigned int minor = 0;
  std::uint64_t inode = 0;

  bool operator==(const LockedFileId&) const = default;
};

// The pids, ascending and each once, of the processes that hold or wait for
// a POSIX lock on one of `files`, read from the text of /proc/locks:
//   1: POSIX  ADVISORY  READ  12345 08:01:1234567 1073741826 1073742335
//   2: -> POSIX  ADVISORY  WRITE 678 08:01:1234567 0 EOF        (a waiter)
// The device is hex major:minor, the inode decimal. OFD locks (OFDLCK, pid
// -1: an open file description has no owner pid), flock(2) locks (FLOCK),
// leases, pid 0 (a process not visible from our pid namespace) and
// malformed lines are skipped.
std::vector<pid_t> PosixLockHolders(std::string_view proc_locks,
                                    const std::vector<LockedFileId>& files);

}  // namespace sqlsteward::cli::doctor

#endif  // SQLSTEWARD_TOOLS_DOCTOR_PROC_LOCKS_H_
