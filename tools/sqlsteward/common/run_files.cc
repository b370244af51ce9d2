#include "common/run_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/core.h>

#include "common/cli.h"
#include "common/cli_hints.h"
#include "sidecar/format.h"

namespace sqlsteward::cli {
namespace {

// The database plus every file SQLite keeps beside it (the sidecar is named
// by the library). A stale -journal beside a new database would be taken for
// a hot journal.
constexpr const char* kSqliteSuffixes[] = {"", "-wal", "-shm", "-journal"};

}  // namespace

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string_view JournalModeName(JournalMode mode) {
  return mode == JournalMode::kWal ? "wal" : "delete";
}

// flock(2) on the directory itself: no extra file, released on exit.
Result<UniqueFd> LockDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open " + dir);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("another `sqlsteward {}` is running in {}", RunningCommand(), dir),
                    "wait for it to finish, or use another directory", 0, errno);
    }
    return ErrnoStatus(errno, "flock " + dir);
  }
  return fd;
}

Result<std::vector<std::string>> RemoveDatabaseFiles(const std::string& db_path) {
  std::vector<std::string> removed;
  std::vector<std::string> paths;
  for (const char* suffix : kSqliteSuffixes) paths.push_back(db_path + suffix);
  paths.push_back(internal::SidecarPath(db_path));
  for (const std::string& path : paths) {
    if (::unlink(path.c_str()) == 0) {
      removed.push_back(std::filesystem::path(path).filename().string());
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, "remove " + path, "delete it yourself, or use another directory");
    }
  }
  return removed;
}

}  // namespace sqlsteward::cli
