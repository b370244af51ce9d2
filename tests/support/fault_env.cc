#include "support/fault_env.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>

#include <cerrno>

namespace sqlsteward::testing {
namespace {

int Failed(int err) {
  errno = err;
  return -1;
}

}  // namespace

void FaultEnv::Fail(Op op, int err, std::string path_contains, int nth, bool sticky) {
  std::lock_guard lock(mu_);
  rules_.push_back(Rule{op, err, std::move(path_contains), nth - 1, sticky, {}});
}

void FaultEnv::CrashAt(Op op, std::string path_contains, int nth) {
  std::lock_guard lock(mu_);
  rules_.push_back(Rule{op, kCrash, std::move(path_contains), nth - 1, false, {}});
}

void FaultEnv::RunBefore(Op op, std::string path_contains, std::function<void()> action) {
  std::lock_guard lock(mu_);
  rules_.push_back(Rule{op, kAction, std::move(path_contains), 0, false, std::move(action)});
}

void FaultEnv::Clear() {
  std::lock_guard lock(mu_);
  rules_.clear();
}

int FaultEnv::Calls(Op op, std::string_view path_contains) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [call, path] : calls_) {
    if (call == op && path.find(path_contains) != std::string::npos) ++n;
  }
  return n;
}

int FaultEnv::Injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

std::string FaultEnv::PathOf(int fd) const {
  auto it = fd_paths_.find(fd);
  return it == fd_paths_.end() ? std::string() : it->second;
}

int FaultEnv::Check(Op op, std::string_view path, std::string_view other_path) {
  std::function<void()> action;
  int err = CheckLocked(op, path, other_path, &action);
  // Outside mu_: the action may make calls of its own through this Env.
  if (action) action();
  return err;
}

int FaultEnv::CheckLocked(Op op, std::string_view path, std::string_view other_path,
                          std::function<void()>* action) {
  std::lock_guard lock(mu_);
  calls_.emplace_back(op, std::string(path));
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    Rule& rule = *it;
    if (rule.op != op) continue;
    bool matches = path.find(rule.path_contains) != std::string_view::npos ||
                   (!other_path.empty() &&
                    other_path.find(rule.path_contains) != std::string_view::npos);
    if (!matches) continue;
    if (rule.countdown > 0) {
      --rule.countdown;
      continue;
    }
    const int err = rule.err;
    if (err == kCrash) ::raise(SIGKILL);
    if (err == kAction) {
      *action = std::move(rule.action);
      rules_.erase(it);
      return 0;
    }
    if (!rule.sticky) rules_.erase(it);
    ++injected_;
    return err;
  }
  return 0;
}

int FaultEnv::CheckFd(Op op, int fd) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    path = PathOf(fd);
  }
  return Check(op, path);
}

int FaultEnv::DoOpen(const char* path, int flags, mode_t mode) {
  if (int err = Check(Op::kOpen, path)) return Failed(err);
  int fd = Env::DoOpen(path, flags, mode);
  if (fd >= 0) {
    std::lock_guard lock(mu_);
    fd_paths_[fd] = path;
  }
  return fd;
}

int FaultEnv::Close(int fd) {
  int err = CheckFd(Op::kClose, fd);
  {
    std::lock_guard lock(mu_);
    fd_paths_.erase(fd);
  }
  // The descriptor is closed even when the call "fails", as close(2) does.
  int rc = Env::Close(fd);
  return err != 0 ? Failed(err) : rc;
}

ssize_t FaultEnv::DoPread(int fd, void* buf, std::size_t len, off_t offset) {
  if (int err = CheckFd(Op::kPread, fd)) return Failed(err);
  return Env::DoPread(fd, buf, len, offset);
}
ssize_t FaultEnv::DoPwrite(int fd, const void* buf, std::size_t len, off_t offset) {
  if (int err = CheckFd(Op::kPwrite, fd)) return Failed(err);
  return Env::DoPwrite(fd, buf, len, offset);
}
int FaultEnv::DoFsync(int fd) {
  if (int err = CheckFd(Op::kFsync, fd)) return Failed(err);
  return Env::DoFsync(fd);
}
int FaultEnv::Fstat(int fd, struct stat* st) {
  if (int err = CheckFd(Op::kFstat, fd)) return Failed(err);
  return Env::Fstat(fd, st);
}
int FaultEnv::Lstat(const char* path, struct stat* st) {
  if (int err = Check(Op::kLstat, path)) return Failed(err);
  return Env::Lstat(path, st);
}
int FaultEnv::Stat(const char* path, struct stat* st) {
  if (int err = Check(Op::kStat, path)) return Failed(err);
  return Env::Stat(path, st);
}
int FaultEnv::Fstatfs(int fd, struct statfs* st) {
  if (int err = CheckFd(Op::kFstatfs, fd)) return Failed(err);
  return Env::Fstatfs(fd, st);
}
int FaultEnv::Mkdir(const char* path, mode_t mode) {
  if (int err = Check(Op::kMkdir, path)) return Failed(err);
  return Env::Mkdir(path, mode);
}
int FaultEnv::ChmodNoFollow(const char* path, mode_t mode) {
  if (int err = Check(Op::kChmod, path)) return Failed(err);
  return Env::ChmodNoFollow(path, mode);
}
int FaultEnv::Fchmod(int fd, mode_t mode) {
  if (int err = CheckFd(Op::kChmod, fd)) return Failed(err);
  return Env::Fchmod(fd, mode);
}
int FaultEnv::Fchown(int fd, uid_t uid, gid_t gid) {
  if (int err = CheckFd(Op::kFchown, fd)) return Failed(err);
  return Env::Fchown(fd, uid, gid);
}
int FaultEnv::Rename(const char* from, const char* to) {
  if (int err = Check(Op::kRename, to, from)) return Failed(err);
  return Env::Rename(from, to);
}
int FaultEnv::Unlink(const char* path) {
  if (int err = Check(Op::kUnlink, path)) return Failed(err);
  return Env::Unlink(path);
}
int FaultEnv::Access(const char* path, int mode) {
  if (int err = Check(Op::kAccess, path)) return Failed(err);
  return Env::Access(path, mode);
}
int FaultEnv::DoFcntlLock(int fd, int cmd, struct flock* lock) {
  const bool waits = cmd == F_OFD_SETLKW || cmd == F_SETLKW;
  if (int err = CheckFd(waits ? Op::kLockWait : Op::kLock, fd)) return Failed(err);
  return Env::DoFcntlLock(fd, cmd, lock);
}
int FaultEnv::DoFlock(int fd, int operation) {
  if (int err = CheckFd(Op::kFlock, fd)) return Failed(err);
  return Env::DoFlock(fd, operation);
}
int FaultEnv::Dup(int fd) {
  if (int err = CheckFd(Op::kDup, fd)) return Failed(err);
  int copy = Env::Dup(fd);
  if (copy >= 0) {
    std::lock_guard lock(mu_);
    fd_paths_[copy] = PathOf(fd);
  }
  return copy;
}
int FaultEnv::DoFtruncate(int fd, off_t length) {
  if (int err = CheckFd(Op::kFtruncate, fd)) return Failed(err);
  return Env::DoFtruncate(fd, length);
}
int FaultEnv::DoFallocate(int fd, int mode, off_t offset, off_t len) {
  if (int err = CheckFd(Op::kFallocate, fd)) return Failed(err);
  return Env::DoFallocate(fd, mode, offset, len);
}
int FaultEnv::SyncFileRange(int fd, off_t offset, off_t nbytes, unsigned int flags) {
  if (int err = CheckFd(Op::kSyncFileRange, fd)) return Failed(err);
  return Env::SyncFileRange(fd, offset, nbytes, flags);
}
int FaultEnv::ListDirectory(const char* path, std::vector<std::string>* names) {
  if (int err = Check(Op::kListDirectory, path)) return Failed(err);
  return Env::ListDirectory(path, names);
}
void* FaultEnv::MapShared(int fd, std::size_t len, off_t offset) {
  if (int err = CheckFd(Op::kMapShared, fd)) {
    errno = err;
    return MAP_FAILED;
  }
  void* addr = Env::MapShared(fd, len, offset);
  if (addr != MAP_FAILED) {
    std::lock_guard lock(mu_);
    maps_[static_cast<const char*>(addr)] = {len, PathOf(fd)};
  }
  return addr;
}
int FaultEnv::Unmap(void* addr, std::size_t len) {
  {
    std::lock_guard lock(mu_);
    maps_.erase(static_cast<const char*>(addr));
  }
  return Env::Unmap(addr, len);
}
std::string FaultEnv::PathOfAddress(const void* addr) const {
  const char* p = static_cast<const char*>(addr);
  auto it = maps_.upper_bound(p);
  if (it == maps_.begin()) return {};
  --it;
  return p < it->first + it->second.first ? it->second.second : std::string();
}
int FaultEnv::DoFutexWait(const std::uint32_t* word, std::uint32_t expected,
                          const struct timespec* deadline) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    path = PathOfAddress(word);
  }
  if (int err = Check(Op::kFutexWait, path)) return Failed(err);
  return Env::DoFutexWait(word, expected, deadline);
}
int FaultEnv::RealPath(const char* path, std::string* out) {
  if (int err = Check(Op::kRealPath, path)) return Failed(err);
  return Env::RealPath(path, out);
}

}  // namespace sqlsteward::testing
