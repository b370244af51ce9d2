// The sidecar file `<db>-steward`: sqlsteward's own locks and records, kept
// apart from the database so that SQLite's process-wide POSIX locks on the
// database file never meet ours (any close() of a database descriptor would
// drop them).
//
// Layout (format version 1, little-endian, see docs/formats.md):
//   [0, 8)      magic "SQLSTWD1"
//   [8, 12)     u32 format version (1)
//   [12, 16)    u32 header size (4096)
//   [64, 208)   write-lock holder record (see HolderRecord)
//   [4096, 36864) 128 instance slots of 256 bytes (registry_internal.h)
// The file is created once (O_EXCL) at its final size and never grows, so no
// reader, through any mount, is misled by a cached size (FUSE caches a
// file's size for about a second); an opener that finds it young and not
// yet whole waits for it.
// Lock bytes (OFD locks, advisory, independent of the bytes' content):
//   byte 4000   the cross-process write lock: held from before BEGIN
//               IMMEDIATE until after COMMIT and any checkpoint
//   byte 4001   the init lock: held while a new sidecar's header is written
//
// Thread safety: Sidecar's methods are called by the write queue's leader,
// one at a time, except ReadHolder(), which any thread may call.
#ifndef SQLSTEWARD_SIDECAR_SIDECAR_H_
#define SQLSTEWARD_SIDECAR_SIDECAR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "posix/env.h"
#include "posix/file_lock.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

inline constexpr off_t kWriteLockByte = 4000;
inline constexpr off_t kInitLockByte = 4001;
inline constexpr std::uint32_t kSidecarVersion = 1;
inline constexpr std::uint32_t kSidecarHeaderSize = 4096;
inline constexpr off_t kSlotBase = 4096;
inline constexpr off_t kSlotSize = 256;
inline constexpr int kMaxSlots = 128;
inline constexpr off_t kSidecarSize = kSlotBase + kMaxSlots * kSlotSize;

struct WriteLockHolder {
  std::int32_t pid = 0;
  std::int64_t since_unix_ms = 0;
  std::string host;
  std::string purpose;  // Empty for ordinary writes.

  // "pid 123 on host db1 since 2026-11-21T19:40:01Z (migration 0003_x)"
  std::string Describe() const;
};

class Sidecar {
 public:
  using Clock = std::chrono::steady_clock;
  using Warn = std::function<void(std::string_view)>;

  // Opens or creates `<db_path>-steward` (O_NOFOLLOW, 0600, one link).
  static Result<std::unique_ptr<Sidecar>> Open(posix::Env* env, const std::string& db_path,
                                               const Warn& warn);

  // Takes the cross-process write lock and records this process as holder,
  // doing `purpose` (empty for ordinary writes). kTimeout names the holder.
  Status AcquireWriteLock(Clock::time_point deadline, std::string_view purpose = {});
  void ReleaseWriteLock();

  // The last recorded holder, if the lock is held by another description now.
  Result<std::optional<WriteLockHolder>> CurrentHolder();

  const std::string& path() const { return path_; }
  posix::Env* env() const { return env_; }

 private:
  Sidecar(posix::Env* env, std::string path, posix::UniqueFd fd,
          std::unique_ptr<posix::DeadlineLock> write_lock);
  // Creates `path` whole (header and empty slots) unless it exists.
  static Status CreateWhole(posix::Env* env, const std::string& path);
  Status ValidateHeader();
  Status WriteHolderRecord(std::string_view purpose);

  posix::Env* env_;
  std::string path_;
  posix::UniqueFd fd_;
  std::unique_ptr<posix::DeadlineLock> write_lock_;
  std::string host_;
};

// Host name of this machine ("unknown" when it cannot be read).
std::string HostName();

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_SIDECAR_H_
