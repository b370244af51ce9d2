// sqlsteward version: the tool's version and the SQLite library it runs on.
#include <sqlite3.h>

#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kExamples = R"(Examples:
  sqlsteward version
  sqlsteward version --json | jq -r .sqlite)";

// sqlite.org/wal.html#walresetbug: two connections committing and
// checkpointing at the same moment can corrupt a WAL database. sqlsteward
// checkpoints only under its cross-process write lock, which keeps its own
// processes out of that race; other programs on the same file are not.
bool HasWalResetBug(int version_number) {
  return version_number >= 3'007'000 && version_number <= 3'051'002;
}

}  // namespace

Command RegisterVersion(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "version", "Print the version of sqlsteward and of the SQLite library it uses.");
  cmd->footer(kExamples);
  cmd->add_flag("--json", *json, "Print one JSON object instead of text");

  return {cmd, [json]() -> Result<int> {
            const int number = sqlite3_libversion_number();
            const bool wal_reset_bug = HasWalResetBug(number);
            if (*json) {
              PrintJson({{"sqlsteward", ToolVersion()},
                         {"sqlite", sqlite3_libversion()},
                         {"sqlite_source_id", sqlite3_sourceid()},
                         {"sqlite_wal_reset_bug", wal_reset_bug}});
              return 0;
            }
            fmt::print("sqlsteward {}\nSQLite     {}\n", ToolVersion(), sqlite3_libversion());
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
