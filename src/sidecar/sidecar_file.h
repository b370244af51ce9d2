// SidecarFile: the open `<db>-steward` file (sidecar/format.h), created
// whole when it is missing and validated when it exists.
//
// sqlsteward's locks and records live in this file, apart from the
// database, so that SQLite's process-wide POSIX locks on the database file
// never meet ours: any close() of a descriptor of the database would drop
// them.
//
// Thread safety: immutable after Open; its descriptor may be used from any
// thread (every user of it does positioned I/O or locks).
#ifndef SQLSTEWARD_SIDECAR_SIDECAR_FILE_H_
#define SQLSTEWARD_SIDECAR_SIDECAR_FILE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "posix/env.h"
#include "sidecar/file_owner.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

class SidecarFile {
 public:
  using Warn = std::function<void(std::string_view)>;

  // Opens or creates the sidecar of `db_path` (O_NOFOLLOW, 0600, one
  // link), owned as sidecar/file_owner.h says: one we create, or one root
  // created, is given to `database`'s owner when we are root; one of
  // another user is kPermissionDenied. A file another process is creating
  // gets two seconds to become whole; then one that is not a sidecar is
  // kCorruption and another format version kFailedPrecondition.
  static Result<std::unique_ptr<SidecarFile>> Open(posix::Env* env, const std::string& db_path,
                                                   const FileOwner& database, const Warn& warn);

  SidecarFile(const SidecarFile&) = delete;
  SidecarFile& operator=(const SidecarFile&) = delete;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  posix::Env* env() const { return env_; }

 private:
  SidecarFile(posix::Env* env, std::string path, posix::UniqueFd fd)
      : env_(env), path_(std::move(path)), fd_(std::move(fd)) {}
  // Creates `path` whole (header and empty slots) unless it exists.
  static Status CreateWhole(posix::Env* env, const std::string& path, const FileOwner& database,
                            const Warn& warn);

  posix::Env* const env_;
  const std::string path_;
  posix::UniqueFd fd_;
};

// The checks Open makes of an existing sidecar, shared with the readers
// that must not change it (sqlsteward/instances.h):
// a regular file with one link (kFailedPrecondition otherwise);
Status CheckSidecarStat(const struct stat& st, const std::string& path);
// and a whole header of this format version: a file another process is
// creating gets two seconds to become whole; then kCorruption (not a
// sidecar) or kFailedPrecondition (another version). Returns the version.
Result<std::uint32_t> ReadSidecarHeader(posix::Env* env, int fd, const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_SIDECAR_FILE_H_
