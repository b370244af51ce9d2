// The lock probe (probes.h): a child process takes a POSIX lock on one byte
// and an OFD lock on another byte of a probe file, through its own open(),
// and waits; we ask F_GETLK / F_OFD_GETLK through our own descriptor. The
// child holds the locks until we tell it to go, so no sleep decides the
// outcome.
#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "probe/child.h"
#include "probe/probes.h"

namespace sqlsteward::probe_internal {
namespace {

constexpr off_t kPosixLockByte = 0;
constexpr off_t kOfdLockByte = 1;

struct flock WriteLockOn(off_t byte) {
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = byte;
  lock.l_len = 1;
  lock.l_pid = 0;  // must be 0 for F_OFD_*
  return lock;
}

}  // namespace

Result<LockProbeResult> RunLockProbe(posix::Env* env, const ProbeFile& file,
                                     const std::string& child_path, Millis child_timeout) {
  struct ChildReport {
    int open_errno;
    int posix_errno;
    int ofd_errno;
  };
  const char* path = child_path.empty() ? file.path().c_str() : child_path.c_str();
  auto body = [path](int sock) {
    ChildReport report = {0, 0, 0};
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      report.open_errno = errno;
    } else {
      struct flock posix_lock = WriteLockOn(kPosixLockByte);
      if (fcntl(fd, F_SETLK, &posix_lock) != 0) report.posix_errno = errno;
      struct flock ofd_lock = WriteLockOn(kOfdLockByte);
      if (fcntl(fd, F_OFD_SETLK, &ofd_lock) != 0) report.ofd_errno = errno;
    }
    if (write(sock, &report, sizeof report) != static_cast<ssize_t>(sizeof report)) return 1;
    // Hold the locks until the parent has looked (it sends a byte or goes away).
    char byte;
    while (read(sock, &byte, 1) < 0 && errno == EINTR) {
    }
    return 0;
  };
  SQLSTEWARD_ASSIGN_OR_RETURN(Child child, Child::Start(body));

  ChildReport report;
  SQLSTEWARD_RETURN_IF_ERROR(child.Receive(&report, sizeof report, child_timeout));
  if (report.open_errno != 0) {
    return posix::ErrnoStatus(report.open_errno, "open (probe child)", path);
  }

  LockProbeResult result;
  std::string who = "another process (pid " + std::to_string(child.pid()) + ")";
  struct flock query = WriteLockOn(kPosixLockByte);
  if (report.posix_errno != 0) {
    result.detail +=
        who + " could not take a POSIX lock: " + std::strerror(report.posix_errno) + ". ";
  } else if (env->FcntlLock(file.fd(), F_GETLK, &query) != 0) {
    result.detail += std::string("F_GETLK failed: ") + std::strerror(errno) + ". ";
  } else if (query.l_type == F_UNLCK) {
    result.detail += "A POSIX lock held by " + who + " was NOT visible here (F_GETLK). ";
  } else {
    result.posix_visible = true;
    result.detail += "A POSIX lock held by " + who + " was visible here (F_GETLK";
    if (query.l_pid != child.pid()) {
      result.detail += ", owner reported as pid " + std::to_string(query.l_pid);
    }
    result.detail += "). ";
  }

  query = WriteLockOn(kOfdLockByte);
  if (report.ofd_errno != 0) {
    result.detail += who + " could not take an OFD lock: " + std::strerror(report.ofd_errno) + ".";
  } else if (env->FcntlLock(file.fd(), F_OFD_GETLK, &query) != 0) {
    result.detail += std::string("F_OFD_GETLK failed: ") + std::strerror(errno) + ".";
  } else if (query.l_type == F_UNLCK) {
    result.detail += "An OFD lock held by " + who + " was NOT visible here (F_OFD_GETLK).";
  } else {
    result.ofd_visible = true;
    result.detail += "An OFD lock held by " + who + " was visible here (F_OFD_GETLK).";
  }

  Status finished = child.Finish();
  if (!finished.ok()) return finished.WithContext("lock probe");
  return result;
}

}  // namespace sqlsteward::probe_internal
