// Whose files sqlsteward opens for writing, and whom the files it creates
// belong to (issue 11, "files of another user").
//
// The rule:
//   - the database is owned by our effective uid, or we are root. Adopting
//     another user's database would leave every file we create beside it
//     (0600, ours) unusable by that user, and in a shared sticky directory
//     such as /tmp it would let whoever planted the file read what we
//     write. Group-shared databases are therefore not supported: the files
//     are 0600 anyway;
//   - a file beside the database that we open for writing (the sidecar,
//     the registration claim, -wal, -shm, -journal) is owned by our
//     effective uid, by the database's owner or by root (who can write any
//     file anyway). Anyone else could hold our write lock, fake its holder
//     record, ask our instances to hand over, or keep a claim file we
//     cannot remove;
//   - a file we create beside the database is given to the database's
//     owner and group when we are root (as SQLite does for -wal and -shm),
//     so that root running a command on a service's database never locks
//     the service out. It stays 0600.
// Refusals are kPermissionDenied: what the caller has to do is fix an
// ownership, and its message names the file and its owner's uid.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_SIDECAR_FILE_OWNER_H_
#define SQLSTEWARD_SIDECAR_FILE_OWNER_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// The database file's owner and group: the owner every file beside it
// must have.
struct FileOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  static FileOwner Of(const struct stat& st) { return {st.st_uid, st.st_gid}; }
};

// The database `path`, whose lstat is `st`, may be opened for writing by
// this process: it is ours, or we are root.
Status CheckDatabaseOwner(const std::string& path, const struct stat& st);

// A file beside the database (`what`: "sidecar", "claim file", ...) whose
// stat is `st` is owned by us, by the database's owner or by root.
Status CheckCompanionOwner(std::string_view what, const std::string& path, const struct stat& st,
                           const FileOwner& database);

// Gives the file we just created, open as `fd`, to the database's owner
// when we are root and it is not already theirs. A chown the kernel
// refuses (EPERM or EINVAL: a user namespace that does not map the owner)
// is reported through `warn` (when set) and not an error: the file stays
// ours, which the rule above allows.
Status GiveToDatabaseOwner(posix::Env* env, int fd, const std::string& path,
                           const FileOwner& database,
                           const std::function<void(std::string_view)>& warn);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_FILE_OWNER_H_
