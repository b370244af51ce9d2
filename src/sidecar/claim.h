// The registration arbiter: the file `<db>-steward.claim`, created with
// O_EXCL (atomic through FUSE, NFSv3+ and local filesystems alike) and
// removed once the claim is written. Registration (scan the slots, then
// claim one) runs while it exists, so two instances starting at once in two
// lock domains, where no lock can serialise them, cannot both read the
// slots before the other's claim is there: the second sees the first and
// refuses.
//
// Its one line: `pid start_ticks pid_namespace boot_id created_unix_ms nonce
// host`. A claim file is stale, and removed, when its creator is on this
// machine and no longer alive, or when it is older than kClaimStaleMs.
//
// Ownership (sidecar/file_owner.h): the file we create is given to the
// database's owner when we are root; one of another user is refused at
// once (kPermissionDenied), and so is a stale one we cannot remove (in a
// sticky directory, another user's): waiting could not make either go
// away. Every wait ends at the caller's deadline.
//
// Thread safety: one owner.
#ifndef SQLSTEWARD_SIDECAR_CLAIM_H_
#define SQLSTEWARD_SIDECAR_CLAIM_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "posix/env.h"
#include "sidecar/file_owner.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

inline constexpr std::int64_t kClaimStaleMs = 10'000;

class RegistrationClaim {
 public:
  RegistrationClaim(posix::Env* env, std::string path, const FileOwner& database)
      : env_(env), path_(std::move(path)), database_(database) {}
  RegistrationClaim(const RegistrationClaim&) = delete;
  RegistrationClaim& operator=(const RegistrationClaim&) = delete;
  ~RegistrationClaim() { Unlock(); }

  // Creates the claim file, waiting (a short backoff: registration takes
  // milliseconds and spans lock domains, where nothing can queue us) while
  // another instance's exists. kTimeout at `deadline`; kPermissionDenied
  // for a claim file of another user or a stale one we cannot remove.
  Status Lock(std::chrono::steady_clock::time_point deadline);
  void Unlock();

 private:
  // Removes the claim file, whose lstat is `st`, when its creator is
  // provably dead (same machine) or it is older than kClaimStaleMs; true
  // when it is gone.
  Result<bool> BreakIfStale(const struct stat& st);

  posix::Env* const env_;
  const std::string path_;
  const FileOwner database_;
  bool held_ = false;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_CLAIM_H_
