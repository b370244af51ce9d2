#include "posix/fs.h"

#include <cerrno>

#include "base/status_builders.h"

namespace sqlsteward::posix {

Status SyncDirectory(Env* env, const std::string& dir) {
  int fd = env->Open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return ErrnoStatus(errno, "open", dir);
  UniqueFd guard(env, fd);
  if (env->Fsync(fd) != 0) return ErrnoStatus(errno, "fsync", dir);
  return Status();
}

Status MakeDirectories(Env* env, const std::string& dir, std::string_view not_a_directory_hint) {
  struct stat st;
  if (env->Lstat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status();
    if (S_ISLNK(st.st_mode)) {
      // A link to a directory is a normal deployment choice; check the target.
      if (env->Stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status();
    }
    return InvalidArgument(dir + " exists and is not a directory",
                           std::string(not_a_directory_hint), 0, ENOTDIR);
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "stat", dir);
  std::string parent = DirName(dir);
  if (parent != dir) {
    SQLSTEWARD_RETURN_IF_ERROR(MakeDirectories(env, parent, not_a_directory_hint));
  }
  if (env->Mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir", dir,
                       "create the directory yourself, or fix the permissions of its parent");
  }
  return Status();
}

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace sqlsteward::posix
