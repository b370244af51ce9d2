// A command's own database in a directory of the user's (`demo`,
// `torture`): the lock that keeps two runs in one directory from deleting
// each other's files, and removing a previous run's files.
#ifndef SQLSTEWARD_TOOLS_COMMON_RUN_FILES_H_
#define SQLSTEWARD_TOOLS_COMMON_RUN_FILES_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward::cli {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  void Reset();

 private:
  int fd_ = -1;
};

// "wal" or "delete", as the commands print a journal mode.
std::string_view JournalModeName(JournalMode mode);

// Two runs of the running command in one directory would delete each
// other's database mid-run: an exclusive flock(2) on the directory, held
// while the fd lives. kFailedPrecondition when another run holds it.
Result<UniqueFd> LockDirectory(const std::string& dir);

// Deletes `db_path` and every file SQLite and sqlsteward keep beside it
// (-wal, -shm, -journal, the sidecar); returns the names it deleted.
Result<std::vector<std::string>> RemoveDatabaseFiles(const std::string& db_path);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_RUN_FILES_H_
