// Database::Open for `exec` and `query`, with hints in terms of their flags.
#ifndef SQLSTEWARD_TOOLS_COMMON_OPEN_FOR_SQL_H_
#define SQLSTEWARD_TOOLS_COMMON_OPEN_FOR_SQL_H_

#include <memory>
#include <string>
#include <string_view>

#include "sqlsteward/database.h"
#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward::cli {

// As Database::Open; a missing database carries `not_found_hint`, every
// other error its hint in terms of the CLI (CliStatus: for an exclusive
// owner --wait-for-owner, handover and status).
Result<std::unique_ptr<Database>> OpenForSql(const std::string& path, const Options& options,
                                             std::string_view not_found_hint);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_OPEN_FOR_SQL_H_
