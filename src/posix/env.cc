#include "posix/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace sqlsteward::posix {

Env* Env::Default() {
  // Never destroyed: a detached lock waiter may still close its descriptor
  // through it while the process exits.
  static Env* const env = new Env;
  return env;
}

namespace {

// The one retry on EINTR (see env.h). `attempt` returns -1 with errno on
// failure.
template <typename Attempt>
auto RetryOnEintr(Attempt attempt) {
  while (true) {
    auto rc = attempt();
    if (rc >= 0 || errno != EINTR) return rc;
  }
}

}  // namespace

int Env::Open(const char* path, int flags, mode_t mode) {
  return RetryOnEintr([&] { return DoOpen(path, flags, mode); });
}
ssize_t Env::Pread(int fd, void* buf, std::size_t len, off_t offset) {
  return RetryOnEintr([&] { return DoPread(fd, buf, len, offset); });
}
ssize_t Env::Pwrite(int fd, const void* buf, std::size_t len, off_t offset) {
  return RetryOnEintr([&] { return DoPwrite(fd, buf, len, offset); });
}
int Env::Fsync(int fd) {
  return RetryOnEintr([&] { return DoFsync(fd); });
}
int Env::FcntlLock(int fd, int cmd, struct flock* lock) {
  return RetryOnEintr([&] { return DoFcntlLock(fd, cmd, lock); });
}
int Env::Flock(int fd, int operation) {
  return RetryOnEintr([&] { return DoFlock(fd, operation); });
}
int Env::Ftruncate(int fd, off_t length) {
  return RetryOnEintr([&] { return DoFtruncate(fd, length); });
}
int Env::Fallocate(int fd, int mode, off_t offset, off_t len) {
  return RetryOnEintr([&] { return DoFallocate(fd, mode, offset, len); });
}

int Env::FutexWait(const std::uint32_t* word, std::uint32_t expected,
                   const struct timespec* deadline) {
  return RetryOnEintr([&] { return DoFutexWait(word, expected, deadline); });
}

int Env::DoOpen(const char* path, int flags, mode_t mode) {
  return ::open(path, flags | O_CLOEXEC, mode);
}
ssize_t Env::DoPread(int fd, void* buf, std::size_t len, off_t offset) {
  return ::pread(fd, buf, len, offset);
}
ssize_t Env::DoPwrite(int fd, const void* buf, std::size_t len, off_t offset) {
  return ::pwrite(fd, buf, len, offset);
}
int Env::DoFsync(int fd) { return ::fsync(fd); }
int Env::DoFcntlLock(int fd, int cmd, struct flock* lock) { return ::fcntl(fd, cmd, lock); }
int Env::DoFlock(int fd, int operation) { return ::flock(fd, operation); }
int Env::DoFtruncate(int fd, off_t length) { return ::ftruncate(fd, length); }
int Env::DoFallocate(int fd, int mode, off_t offset, off_t len) {
  return ::fallocate(fd, mode, offset, len);
}

int Env::DoFutexWait(const std::uint32_t* word, std::uint32_t expected,
                     const struct timespec* deadline) {
  // Not FUTEX_PRIVATE_FLAG: the word is in a file mapping other processes
  // share. FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
  return static_cast<int>(::syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline,
                                    nullptr, FUTEX_BITSET_MATCH_ANY));
}

int Env::Close(int fd) { return ::close(fd); }
int Env::Fstat(int fd, struct stat* st) { return ::fstat(fd, st); }
int Env::Lstat(const char* path, struct stat* st) { return ::lstat(path, st); }
int Env::Stat(const char* path, struct stat* st) { return ::stat(path, st); }
int Env::Fstatfs(int fd, struct statfs* st) { return ::fstatfs(fd, st); }
int Env::Mkdir(const char* path, mode_t mode) { return ::mkdir(path, mode); }
int Env::ChmodNoFollow(const char* path, mode_t mode) {
  return ::fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW);
}
int Env::Fchmod(int fd, mode_t mode) { return ::fchmod(fd, mode); }
int Env::Fchown(int fd, uid_t uid, gid_t gid) { return ::fchown(fd, uid, gid); }
int Env::Rename(const char* from, const char* to) { return ::rename(from, to); }
int Env::RenameNoReplace(const char* from, const char* to) {
  if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  if (::link(from, to) != 0) return -1;
  return ::unlink(from);
}
int Env::Unlink(const char* path) { return ::unlink(path); }
int Env::Access(const char* path, int mode) {
  return ::faccessat(AT_FDCWD, path, mode, AT_EACCESS);
}
int Env::Dup(int fd) { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); }
int Env::SyncFileRange(int fd, off_t offset, off_t nbytes, unsigned int flags) {
  return ::sync_file_range(fd, offset, nbytes, flags);
}

void* Env::MapShared(int fd, std::size_t len, off_t offset) {
  return ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
}
int Env::Unmap(void* addr, std::size_t len) { return ::munmap(addr, len); }
int Env::FutexWake(const std::uint32_t* word, int count) {
  return static_cast<int>(::syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0));
}

int Env::ListDirectory(const char* path, std::vector<std::string>* names) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path), &::closedir);
  if (dir == nullptr) return -1;
  names->clear();
  errno = 0;
  while (struct dirent* entry = ::readdir(dir.get())) {
    std::string_view name(entry->d_name);
    if (name != "." && name != "..") names->emplace_back(name);
    errno = 0;
  }
  return errno == 0 ? 0 : -1;
}

int Env::RealPath(const char* path, std::string* out) {
  std::unique_ptr<char, void (*)(void*)> resolved(::realpath(path, nullptr), &std::free);
  if (resolved == nullptr) return -1;
  *out = resolved.get();
  return 0;
}

Status ErrnoStatus(int err, std::string_view call, std::string_view path, std::string hint) {
  StatusCode code;
  switch (err) {
    case EROFS:
      // Not a matter of owner or mode: say so, whatever the caller guessed.
      code = StatusCode::kPermissionDenied;
      hint = "the filesystem is mounted read-only; reads (query, version, status, doctor, "
             "verify) work there, writes need it remounted read-write or the database copied "
             "to a writable place";
      break;
    case EACCES:
    case EPERM:
      code = StatusCode::kPermissionDenied;
      if (hint.empty())
        hint =
            "check the owner and mode of the file and its directory, and that the filesystem is "
            "writable";
      break;
    case ENOENT:
    case ENOTDIR:
      code = StatusCode::kNotFound;
      break;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ENOLCK:
      code = StatusCode::kResourceExhausted;
      if (hint.empty()) hint = "free disk space, file descriptors or memory, then retry";
      break;
    case EIO:
      code = StatusCode::kIOError;
      if (hint.empty())
        hint = "the device reported an I/O error; check the kernel log and the disk";
      break;
    case EINVAL:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
      code = StatusCode::kInvalidArgument;
      break;
    case EINTR:
      // Only from a call env.h does not retry: one that may have had its
      // effect before the signal came.
      code = StatusCode::kTimeout;
      if (hint.empty()) hint = "a signal interrupted the call; retry";
      break;
    case EAGAIN:
    case ETIMEDOUT:
      code = StatusCode::kTimeout;
      break;
    default:
      code = StatusCode::kIOError;
  }
  std::string message(call);
  message += "(";
  message += path;
  message += "): ";
  message += std::strerror(err);
  return Status(code, std::move(message), std::move(hint), 0, err);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    Reset();
    env_ = other.env_;
    fd_ = other.Release();
  }
  return *this;
}

void UniqueFd::Reset() {
  if (fd_ >= 0) {
    env_->Close(fd_);
    fd_ = -1;
  }
}

}  // namespace sqlsteward::posix
