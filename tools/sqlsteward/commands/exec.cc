// sqlsteward exec DB SQL: runs one statement with parameters, or a script,
// as one write through the library (Database::Write), so an operator never
// needs the raw sqlite3 shell on a live database: the write queues on
// sqlsteward's cross-process lock like any other, is durable when it
// returns, and an exclusive owner is respected (the open is refused with
// "unavailable" rather than writing behind the owner's back).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/help.h"
#include "common/open_for_sql.h"
#include "common/sql_params.h"
#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kAbout =
    "Run SQL against DB as one durable write through sqlsteward: queued on the\n"
    "cross-process write lock with every other writer, in its own savepoint of\n"
    "a group commit, acknowledged only when committed. With parameters SQL must\n"
    "be one statement; without, it may be a script of several (all or nothing).\n"
    "BEGIN/COMMIT are refused: the write already is a transaction.\n"
    "\n"
    "Parameters bind in command-line order to ?1, ?2, ...: --param V binds an\n"
    "integer when V is a canonical decimal integer (42, -7; not 007, +5 or 1.5),\n"
    "text otherwise; --text-param V always binds text; --null-param binds NULL.\n"
    "Parameters the SQL has but the command line does not are NULL (as in SQLite).";

constexpr const char* kExamples = R"EX(Examples:
  sqlsteward exec app.db --create "CREATE TABLE kv(k TEXT PRIMARY KEY, v)"
  sqlsteward exec app.db "INSERT INTO kv(k, v) VALUES(?, ?)" --param answer --param 42
  sqlsteward exec app.db "UPDATE kv SET v = ? WHERE k = ?" --text-param 007 --param answer
  sqlsteward exec app.db "DELETE FROM kv WHERE k = ?" --param answer --json

Exit status: 0 when the write committed; 1 with "error:" and "hint:" lines
on stderr otherwise (nothing was applied): e.g. "constraint" for a UNIQUE or
CHECK violation, "unavailable" when another instance owns DB exclusively,
"timeout" when the write lock stayed busy.)EX";

struct ExecArgs {
  std::string db;
  std::string sql;
  bool json = false;
  bool create = false;
  double timeout_seconds = 30;
  double wait_for_owner_seconds = 0;
};

Result<int> Run(const ExecArgs& args, const std::vector<SqlParam>& params) {
  const std::string db_path = AbsolutePath(args.db);
  auto fail = [&](Status status) {
    return FailWithJson(args.json, {{"database", db_path}}, std::move(status));
  };
  const auto start = std::chrono::steady_clock::now();

  Options options;
  options.create_if_missing = args.create;
  options.write_timeout = Millis(args.timeout_seconds);
  options.wait_for_owner = Millis(args.wait_for_owner_seconds);
  auto db = OpenForSql(db_path, options,
                       "check the path, or pass --create to create the database");
  if (!db.has_value()) return fail(std::move(db).error());

  const bool script = params.empty();
  std::int64_t rows_changed = 0;
  std::int64_t last_rowid = 0;
  Status written = (*db)->Write([&](Transaction& tx) -> Status {
    // total_changes() rather than Changes(): the latter keeps the count of
    // the last INSERT/UPDATE/DELETE, stale after DDL and only the last of a
    // script. The difference counts every row the SQL changed, by triggers too.
    SQLSTEWARD_ASSIGN_OR_RETURN(auto before, tx.QueryInt64("SELECT total_changes()"));
    if (script) {
      SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript(args.sql));
    } else {
      SQLSTEWARD_ASSIGN_OR_RETURN(Statement stmt, tx.Prepare(args.sql));
      BindSqlParams(stmt, params);
      SQLSTEWARD_RETURN_IF_ERROR(stmt.Run());
    }
    SQLSTEWARD_ASSIGN_OR_RETURN(auto after, tx.QueryInt64("SELECT total_changes()"));
    rows_changed = after.value_or(0) - before.value_or(0);
    last_rowid = tx.LastInsertRowId();
    return Status();
  });
  if (!written.ok()) {
    // Close's own error would hide why the write failed.
    (void)(*db)->Close();
    return fail(std::move(written));
  }
  // Committed: from here on exit 1 would be a lie (common/cli.h).
  MarkApplied();
  std::vector<std::string> warnings;
  if (Status closed = (*db)->Close(); !closed.ok()) {
    warnings.push_back(fmt::format("the write was committed, but closing the database failed: {}",
                                   closed.message()));
    PrintWarning(warnings.back());
  }
  const double elapsed = SecondsSince(start);

  if (args.json) {
    PrintJson({{"ok", true},
               {"database", db_path},
               {"mode", script ? "script" : "statement"},
               {"params", SqlParamsToJson(params)},
               {"rows_changed", rows_changed},
               {"last_insert_rowid", last_rowid},
               {"warnings", warnings},
               {"elapsed_ms", std::llround(elapsed * 1000.0)}});
    return 0;
  }
  std::string rowid = last_rowid != 0 ? fmt::format(", last insert rowid {}", last_rowid) : "";
  fmt::print("OK: {} row{} changed{} ({}, committed)\n", rows_changed,
             rows_changed == 1 ? "" : "s", rowid, FormatSeconds(elapsed));
  return 0;
}

}  // namespace

Command RegisterExec(CLI::App& app) {
  auto args = std::make_shared<ExecArgs>();
  CLI::App* cmd = AddCommand(
      app, "exec", "Run one SQL statement (with parameters) or a script as one durable write.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("DB", args->db,
                  "The database file, or a cluster address dqlite://HOST:PORT[,...]/NAME")->required();
  cmd->add_option("SQL", args->sql, "One statement, or a script when no parameter is given")
      ->required();
  AddSqlParamOptions(cmd);
  cmd->add_flag("--create", args->create, "Create DB (mode 0600) when it does not exist");
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds to wait for the write lock (another process may be writing)")
      ->capture_default_str()
      ->check(SecondsFlag(ZeroSeconds::kRefused));
  cmd->add_option("--wait-for-owner", args->wait_for_owner_seconds,
                  "Seconds to wait for an exclusive owner to go away (0: refuse at once)")
      ->capture_default_str()
      ->check(SecondsFlag(ZeroSeconds::kAtOnce));
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {cmd, [args, cmd]() -> Result<int> { return Run(*args, SqlParamsInOrder(*cmd)); }};
}

}  // namespace sqlsteward::cli
