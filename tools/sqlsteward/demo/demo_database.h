// The demo's database before and after the run: its directory (created
// when missing; common/run_files.h locks it and removes the previous run's
// files), the ledger table, and what the database holds afterwards.
#ifndef SQLSTEWARD_TOOLS_DEMO_DATABASE_H_
#define SQLSTEWARD_TOOLS_DEMO_DATABASE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/run_files.h"
#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli::demo {

// mkdir -p with mode 0700 for what it creates, as Database::Open would.
Status MakeDirectories(const std::string& dir);
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
