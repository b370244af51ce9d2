#include "sidecar/claim.h"

#include <algorithm>
#include <cerrno>
#include <random>
#include <sstream>
#include <thread>

#include "base/status_builders.h"
#include "base/time.h"
#include "posix/read_only.h"
#include "sidecar/process_identity.h"

namespace sqlsteward::internal {
namespace {

// The claim file's text; "" when it cannot be read (being written, gone,
// or not a regular file of at most a few bytes: never blocks on a FIFO).
std::string ReadClaim(posix::Env* env, const std::string& path) {
  auto text = posix::ReadRegularFile(env, path, "claim file", 4096);
  return text.has_value() ? std::move(text).value() : std::string();
}

}  // namespace

Status RegistrationClaim::Lock(std::chrono::steady_clock::time_point deadline) {
  const ProcessIdentity& self = ProcessIdentity::Self();
  const std::uint64_t nonce = std::random_device()();
  const std::string content = std::to_string(self.pid) + " " + std::to_string(self.start_ticks) +
                              " " + std::to_string(self.pid_namespace) + " " + self.boot_id + " " +
                              std::to_string(WallClockUnixMs()) + " " + std::to_string(nonce) +
                              " " + self.host + "\n";
  auto pause = std::chrono::microseconds(200);
  while (true) {
    int fd = env_->Open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      posix::UniqueFd guard(env_, fd);
      Status st = GiveToDatabaseOwner(env_, fd, path_, database_, nullptr);
      if (st.ok() && env_->Pwrite(fd, content.data(), content.size(), 0) !=
                         static_cast<ssize_t>(content.size())) {
        st = posix::ErrnoStatus(errno, "write", path_);
      }
      if (!st.ok()) {
        env_->Unlink(path_.c_str());
        return st;
      }
      held_ = true;
      return Status();
    }
    if (errno != EEXIST) return posix::ErrnoStatus(errno, "create", path_);
    struct stat st;
    bool gone = false;
    if (env_->Lstat(path_.c_str(), &st) != 0) {
      if (errno != ENOENT) return posix::ErrnoStatus(errno, "stat", path_);
      gone = true;
    } else {
      SQLSTEWARD_RETURN_IF_ERROR(CheckCompanionOwner("claim file", path_, st, database_));
      SQLSTEWARD_ASSIGN_OR_RETURN(gone, BreakIfStale(st));
    }
    // Checked on every turn, also when the file went away: a claim file
    // that keeps coming back must not keep us past the deadline.
    if (std::chrono::steady_clock::now() >= deadline) {
      return Timeout("timed out waiting for " + path_ + ": another instance is registering",
                     "retry; if it stays, the process that created the file is stuck");
    }
    if (gone) continue;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5'000));
  }
}

void RegistrationClaim::Unlock() {
  if (!held_) return;
  held_ = false;
  env_->Unlink(path_.c_str());
}

Result<bool> RegistrationClaim::BreakIfStale(const struct stat& st) {
  std::istringstream in(ReadClaim(env_, path_));
  std::int32_t pid = 0;
  std::uint64_t ticks = 0, ns = 0, nonce = 0;
  std::int64_t created = 0;
  std::string boot;
  if (!(in >> pid >> ticks >> ns >> boot >> created >> nonce)) {
    // Being written right now, or garbage: judge by age.
    created = std::int64_t{st.st_mtim.tv_sec} * 1000;
    boot.clear();
  }
  const ProcessIdentity& self = ProcessIdentity::Self();
  bool same_machine = boot == self.boot_id && ns == self.pid_namespace;
  bool stale =
      (same_machine && !ProcessAlive(pid, ticks)) || WallClockUnixMs() - created > kClaimStaleMs;
  if (!stale) return false;
  if (env_->Unlink(path_.c_str()) == 0 || errno == ENOENT) return true;
  // In a sticky directory another user's file stays: it would stay until
  // our deadline, so say so now.
  return posix::ErrnoStatus(errno, "remove stale claim file", path_,
                            "the claim file of a registration that ended long ago (owned by uid " +
                                std::to_string(st.st_uid) +
                                ") cannot be removed by this process: remove it as root or as "
                                "its owner, or open the database as its owner");
}

}  // namespace sqlsteward::internal
