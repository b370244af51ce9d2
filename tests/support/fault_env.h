// FaultEnv: the real system calls of posix::Env, with failures injected by
// rule and every call counted. The one fault-injecting Env of the suite:
// hand it to the code under test (DatabaseAccess::OpenWithEnv, the
// internal probe and snapshot entry points) and say what should fail:
//
//   FaultEnv env;
//   env.Fail(FaultEnv::Op::kFsync, EIO, "/snaps/");        // the next fsync there
//   env.Fail(FaultEnv::Op::kPwrite, ENOSPC, "", 3, true);  // the 3rd write on, all
//
// A rule matches a call of its kind whose path contains `path_contains`
// (every call when empty). Calls on descriptors are matched by the path the
// descriptor was opened with through this Env; a rename by either name.
//
// Failures are injected below posix::Env's retry on EINTR (env.h): an EINTR
// given to Open, Pread, Pwrite, Fsync, FcntlLock (kLock, kLockWait), Flock,
// Ftruncate or Fallocate is retried as a real one would be, and each
// attempt counts as a call. So a sticky EINTR there never ends; fail the
// nth call, or a few, instead.
//
// Thread safety: safe for concurrent use. It must outlive every object that
// was given it (a Database's threads close descriptors through it).
#ifndef SQLSTEWARD_TESTS_SUPPORT_FAULT_ENV_H_
#define SQLSTEWARD_TESTS_SUPPORT_FAULT_ENV_H_

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "posix/env.h"

namespace sqlsteward::testing {

class FaultEnv : public posix::Env {
 public:
  enum class Op {
    kOpen, kClose, kPread, kPwrite, kFsync, kFstat, kLstat, kStat, kFstatfs, kMkdir,
    kChmod, kFchown, kRename, kUnlink, kAccess,
    kLock,      // fcntl's F_OFD_SETLK, F_OFD_GETLK, F_GETLK: never blocks.
    kLockWait,  // fcntl's F_OFD_SETLKW (and F_SETLKW): waits for the lock.
    kFlock, kDup, kFtruncate, kFallocate, kSyncFileRange, kListDirectory, kRealPath,
    kMapShared,  // mmap of the sidecar's header (the turn queue)
    kFutexWait,  // a wait for a turn; matched by the mapped file's path
    kCount_,
  };

  // Fails the `nth` matching call from now on (1: the next one) with errno
  // `err`; with `sticky`, that call and every later matching one.
  void Fail(Op op, int err, std::string path_contains = {}, int nth = 1, bool sticky = false);
  // Every matching call from now on.
  void FailAlways(Op op, int err, std::string path_contains = {}) {
    Fail(op, err, std::move(path_contains), 1, true);
  }
  // Kills this process with SIGKILL just before the `nth` matching call (1:
  // the next one) runs: a crash at that point, for helper processes that a
  // test runs once per sync point.
  void CrashAt(Op op, std::string path_contains, int nth);
  // Runs `action` just before the next matching call, which then runs as
  // usual: to change the world at a precise point of the code under test.
  void RunBefore(Op op, std::string path_contains, std::function<void()> action);
  // Removes every rule; counts stay.
  void Clear();
  // Calls of `op` made so far whose path contains `path_contains`.
  int Calls(Op op, std::string_view path_contains = {}) const;
  // Calls that a rule failed.
  int Injected() const;

  int Close(int fd) override;
  int Fstat(int fd, struct stat* st) override;
  int Lstat(const char* path, struct stat* st) override;
  int Stat(const char* path, struct stat* st) override;
  int Fstatfs(int fd, struct statfs* st) override;
  int Mkdir(const char* path, mode_t mode) override;
  int ChmodNoFollow(const char* path, mode_t mode) override;
  int Fchmod(int fd, mode_t mode) override;
  int Fchown(int fd, uid_t uid, gid_t gid) override;
  int Rename(const char* from, const char* to) override;
  int Unlink(const char* path) override;
  int Access(const char* path, int mode) override;
  int Dup(int fd) override;
  int SyncFileRange(int fd, off_t offset, off_t nbytes, unsigned int flags) override;
  int ListDirectory(const char* path, std::vector<std::string>* names) override;
  int RealPath(const char* path, std::string* out) override;
  void* MapShared(int fd, std::size_t len, off_t offset) override;
  int Unmap(void* addr, std::size_t len) override;

 protected:
  int DoOpen(const char* path, int flags, mode_t mode) override;
  ssize_t DoPread(int fd, void* buf, std::size_t len, off_t offset) override;
  ssize_t DoPwrite(int fd, const void* buf, std::size_t len, off_t offset) override;
  int DoFsync(int fd) override;
  int DoFcntlLock(int fd, int cmd, struct flock* lock) override;
  int DoFlock(int fd, int operation) override;
  int DoFtruncate(int fd, off_t length) override;
  int DoFallocate(int fd, int mode, off_t offset, off_t len) override;
  int DoFutexWait(const std::uint32_t* word, std::uint32_t expected,
                  const struct timespec* deadline) override;

 private:
  static constexpr int kCrash = -1;   // Rule::err of CrashAt.
  static constexpr int kAction = -2;  // Rule::err of RunBefore.
  struct Rule {
    Op op;
    int err;  // Or kCrash, kAction.
    std::string path_contains;
    int countdown;  // Matching calls to let through first.
    bool sticky;
    std::function<void()> action;  // For kAction.
  };
  // Records the call; returns the errno to fail it with, or 0.
  int Check(Op op, std::string_view path, std::string_view other_path = {});
  int CheckLocked(Op op, std::string_view path, std::string_view other_path,
                  std::function<void()>* action);
  int CheckFd(Op op, int fd);
  std::string PathOf(int fd) const;  // REQUIRES: mu_ held.
  // The file mapped at `addr`, for a futex word. REQUIRES: mu_ held.
  std::string PathOfAddress(const void* addr) const;

  mutable std::mutex mu_;
  std::vector<Rule> rules_;
  std::vector<std::pair<Op, std::string>> calls_;
  std::map<int, std::string> fd_paths_;
  // Mappings by start address: their length and the file's path.
  std::map<const char*, std::pair<std::size_t, std::string>> maps_;
  int injected_ = 0;
};

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_FAULT_ENV_H_
