#include "sidecar/sidecar.h"
#include "base/time.h"
#include "posix/fs.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

namespace sqlsteward::internal {
namespace {

constexpr char kMagic[8] = {'S', 'Q', 'L', 'S', 'T', 'W', 'D', '1'};
constexpr off_t kHolderOffset = 64;
constexpr std::size_t kHostBytes = 64;
constexpr std::size_t kPurposeBytes = 64;

// The holder record: written by each leader after it takes the write lock,
// read by waiters that time out so their error can name the holder.
struct HolderRecord {
  std::int32_t pid;
  std::int32_t reserved;
  std::int64_t since_unix_ms;
  char host[kHostBytes];
  char purpose[kPurposeBytes];
};
static_assert(sizeof(HolderRecord) == 144);

}  // namespace

std::string WriteLockHolder::Describe() const {
  std::string out = "pid " + std::to_string(pid) + " on host " + host + " since " +
                    IsoUtc(since_unix_ms);
  if (!purpose.empty()) out += " (" + purpose + ")";
  return out;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

Sidecar::Sidecar(posix::Env* env, std::string path, posix::UniqueFd fd,
                 std::unique_ptr<posix::DeadlineLock> write_lock)
    : env_(env),
      path_(std::move(path)),
      fd_(std::move(fd)),
      write_lock_(std::move(write_lock)),
      host_(HostName()) {}

Result<std::unique_ptr<Sidecar>> Sidecar::Open(posix::Env* env, const std::string& db_path,
                                               const Warn& warn) {
  std::string path = db_path + "-steward";
  int raw = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW, 0);
  if (raw < 0 && errno == ENOENT) {
    SQLSTEWARD_RETURN_IF_ERROR(CreateWhole(env, path));
    raw = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW, 0);
  }
  if (raw < 0) {
    if (errno == ELOOP) {
      return Status(StatusCode::kFailedPrecondition, "sidecar " + path + " is a symbolic link",
                    "remove the link; sqlsteward never follows links for its own files", 0,
                    ELOOP);
    }
    return posix::ErrnoStatus(errno, "open", path);
  }
  posix::UniqueFd fd(env, raw);
  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return posix::ErrnoStatus(errno, "fstat", path);
  if (!S_ISREG(st.st_mode)) {
    return Status(StatusCode::kFailedPrecondition, "sidecar " + path + " is not a regular file",
                  "move it aside; sqlsteward recreates it");
  }
  if (st.st_nlink > 1) {
    return Status(StatusCode::kFailedPrecondition,
                  "sidecar " + path + " has " + std::to_string(st.st_nlink) + " hard links",
                  "remove the other links: processes opening another name would not see "
                  "each other's locks");
  }
  if ((st.st_mode & 0077) != 0 && env->Fchmod(fd.get(), 0600) != 0) {
    if (errno != EPERM) return posix::ErrnoStatus(errno, "fchmod", path);
    if (warn) warn("cannot chmod " + path + " to 0600 (EPERM, likely a user namespace)");
  }
  auto lock = posix::DeadlineLock::Create(env, fd.get(), kWriteLockByte, 1);
  if (!lock.has_value()) return std::move(lock).error();
  std::unique_ptr<Sidecar> sidecar(
      new Sidecar(env, std::move(path), std::move(fd), std::move(lock).value()));
  SQLSTEWARD_RETURN_IF_ERROR(sidecar->ValidateHeader());
  return sidecar;
}

Status Sidecar::CreateWhole(posix::Env* env, const std::string& path) {
  // O_EXCL: exactly one creator, across lock domains too. Openers that find
  // the file before it is whole wait for it (ValidateHeader).
  int raw = env->Open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (raw < 0) return errno == EEXIST ? Status() : posix::ErrnoStatus(errno, "create", path);
  posix::UniqueFd fd(env, raw);
  std::vector<char> whole(static_cast<std::size_t>(kSidecarSize), 0);
  std::memcpy(whole.data(), kMagic, sizeof kMagic);
  std::uint32_t version = kSidecarVersion;
  std::uint32_t size = kSidecarHeaderSize;
  std::memcpy(whole.data() + 8, &version, 4);
  std::memcpy(whole.data() + 12, &size, 4);
  if (env->Pwrite(fd.get(), whole.data(), whole.size(), 0) !=
      static_cast<ssize_t>(whole.size())) {
    Status st = posix::ErrnoStatus(errno, "write", path);
    env->Unlink(path.c_str());  // Nobody can use a partial one.
    return st;
  }
  if (env->Fsync(fd.get()) != 0) return posix::ErrnoStatus(errno, "fsync", path);
  return posix::SyncDirectory(env, posix::DirName(path));
}

Status Sidecar::ValidateHeader() {
  // A sidecar another process has just created may not be whole yet, and
  // through FUSE its size is cached for about a second: a young file gets
  // that long to become whole before it counts as damaged.
  std::array<char, 16> head{};
  ssize_t n = 0;
  struct stat st;
  auto give_up = Clock::now() + std::chrono::seconds(2);
  while (true) {
    n = env_->Pread(fd_.get(), head.data(), head.size(), 0);
    if (n < 0) return posix::ErrnoStatus(errno, "pread", path_);
    if (env_->Fstat(fd_.get(), &st) != 0) return posix::ErrnoStatus(errno, "fstat", path_);
    bool whole = n == 16 && std::memcmp(head.data(), kMagic, sizeof kMagic) == 0 &&
                 st.st_size >= kSidecarSize;
    bool young = std::time(nullptr) - st.st_ctim.tv_sec < 5;
    if (whole || !young || Clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::uint32_t version = 0;
  std::memcpy(&version, head.data() + 8, 4);
  if (n < 16 || std::memcmp(head.data(), kMagic, sizeof kMagic) != 0 ||
      st.st_size < kSidecarSize) {
    return Status(StatusCode::kCorruption, path_ + " is not a sqlsteward sidecar file",
                  "if no sqlsteward process uses the database, move the file aside; "
                  "it is recreated on the next open");
  }
  if (version != kSidecarVersion) {
    return Status(StatusCode::kFailedPrecondition,
                  path_ + " has sidecar format version " + std::to_string(version) +
                      ", this build understands version " + std::to_string(kSidecarVersion),
                  "use the sqlsteward version that created it, or stop every instance and "
                  "remove the sidecar");
  }
  return Status();
}

Status Sidecar::AcquireWriteLock(Clock::time_point deadline, std::string_view purpose) {
  Status st = write_lock_->Acquire(deadline);
  if (st.code() == StatusCode::kTimeout) {
    std::string who = "another process";
    auto holder = CurrentHolder();
    if (holder.has_value() && holder->has_value()) who = (*holder)->Describe();
    return Status(StatusCode::kTimeout,
                  "timed out waiting for the write lock on " + path_ + ", held by " + who,
                  "retry; if the holder is stuck, inspect or stop it (the lock is released "
                  "when its process exits)");
  }
  SQLSTEWARD_RETURN_IF_ERROR(st);
  Status rec = WriteHolderRecord(purpose);
  if (!rec.ok()) {
    write_lock_->Release();
    return rec;
  }
  return Status();
}

void Sidecar::ReleaseWriteLock() { write_lock_->Release(); }

Status Sidecar::WriteHolderRecord(std::string_view purpose) {
  HolderRecord rec = {};
  rec.pid = static_cast<std::int32_t>(getpid());
  rec.since_unix_ms = WallClockUnixMs();
  std::strncpy(rec.host, host_.c_str(), kHostBytes - 1);
  purpose.copy(rec.purpose, std::min(purpose.size(), kPurposeBytes - 1));
  if (env_->Pwrite(fd_.get(), &rec, sizeof rec, kHolderOffset) != sizeof rec) {
    return posix::ErrnoStatus(errno, "pwrite", path_);
  }
  return Status();
}

Result<std::optional<WriteLockHolder>> Sidecar::CurrentHolder() {
  auto locked =
      posix::RangeLockedByOther(env_, fd_.get(), kWriteLockByte, 1, posix::LockKind::kExclusive);
  if (!locked.has_value()) return std::move(locked).error();
  if (!*locked) return std::optional<WriteLockHolder>();
  HolderRecord rec = {};
  if (env_->Pread(fd_.get(), &rec, sizeof rec, kHolderOffset) != sizeof rec) {
    return std::optional<WriteLockHolder>();
  }
  rec.host[kHostBytes - 1] = '\0';
  rec.purpose[kPurposeBytes - 1] = '\0';
  return std::optional<WriteLockHolder>(
      WriteLockHolder{rec.pid, rec.since_unix_ms, rec.host, rec.purpose});
}

}  // namespace sqlsteward::internal
