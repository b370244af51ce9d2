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

// As Database::Open; kNotFound carries `not_found_hint`, kUnavailable (an
// exclusive owner) a hint naming --wait-for-owner, handover and status.
Result<std::unique_ptr<Database>> OpenForSql(const std::string& path, const Options& options,
                                             std::string_view not_found_hint);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_OPEN_FOR_SQL_H_
