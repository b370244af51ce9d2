// Env: every system call sqlsteward makes on its own files goes through here,
// so that tests can inject failures (EIO from fsync, ENOSPC from write, EPERM
// from chmod) without touching the real filesystem's behaviour.
//
// Each method mirrors its system call: it returns what the call returns and
// leaves errno as the call left it. Callers turn failures into Status with
// ErrnoStatus().
//
// Thread safety: the default Env is stateless and safe for concurrent use;
// test Envs must be as well.
#ifndef SQLSTEWARD_POSIX_ENV_H_
#define SQLSTEWARD_POSIX_ENV_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "sqlsteward/status.h"

namespace sqlsteward::posix {

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide default: plain system calls, unless a test installed
  // its own with SetDefaultForTesting (nullptr restores the real one).
  static Env* Default();
  static void SetDefaultForTesting(Env* env);

  virtual int Open(const char* path, int flags, mode_t mode);
  virtual int Close(int fd);
  virtual ssize_t Pread(int fd, void* buf, std::size_t len, off_t offset);
  virtual ssize_t Pwrite(int fd, const void* buf, std::size_t len, off_t offset);
  virtual int Fsync(int fd);
  virtual int Fstat(int fd, struct stat* st);
  virtual int Lstat(const char* path, struct stat* st);
  virtual int Mkdir(const char* path, mode_t mode);
  // fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW): never follows a link.
  virtual int ChmodNoFollow(const char* path, mode_t mode);
  virtual int Fchmod(int fd, mode_t mode);
  virtual int Rename(const char* from, const char* to);
  virtual int Unlink(const char* path);
  // fcntl(fd, cmd, lock) for F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK.
  virtual int FcntlLock(int fd, int cmd, struct flock* lock);
};

// A Status for a failed system call: the code follows errno (EACCES/EPERM ->
// kPermissionDenied, ENOENT -> kNotFound, ENOSPC/EDQUOT -> kResourceExhausted,
// EIO -> kIOError, ...), the message names the call and the path.
Status ErrnoStatus(int err, std::string_view call, std::string_view path,
                   std::string hint = {});

// Owns a file descriptor; closes it through the Env it came from.
class UniqueFd {
 public:
  UniqueFd() = default;
  UniqueFd(Env* env, int fd) : env_(env), fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : env_(other.env_), fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  Env* env_ = nullptr;
  int fd_ = -1;
};

// fsyncs the directory `dir` so that entries created or renamed in it survive
// power loss.
Status SyncDirectory(Env* env, const std::string& dir);

// Creates `dir` and its missing parents, each 0700. A link to a directory
// counts as one. kInvalidArgument with `not_a_directory_hint` when `dir`
// (or a parent) exists and is not a directory.
Status MakeDirectories(Env* env, const std::string& dir, std::string_view not_a_directory_hint);

// Wall-clock time in milliseconds since the Unix epoch (CLOCK_REALTIME),
// for timestamps other processes and hosts read.
std::int64_t WallClockUnixMs();
// `unix_ms` in UTC: "2024-05-01T10:00:00Z", or with `millis`
// "2024-05-01T10:00:00.123Z".
std::string IsoUtc(std::int64_t unix_ms, bool millis = false);
// "20240501T100000Z", for file names.
std::string CompactUtc(std::int64_t unix_ms);

// "/a/b/c.db" -> "/a/b"; "c.db" -> ".".
std::string DirName(const std::string& path);

}  // namespace sqlsteward::posix

#endif  // SQLSTEWARD_POSIX_ENV_H_
