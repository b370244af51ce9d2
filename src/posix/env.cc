#include "posix/env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace sqlsteward::posix {

namespace {
std::atomic<Env*> g_test_env{nullptr};
}  // namespace

Env* Env::Default() {
  // Never destroyed: a detached lock waiter may still close its descriptor
  // through it while the process exits.
  static Env* const env = new Env;
  Env* test = g_test_env.load(std::memory_order_acquire);
  return test != nullptr ? test : env;
}

void Env::SetDefaultForTesting(Env* env) { g_test_env.store(env, std::memory_order_release); }

int Env::Open(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

int Env::Close(int fd) { return ::close(fd); }

ssize_t Env::Pread(int fd, void* buf, std::size_t len, off_t offset) {
  ssize_t n;
  do {
    n = ::pread(fd, buf, len, offset);
  } while (n < 0 && errno == EINTR);
  return n;
}

ssize_t Env::Pwrite(int fd, const void* buf, std::size_t len, off_t offset) {
  ssize_t n;
  do {
    n = ::pwrite(fd, buf, len, offset);
  } while (n < 0 && errno == EINTR);
  return n;
}

int Env::Fsync(int fd) { return ::fsync(fd); }
int Env::Fstat(int fd, struct stat* st) { return ::fstat(fd, st); }
int Env::Lstat(const char* path, struct stat* st) { return ::lstat(path, st); }
int Env::Mkdir(const char* path, mode_t mode) { return ::mkdir(path, mode); }
int Env::ChmodNoFollow(const char* path, mode_t mode) {
  return ::fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW);
}
int Env::Fchmod(int fd, mode_t mode) { return ::fchmod(fd, mode); }
int Env::Rename(const char* from, const char* to) { return ::rename(from, to); }
int Env::Unlink(const char* path) { return ::unlink(path); }
int Env::FcntlLock(int fd, int cmd, struct flock* lock) { return ::fcntl(fd, cmd, lock); }

Status ErrnoStatus(int err, std::string_view call, std::string_view path, std::string hint) {
  StatusCode code;
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
      code = StatusCode::kPermissionDenied;
      if (hint.empty()) hint = "check the owner and mode of the file and its directory, and that the filesystem is writable";
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
      if (hint.empty()) hint = "the device reported an I/O error; check the kernel log and the disk";
      break;
    case EINVAL:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
      code = StatusCode::kInvalidArgument;
      break;
    case EINTR:
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

Status MakeDirectories(Env* env, const std::string& dir,
                       std::string_view not_a_directory_hint) {
  struct stat st;
  if (env->Lstat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status();
    if (S_ISLNK(st.st_mode)) {
      // A link to a directory is a normal deployment choice; check the target.
      if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status();
    }
    return Status(StatusCode::kInvalidArgument, dir + " exists and is not a directory",
                  std::string(not_a_directory_hint), 0, ENOTDIR);
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "stat", dir);
  std::string parent = DirName(dir);
  if (parent != dir) {
    SQLSTEWARD_RETURN_IF_ERROR(MakeDirectories(env, parent, not_a_directory_hint));
  }
  if (env->Mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir", dir,
                       "create the directory yourself, or fix the permissions of its parent");
  }
  return Status();
}

std::int64_t WallClockUnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

namespace {
struct tm UtcOf(std::int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  return tm;
}
}  // namespace

std::string IsoUtc(std::int64_t unix_ms, bool millis) {
  const struct tm tm = UtcOf(unix_ms);
  char buf[32];
  std::string out(buf, std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm));
  if (millis) out += "." + std::to_string(unix_ms % 1000 + 1000).substr(1);
  return out + "Z";
}

std::string CompactUtc(std::int64_t unix_ms) {
  const struct tm tm = UtcOf(unix_ms);
  char buf[32];
  return std::string(buf, std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm));
}

Status SyncDirectory(Env* env, const std::string& dir) {
  int fd = env->Open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return ErrnoStatus(errno, "open", dir);
  UniqueFd guard(env, fd);
  if (env->Fsync(fd) != 0) return ErrnoStatus(errno, "fsync", dir);
  return Status();
}

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace sqlsteward::posix
