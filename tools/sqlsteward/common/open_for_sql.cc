#include "common/open_for_sql.h"

#include <utility>

#include <fmt/core.h>

namespace sqlsteward::cli {

Result<std::unique_ptr<Database>> OpenForSql(const std::string& path, const Options& options,
                                             std::string_view not_found_hint) {
  auto db = Database::Open(path, options);
  if (db.has_value()) return db;
  const Status& error = db.error();
  // The library's hints name Options fields; say it in terms of our flags.
  std::string hint;
  if (error.code() == StatusCode::kNotFound) {
    hint = not_found_hint;
  } else if (error.code() == StatusCode::kUnavailable) {
    hint = fmt::format(
        "wait for the owner with --wait-for-owner SECONDS, or ask it to step down first: "
        "`sqlsteward handover {}`; `sqlsteward status {}` shows who it is",
        path, path);
  } else {
    return db;
  }
  return Status(error.code(), std::string(error.message()), std::move(hint), error.sqlite_code(),
                error.sys_errno());
}

}  // namespace sqlsteward::cli
