// Env: every system call sqlsteward makes on its own files (the database's
// directory, the sidecar, claim and probe files, snapshots, manifests and
// their temporaries) goes through here, so that tests can inject failures
// (EIO from fsync, ENOSPC from write or fallocate, EPERM from chmod, a
// rename that fails) and count calls, without touching the real
// filesystem's behaviour. SQLite's own files are SQLite's: its VFS does
// their I/O.
//
// How code reaches it: the Database handle owns the Env it was opened with
// (the default one, or a test's through DatabaseAccess::OpenWithEnv) and
// passes it down to every part that does I/O; free functions of the public
// API that have no handle use Env::Default() at their entry point and pass
// it down the same way. Nothing below an entry point calls Default().
//
// Each method mirrors its system call: it returns what the call returns and
// leaves errno as the call left it. Callers turn failures into Status with
// ErrnoStatus().
//
// EINTR. A signal (a handler installed without SA_RESTART, a debugger, a
// stop and continue) can interrupt a call that blocks: the F_OFD_SETLKW
// that waits for the write lock, an fsync, open, read or write on FUSE or
// NFS. Such an interruption is never an error of the data, so the calls
// whose EINTR means "nothing happened, call again" are retried here, in
// one place, and never return it: Open, Pread, Pwrite, Fsync, FcntlLock,
// Flock, Ftruncate, Fallocate, FutexWait. (A write interrupted after some bytes
// returns their count, not EINTR; callers already loop on short writes.)
// A lock wait keeps waiting after EINTR, and its deadline is the waiting
// caller's (DeadlineLock), not the system call's. Close is not retried
// (Linux releases the descriptor even then), nor are calls that change a
// name (Rename, Unlink, Mkdir, ...), which an interrupted FUSE or NFS
// request may have done: their EINTR reaches ErrnoStatus, a kTimeout whose
// hint says to retry.
//
// The retried calls are public and not virtual; each wraps one attempt,
// the protected Do* method, which a test Env overrides. A failure a test
// injects there (FaultEnv, EINTR) goes through the same retry as a real one.
//
// Thread safety: the default Env is stateless and safe for concurrent use;
// test Envs must be as well.
#ifndef SQLSTEWARD_POSIX_ENV_H_
#define SQLSTEWARD_POSIX_ENV_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/status.h"

namespace sqlsteward::posix {

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide real one: plain system calls. Never destroyed.
  static Env* Default();

  // open(2), always with O_CLOEXEC.
  int Open(const char* path, int flags, mode_t mode);
  virtual int Close(int fd);
  ssize_t Pread(int fd, void* buf, std::size_t len, off_t offset);
  ssize_t Pwrite(int fd, const void* buf, std::size_t len, off_t offset);
  int Fsync(int fd);
  virtual int Fstat(int fd, struct stat* st);
  virtual int Lstat(const char* path, struct stat* st);
  // stat(2): follows links (a directory reached through one is fine).
  virtual int Stat(const char* path, struct stat* st);
  virtual int Fstatfs(int fd, struct statfs* st);
  virtual int Mkdir(const char* path, mode_t mode);
  // fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW): never follows a link.
  virtual int ChmodNoFollow(const char* path, mode_t mode);
  virtual int Fchmod(int fd, mode_t mode);
  virtual int Fchown(int fd, uid_t uid, gid_t gid);
  virtual int Rename(const char* from, const char* to);
  // renameat2(RENAME_NOREPLACE): fails with EEXIST rather than replace `to`.
  // Where the filesystem lacks the flag (EINVAL), link(2) then unlink(2),
  // which never replaces either.
  virtual int RenameNoReplace(const char* from, const char* to);
  virtual int Unlink(const char* path);
  // faccessat(AT_FDCWD, path, mode, AT_EACCESS).
  virtual int Access(const char* path, int mode);
  // fcntl(fd, cmd, lock) for F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK, F_GETLK.
  int FcntlLock(int fd, int cmd, struct flock* lock);
  // flock(2).
  int Flock(int fd, int operation);
  // fcntl(fd, F_DUPFD_CLOEXEC, 0).
  virtual int Dup(int fd);
  int Ftruncate(int fd, off_t length);
  int Fallocate(int fd, int mode, off_t offset, off_t len);
  virtual int SyncFileRange(int fd, off_t offset, off_t nbytes, unsigned int flags);
  // The names in directory `path` but "." and "..", in readdir order; -1
  // with errno when it cannot be listed.
  virtual int ListDirectory(const char* path, std::vector<std::string>* names);
  // realpath(3) into *out.
  virtual int RealPath(const char* path, std::string* out);

  // mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset):
  // MAP_FAILED with errno on failure.
  virtual void* MapShared(int fd, std::size_t len, off_t offset);
  virtual int Unmap(void* addr, std::size_t len);
  // futex(FUTEX_WAIT_BITSET) on a 32-bit word of a MapShared mapping,
  // shared between processes: sleeps while *word == expected, until woken,
  // or until CLOCK_MONOTONIC reaches *deadline (nullptr: no limit). 0 when
  // woken (perhaps spuriously); -1 with ETIMEDOUT, or EAGAIN when the word
  // already differed. Retried on EINTR with the same deadline.
  int FutexWait(const std::uint32_t* word, std::uint32_t expected,
                const struct timespec* deadline);
  // Wakes up to `count` waiters of `word`; the number woken, or -1.
  virtual int FutexWake(const std::uint32_t* word, int count);

 protected:
  // One attempt each of the calls above that are retried on EINTR.
  virtual int DoOpen(const char* path, int flags, mode_t mode);
  virtual ssize_t DoPread(int fd, void* buf, std::size_t len, off_t offset);
  virtual ssize_t DoPwrite(int fd, const void* buf, std::size_t len, off_t offset);
  virtual int DoFsync(int fd);
  virtual int DoFcntlLock(int fd, int cmd, struct flock* lock);
  virtual int DoFlock(int fd, int operation);
  virtual int DoFtruncate(int fd, off_t length);
  virtual int DoFallocate(int fd, int mode, off_t offset, off_t len);
  virtual int DoFutexWait(const std::uint32_t* word, std::uint32_t expected,
                          const struct timespec* deadline);
};

// A Status for a failed system call: the code follows errno (EACCES/EPERM ->
// kPermissionDenied, ENOENT -> kNotFound, ENOSPC/EDQUOT -> kResourceExhausted,
// EIO -> kIOError, EINTR -> kTimeout, ...), the message names the call and
// the path, and an empty `hint` is filled in for the codes that have one.
Status ErrnoStatus(int err, std::string_view call, std::string_view path, std::string hint = {});

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

}  // namespace sqlsteward::posix

#endif  // SQLSTEWARD_POSIX_ENV_H_
