// Stale directory entries. A FUSE, virtiofs, 9p, NFS or CIFS client caches
// directory entries (FUSE's default entry_timeout is 1 s): a -journal that
// a writer through another mount or host has just removed can still be
// listed here. SQLite then takes it for a hot journal, its open fails with
// ENOENT, and the statement fails with kNotFound although nothing is wrong
// but the cache. Open (OpenWriter) and the write queue (BEGIN IMMEDIATE)
// wait that out: the attempt changed nothing, so it is retried, the write
// lock released in between, for up to kStaleEntryWait within the caller's
// deadline; then the kNotFound says so, with a hint about the cache.
//
// Thread safety: a StaleEntryWait belongs to one caller at a time.
#ifndef SQLSTEWARD_CORE_STALE_ENTRY_H_
#define SQLSTEWARD_CORE_STALE_ENTRY_H_

#include <chrono>
#include <string>

#include "sqlsteward/probe.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

inline constexpr std::chrono::milliseconds kStaleEntryWait{5000};
inline constexpr std::chrono::milliseconds kStaleEntryRetry{50};

// Whether a filesystem of `kind` may list a file another client removed.
bool MayShowStaleEntries(FsKind kind);

// The retries of one operation, from its first failed attempt.
class StaleEntryWait {
 public:
  using Clock = std::chrono::steady_clock;

  // After an attempt that failed with *error and changed nothing: when the
  // error may be a stale entry on `kind` and time is left before
  // min(deadline, first failure + kStaleEntryWait), sleeps kStaleEntryRetry
  // and returns true (try again). Otherwise returns false; a stale entry's
  // *error then becomes a kNotFound that names `what`, the attempts and
  // the time they took, with the hint.
  bool Retry(FsKind kind, const std::string& what, Clock::time_point deadline, Status* error);

 private:
  Clock::time_point start_ = Clock::now();
  int attempts_ = 0;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_STALE_ENTRY_H_
