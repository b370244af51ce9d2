// sqlsteward version: the tool's version and the SQLite library it runs on;
// given a database, also its schema version (sqlsteward/migrator.h).
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/help.h"
#include "common/wal_reset_bug.h"
#include "sqlsteward/migrator.h"
#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kExamples = R"(Examples:
  sqlsteward version
  sqlsteward version --json | jq -r .sqlite
  sqlsteward version app.db          # also the schema version of app.db)";

struct SchemaInfo {
  std::int64_t version = 0;       // max(version) of schema_migrations; 0 without one
  std::int64_t user_version = 0;  // PRAGMA user_version, which mirrors it
};

Result<SchemaInfo> ReadSchema(const std::string& path) {
  Options options;
  options.create_if_missing = false;
  options.read_only = true;  // Reading the version writes nothing.
  auto db = Database::Open(path, options);
  if (!db.has_value()) return std::move(db).error();
  SchemaInfo info;
  SQLSTEWARD_ASSIGN_OR_RETURN(info.version, SchemaVersion(**db));
  SQLSTEWARD_RETURN_IF_ERROR((*db)->Read([&](ReadTransaction& tx) -> Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(auto user_version, tx.QueryInt64("PRAGMA user_version"));
    info.user_version = user_version.value_or(0);
    return Status();
  }));
  SQLSTEWARD_RETURN_IF_ERROR((*db)->Close());
  return info;
}

}  // namespace

Command RegisterVersion(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto db_path = std::make_shared<std::string>();
  CLI::App* cmd = AddCommand(
      app, "version", "Print the version of sqlsteward and of the SQLite library it uses.");
  cmd->footer(kExamples);
  cmd->add_flag("--json", *json, "Print one JSON object instead of text");
  cmd->add_option("DB", *db_path,
                  "A database: also print its schema version (schema_migrations, "
                  "user_version)");

  return {cmd, [json, db_path]() -> Result<int> {
            const int number = sqlite3_libversion_number();
            const bool wal_reset_bug = HasWalResetBug(number);
            std::optional<SchemaInfo> schema;
            if (!db_path->empty()) {
              auto read = ReadSchema(*db_path);
              if (!read.has_value()) {
                return FailWithJson(*json, {{"database", *db_path}}, std::move(read).error());
              }
              schema = *read;
            }
            if (*json) {
              nlohmann::json doc = {{"sqlsteward", ToolVersion()},
                                    {"sqlite", sqlite3_libversion()},
                                    {"sqlite_source_id", sqlite3_sourceid()},
                                    {"sqlite_wal_reset_bug", wal_reset_bug}};
              if (schema) {
                doc["database"] = *db_path;
                doc["schema_version"] = schema->version;
                doc["user_version"] = schema->user_version;
              }
              PrintJson(doc);
              return 0;
            }
            fmt::print("sqlsteward {}\nSQLite     {}\n", ToolVersion(), sqlite3_libversion());
            if (schema) {
              fmt::print("schema     {} ({}; user_version {})\n", schema->version,
                         Printable(*db_path),
                         schema->user_version);
            }
            if (wal_reset_bug) {
              fmt::print(
                  "note: this SQLite has the WAL-reset bug (3.7.0 to 3.51.2, "
                  "sqlite.org/wal.html#walresetbug); sqlsteward checkpoints only under its "
                  "write lock, which keeps its own processes out of that race\n");
            }
            return 0;
          }};
}

}  // namespace sqlsteward::cli
