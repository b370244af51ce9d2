// sqlsteward exec DB SQL: runs one statement with parameters, or a script,
// as one write through the library (Database::Write), so an operator never
// needs the raw sqlite3 shell on a live database: the write queues on
// sqlsteward's cross-process lock like any other, is durable when it
// returns, and an exclusive owner is respected (the open is refused with
// "unavailable" rather than writing behind the owner's back).
//
// Also the --param / --text-param / --null-param options that `query`
// shares (declared in cli.h).
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli {
namespace {

using nlohmann::json;

constexpr const char* kParamOption = "--param";
constexpr const char* kTextParamOption = "--text-param";
constexpr const char* kNullParamOption = "--null-param";

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

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000.0));
}

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
  Status closed = (*db)->Close();
  if (!written.ok()) return fail(std::move(written));
  if (!closed.ok()) return fail(std::move(closed));
  const double elapsed = SecondsSince(start);

  if (args.json) {
    PrintJson({{"ok", true},
               {"database", db_path},
               {"mode", script ? "script" : "statement"},
               {"params", SqlParamsToJson(params)},
               {"rows_changed", rows_changed},
               {"last_insert_rowid", last_rowid},
               {"elapsed_ms", std::llround(elapsed * 1000.0)}});
    return 0;
  }
  std::string rowid = last_rowid != 0 ? fmt::format(", last insert rowid {}", last_rowid) : "";
  fmt::print("OK: {} row{} changed{} ({}, committed)\n", rows_changed,
             rows_changed == 1 ? "" : "s", rowid, FormatSeconds(elapsed));
  return 0;
}

// The canonical decimal form only: "007" and "+5" stay text, so an
// identifier that looks numeric keeps its spelling.
std::optional<std::int64_t> CanonicalInteger(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, err] = std::from_chars(text.data(), end, value);
  if (err != std::errc() || ptr != end || text.empty()) return std::nullopt;
  if (std::to_string(value) != text) return std::nullopt;
  return value;
}

}  // namespace

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

void AddSqlParamOptions(CLI::App* cmd) {
  // No variables behind these: SqlParamsInOrder reads the results in the
  // order parse_order() recorded, which is the order on the command line.
  cmd->add_option(kParamOption, CLI::callback_t(),
                  "Bind the next parameter: an integer if V is one (42, -7), else text")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->type_name("V");
  cmd->add_option(kTextParamOption, CLI::callback_t(), "Bind the next parameter as text, always")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->type_name("V");
  const std::string null_help = "Bind the next parameter as NULL";
  cmd->add_flag(kNullParamOption, null_help)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

std::vector<SqlParam> SqlParamsInOrder(const CLI::App& cmd) {
  const CLI::Option* auto_typed = cmd.get_option(kParamOption);
  const CLI::Option* text = cmd.get_option(kTextParamOption);
  const CLI::Option* null = cmd.get_option(kNullParamOption);
  std::size_t next_auto = 0;
  std::size_t next_text = 0;
  std::vector<SqlParam> out;
  for (const CLI::Option* opt : cmd.parse_order()) {
    SqlParam param;
    if (opt == auto_typed && next_auto < opt->results().size()) {
      param.text = opt->results()[next_auto++];
      param.kind = CanonicalInteger(param.text) ? SqlParam::kInteger : SqlParam::kText;
      if (param.kind == SqlParam::kInteger) param.integer = *CanonicalInteger(param.text);
    } else if (opt == text && next_text < opt->results().size()) {
      param.text = opt->results()[next_text++];
      param.kind = SqlParam::kText;
    } else if (opt == null) {
      param.kind = SqlParam::kNull;
    } else {
      continue;
    }
    out.push_back(std::move(param));
  }
  return out;
}

void BindSqlParams(Statement& stmt, const std::vector<SqlParam>& params) {
  int index = 0;
  for (const SqlParam& p : params) {
    ++index;
    switch (p.kind) {
      case SqlParam::kInteger: stmt.Bind(index, p.integer); break;
      case SqlParam::kText: stmt.Bind(index, std::string_view(p.text)); break;
      case SqlParam::kNull: stmt.Bind(index, nullptr); break;
    }
  }
}

nlohmann::json SqlParamsToJson(const std::vector<SqlParam>& params) {
  json out = json::array();
  for (const SqlParam& p : params) {
    switch (p.kind) {
      case SqlParam::kInteger: out.push_back(p.integer); break;
      case SqlParam::kText: out.push_back(p.text); break;
      case SqlParam::kNull: out.push_back(nullptr); break;
    }
  }
  return out;
}

Command RegisterExec(CLI::App& app) {
  auto args = std::make_shared<ExecArgs>();
  CLI::App* cmd = app.add_subcommand(
      "exec", "Run one SQL statement (with parameters) or a script as one durable write.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("DB", args->db, "The database file")->required();
  cmd->add_option("SQL", args->sql, "One statement, or a script when no parameter is given")
      ->required();
  AddSqlParamOptions(cmd);
  cmd->add_flag("--create", args->create, "Create DB (mode 0600) when it does not exist");
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds to wait for the write lock (another process may be writing)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--wait-for-owner", args->wait_for_owner_seconds,
                  "Seconds to wait for an exclusive owner to go away (0: refuse at once)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {cmd, [args, cmd]() -> Result<int> { return Run(*args, SqlParamsInOrder(*cmd)); }};
}

}  // namespace sqlsteward::cli
