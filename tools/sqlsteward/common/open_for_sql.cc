#include "common/open_for_sql.h"

#include <utility>

#include "common/cli_hints.h"

namespace sqlsteward::cli {

Result<std::unique_ptr<Database>> OpenForSql(const std::string& path, const Options& options,
                                             std::string_view not_found_hint) {
  auto db = Database::Open(path, options);
  if (db.has_value()) return db;
  const Status& error = db.error();
  if (error.code() == StatusCode::kNotFound && !not_found_hint.empty()) {
    return Status(error.code(), std::string(error.message()), std::string(not_found_hint),
                  error.sqlite_code(), error.sys_errno());
  }
  return CliStatus(error, path);
}

}  // namespace sqlsteward::cli
