// The demo's database before and after the run: its directory (created,
// locked against a second demo), the previous run's files, the ledger
// table, and what the database holds afterwards.
#ifndef SQLSTEWARD_TOOLS_DEMO_DATABASE_H_
#define SQLSTEWARD_TOOLS_DEMO_DATABASE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli::demo {

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

std::string_view JournalModeName(JournalMode mode);

// mkdir -p with mode 0700 for what it creates, as Database::Open would.
Status MakeDirectories(const std::string& dir);
// Two demos in one directory would delete each other's database mid-run:
// an exclusive flock(2) on the directory, held while the fd lives.
Result<UniqueFd> LockDirectory(const std::string& dir);
// Deletes the previous run's files; returns the names it deleted.
Result<std::vector<std::string>> RemovePreviousRun(const std::string& db_path);
// Creates the ledger table and closes the handle; sets *journal_mode.
Status CreateSchema(const std::string& db_path, std::string* journal_mode);

// What the database holds after the run, read in one snapshot.
struct DbFacts {
  std::int64_t rows = 0;
  std::int64_t min_n = 0;
  std::int64_t max_n = 0;
  std::map<std::int64_t, std::int64_t> rows_by_pid;
  std::vector<std::string> integrity;  // "ok", or up to 20 problems
};
// Reads DbFacts through a new handle; sets *journal_mode.
Result<DbFacts> ReadFacts(const std::string& db_path, std::string* journal_mode);

}  // namespace sqlsteward::cli::demo

#endif  // SQLSTEWARD_TOOLS_DEMO_DATABASE_H_
