#include "sidecar/file_owner.h"

#include <unistd.h>

#include <cerrno>

#include "base/status_builders.h"

namespace sqlsteward::internal {
namespace {

std::string Uid(uid_t uid) { return "uid " + std::to_string(uid); }

}  // namespace

Status CheckDatabaseOwner(const std::string& path, const struct stat& st) {
  const uid_t self = ::geteuid();
  if (self == 0 || st.st_uid == self) return Status();
  return PermissionDenied(
      path + " is owned by " + Uid(st.st_uid) + ", not by this process (" + Uid(self) + ")",
      "open it as its owner (" + Uid(st.st_uid) +
          ") or as root: sqlsteward does not adopt another user's database, since the files "
          "it creates beside it would be this user's alone (0600). If " +
          Uid(st.st_uid) +
          " did not create it (a shared directory such as /tmp), remove it as root or as " +
          Uid(st.st_uid) + " and open again");
}

Status CheckCompanionOwner(std::string_view what, const std::string& path, const struct stat& st,
                           const FileOwner& database) {
  const uid_t self = ::geteuid();
  if (st.st_uid == self || st.st_uid == database.uid || st.st_uid == 0) return Status();
  return PermissionDenied(
      std::string(what) + " " + path + " is owned by " + Uid(st.st_uid) +
          ", neither this process's (" + Uid(self) + "), the database's owner's (" +
          Uid(database.uid) + ") nor root's",
      "another user created it, and could take the database's write lock or steer its "
      "instances through it: when no sqlsteward instance runs, remove it as root or as " +
          Uid(st.st_uid) +
          " (sqlsteward recreates what it needs, owned by the database's owner), or open "
          "the database as its owner");
}

Status GiveToDatabaseOwner(posix::Env* env, int fd, const std::string& path,
                           const FileOwner& database,
                           const std::function<void(std::string_view)>& warn) {
  if (::geteuid() != 0) return Status();
  struct stat st;
  if (env->Fstat(fd, &st) != 0) return posix::ErrnoStatus(errno, "fstat", path);
  if (st.st_uid == database.uid && st.st_gid == database.gid) return Status();
  if (env->Fchown(fd, database.uid, database.gid) == 0) return Status();
  const int err = errno;
  if (err != EPERM && err != EINVAL) return posix::ErrnoStatus(err, "fchown", path);
  if (warn) {
    warn("cannot chown " + path + " to the database's owner " + std::to_string(database.uid) + ":" +
         std::to_string(database.gid) + " (" + (err == EPERM ? "EPERM" : "EINVAL") +
         ", likely a user namespace); it stays root's");
  }
  return Status();
}

}  // namespace sqlsteward::internal
