// LoadMigrations (sqlsteward/migrator.h): a directory of NNNN_name.sql
// files read into migrations, with the checks Migrate() makes applied at
// load, so a bad file fails before any database is touched.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/status_builders.h"
#include "migrate/prepare.h"
#include "migrate/sql_text.h"
#include "sqlsteward/migrator.h"

namespace sqlsteward {

using internal::IsBlank;
using internal::kMaxMigrationVersion;

Result<std::vector<Migration>> LoadMigrations(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    StatusCode code = ec == std::errc::no_such_file_or_directory ? StatusCode::kNotFound
                      : ec == std::errc::permission_denied       ? StatusCode::kPermissionDenied
                      : ec == std::errc::not_a_directory         ? StatusCode::kInvalidArgument
                                                                 : StatusCode::kIOError;
    return Status(code, "cannot read the migrations directory " + dir + ": " + ec.message(),
                  "pass the directory that holds the NNNN_name.sql files", 0, ec.value());
  }
  std::vector<Migration> out;
  std::map<std::int64_t, std::string> files;  // version -> file name
  const std::string name_hint =
      "name migration files NNNN_name.sql: at least four digits, '_', then lower-case letters, "
      "digits and '_' (e.g. 0003_add_orders.sql)";
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::directory_entry& entry = *it;
    std::string file = entry.path().filename().string();
    if (file.empty() || file[0] == '.') continue;
    std::error_code type_ec;
    if (entry.is_directory(type_ec)) continue;
    bool sql_suffix = file.size() >= 4 && file.compare(file.size() - 4, 4, ".sql") == 0;
    bool leading_digit = file[0] >= '0' && file[0] <= '9';
    if (!sql_suffix && !leading_digit) continue;  // README.md and the like.
    std::size_t digits = 0;
    while (digits < file.size() && file[digits] >= '0' && file[digits] <= '9') ++digits;
    std::string name = sql_suffix && digits < file.size() && file[digits] == '_'
                           ? file.substr(digits + 1, file.size() - digits - 5)
                           : std::string();
    if (!sql_suffix || digits < 4 || digits >= file.size() || file[digits] != '_' ||
        !internal::ValidMigrationName(name)) {
      return InvalidArgument("migration file " + dir + "/" + file + " is not named NNNN_name.sql",
                             name_hint);
    }
    std::int64_t version = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      version = version * 10 + (file[i] - '0');
      if (version > kMaxMigrationVersion) break;
    }
    if (version < 1 || version > kMaxMigrationVersion) {
      return InvalidArgument("migration file " + dir + "/" + file + ": version out of range",
                             "versions are 1 up to 2147483647");
    }
    if (auto dup = files.find(version); dup != files.end()) {
      return InvalidArgument("duplicate migration version " + std::to_string(version) + " in " +
                                 dir + ": " + dup->second + " and " + file,
                             "give each migration its own number");
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return IOError("cannot read migration file " + dir + "/" + file, "check its permissions");
    }
    if (IsBlank(text.str())) {
      return InvalidArgument("migration file " + dir + "/" + file + " contains no SQL statement",
                             "write the migration, or make it an explicit no-op such as SELECT 1;");
    }
    files[version] = file;
    out.push_back(Migration{version, std::move(name), text.str(), nullptr});
  }
  if (ec) {
    return IOError("cannot list " + dir + ": " + ec.message(), "", 0, ec.value());
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].version != out[i - 1].version + 1) {
      return InvalidArgument(
          "gap in migration files in " + dir + ": " + files[out[i - 1].version] +
              " is followed by " + files[out[i].version] + " (version " +
              std::to_string(out[i - 1].version + 1) + " is missing)",
          "number migrations without gaps; a removed migration must stay (make it a "
          "no-op) because databases may have applied it");
    }
  }
  // The same statement checks Migrate() makes, so a bad file fails at load.
  auto prepared = internal::PrepareAll(out);
  if (!prepared.has_value()) {
    return std::move(prepared).error().WithContext(dir);
  }
  return out;
}

}  // namespace sqlsteward
