#include "sidecar/sidecar_file.h"

#include <array>
#include <cerrno>
#include <ctime>
#include <thread>
#include <vector>

#include "base/status_builders.h"
#include "posix/fs.h"
#include "sidecar/format.h"

namespace sqlsteward::internal {

Result<std::unique_ptr<SidecarFile>> SidecarFile::Open(posix::Env* env, const std::string& db_path,
                                                       const FileOwner& database,
                                                       const Warn& warn) {
  std::string path = SidecarPath(db_path);
  int raw = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW, 0);
  if (raw < 0 && errno == ENOENT) {
    SQLSTEWARD_RETURN_IF_ERROR(CreateWhole(env, path, database, warn));
    raw = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW, 0);
  }
  if (raw < 0) {
    const int err = errno;
    if (err == ELOOP) {
      return FailedPrecondition("sidecar " + path + " is a symbolic link",
                                "remove the link; sqlsteward never follows links for its own files",
                                0, ELOOP);
    }
    struct stat st;
    if (err == EACCES && env->Lstat(path.c_str(), &st) == 0) {
      // Another user's file: say whose, rather than only "permission denied".
      SQLSTEWARD_RETURN_IF_ERROR(CheckCompanionOwner("sidecar", path, st, database));
      if (st.st_uid == 0 && database.uid != 0) {
        return PermissionDenied(
            "sidecar " + path + " belongs to root, not to the database's owner (uid " +
                std::to_string(database.uid) + ")",
            "root created it before sqlsteward gave its files to the database's owner: "
            "run `chown " + std::to_string(database.uid) + ":" + std::to_string(database.gid) +
                " " + path + "` as root, or open the database once as root",
            0, EACCES);
      }
    }
    return posix::ErrnoStatus(
        err, "open", path,
        err == EACCES || err == EPERM
            ? "the sidecar must be readable and writable by every process that opens the "
              "database: check the owner and mode of " + path +
                  " (0600, the database's owner) and of its directory"
            : std::string());
  }
  posix::UniqueFd fd(env, raw);
  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return posix::ErrnoStatus(errno, "fstat", path);
  SQLSTEWARD_RETURN_IF_ERROR(CheckSidecarStat(st, path));
  SQLSTEWARD_RETURN_IF_ERROR(CheckCompanionOwner("sidecar", path, st, database));
  // Ours or root's: as root, give it to the database's owner (it may
  // predate this rule and lock the service out).
  SQLSTEWARD_RETURN_IF_ERROR(GiveToDatabaseOwner(env, fd.get(), path, database, warn));
  if ((st.st_mode & 0077) != 0 && env->Fchmod(fd.get(), 0600) != 0) {
    if (errno != EPERM) return posix::ErrnoStatus(errno, "fchmod", path);
    if (warn) warn("cannot chmod " + path + " to 0600 (EPERM, likely a user namespace)");
  }
  SQLSTEWARD_RETURN_IF_ERROR(ReadSidecarHeader(env, fd.get(), path).status());
  return std::unique_ptr<SidecarFile>(new SidecarFile(env, std::move(path), std::move(fd)));
}

Status CheckSidecarStat(const struct stat& st, const std::string& path) {
  if (!S_ISREG(st.st_mode)) {
    return FailedPrecondition("sidecar " + path + " is not a regular file",
                              "move it aside; sqlsteward recreates it");
  }
  if (st.st_nlink > 1) {
    return FailedPrecondition(
        "sidecar " + path + " has " + std::to_string(st.st_nlink) + " hard links",
        "remove the other links: processes opening another name would not see "
        "each other's locks");
  }
  return Status();
}

Status SidecarFile::CreateWhole(posix::Env* env, const std::string& path, const FileOwner& database,
                                const Warn& warn) {
  // O_EXCL: exactly one creator, across lock domains too. Openers that find
  // the file before it is whole wait for it (Validate).
  int raw = env->Open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (raw < 0) return errno == EEXIST ? Status() : posix::ErrnoStatus(errno, "create", path);
  posix::UniqueFd fd(env, raw);
  if (Status given = GiveToDatabaseOwner(env, fd.get(), path, database, warn); !given.ok()) {
    env->Unlink(path.c_str());
    return given;
  }
  std::vector<char> whole(static_cast<std::size_t>(kSidecarSize), 0);
  const auto head = EncodeHeader();
  std::copy(head.begin(), head.end(), whole.begin());
  if (env->Pwrite(fd.get(), whole.data(), whole.size(), 0) != static_cast<ssize_t>(whole.size())) {
    Status st = posix::ErrnoStatus(errno, "write", path);
    env->Unlink(path.c_str());  // Nobody can use a partial one.
    return st;
  }
  if (env->Fsync(fd.get()) != 0) return posix::ErrnoStatus(errno, "fsync", path);
  return posix::SyncDirectory(env, posix::DirName(path));
}

Result<std::uint32_t> ReadSidecarHeader(posix::Env* env, int fd, const std::string& path) {
  // A sidecar another process has just created may not be whole yet, and
  // through FUSE its size is cached for about a second: a young file gets
  // that long to become whole before it counts as damaged.
  std::array<char, kSidecarHeadBytes> head{};
  ssize_t n = 0;
  struct stat st;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (true) {
    n = env->Pread(fd, head.data(), head.size(), 0);
    if (n < 0) return posix::ErrnoStatus(errno, "pread", path);
    if (env->Fstat(fd, &st) != 0) return posix::ErrnoStatus(errno, "fstat", path);
    bool whole =
        HeaderWhole(std::string_view(head.data(), static_cast<std::size_t>(n)), st.st_size);
    bool young = std::time(nullptr) - st.st_ctim.tv_sec < 5;
    if (whole || !young || std::chrono::steady_clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return CheckHeader(std::string_view(head.data(), static_cast<std::size_t>(n)), st.st_size, path);
}

}  // namespace sqlsteward::internal
