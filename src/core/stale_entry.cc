#include "core/stale_entry.h"

#include <algorithm>
#include <thread>

#include "base/status_builders.h"

namespace sqlsteward::internal {

bool MayShowStaleEntries(FsKind kind) {
  return kind != FsKind::kLocal && kind != FsKind::kTmpfs && kind != FsKind::kOverlay;
}

bool StaleEntryWait::Retry(FsKind kind, const std::string& what, Clock::time_point deadline,
                           Status* error) {
  if (error->code() != StatusCode::kNotFound || !MayShowStaleEntries(kind)) return false;
  ++attempts_;
  if (Clock::now() + kStaleEntryRetry < std::min(deadline, start_ + kStaleEntryWait)) {
    std::this_thread::sleep_for(kStaleEntryRetry);
    return true;
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_);
  *error = NotFound(
      what + ": " + std::string(error->message()) + " (" + std::to_string(attempts_) +
          " attempts in " + std::to_string(took.count()) + " ms)",
      "the database exists, but a file beside it (its -journal) could not be opened: on " +
          std::string(FsKindName(kind)) +
          " a file removed through another mount or host can stay listed in this host's "
          "directory-entry cache; retry, or mount with a shorter entry cache (FUSE "
          "entry_timeout, NFS actimeo)",
      error->sqlite_code(), error->sys_errno());
  return false;
}

}  // namespace sqlsteward::internal
