// sqlsteward query DB SQL: runs one SELECT in one read transaction through
// the library (Database::Read, a pooled reader connection with query_only
// set), and prints the rows as a table, CSV or JSON. In WAL mode it never
// waits for writers and never blocks them.
//
// Value types. Statement offers no column-type accessor, and asking
// ColumnText() of an integer converts it, so a value's type cannot be read
// back from the row itself. The query is therefore wrapped as
//   WITH sqlsteward_q(c1, ..., cN) AS (<SQL>) SELECT typeof(c1), c1, ... FROM sqlsteward_q
// which leaves the rows, their order and the parameters (numbered in order
// of appearance, as before) unchanged and adds each value's storage class.
// SQL that cannot be wrapped (PRAGMA, EXPLAIN, a trailing comment after a
// semicolon) runs as given, and its values are reported as text ("typed":
// false in JSON).
//
// Column names: Statement has no name accessor yet either; headers are the
// 1-based column numbers until it has one (ColumnNameOf below adopts
// `Statement::ColumnName(int)` as soon as it exists).
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
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

using nlohmann::json;

constexpr const char* kAbout =
    "Run one SELECT against DB in one read transaction (a consistent snapshot)\n"
    "through sqlsteward, and print its rows: a table (default), CSV or JSON.\n"
    "Reads never take the write lock and, in WAL mode, never wait for writers.\n"
    "Writing SQL is refused (the reader connection is query_only): use exec.\n"
    "\n"
    "Parameters bind in command-line order to ?1, ?2, ...: --param V binds an\n"
    "integer when V is a canonical decimal integer (42, -7; not 007, +5 or 1.5),\n"
    "text otherwise; --text-param V always binds text; --null-param binds NULL.\n"
    "\n"
    "Values keep their SQLite type: integers and reals are JSON numbers, text is\n"
    "a string, NULL is null, a blob is {\"blob_hex\": \"...\"}. In the table NULL\n"
    "prints as NULL; in CSV as an empty field. Column headers are the column\n"
    "numbers, 1 to N.";

constexpr const char* kExamples = R"EX(Examples:
  sqlsteward query app.db "SELECT k, v FROM kv ORDER BY k"
  sqlsteward query app.db "SELECT * FROM orders WHERE id = ?" --param 42 --json
  sqlsteward query app.db "SELECT * FROM orders" --csv > orders.csv
  sqlsteward query app.db "SELECT count(*) FROM kv" --json | jq '.rows[0][0]'

Exit status: 0 when the query ran (also with no rows); 1 with "error:" and
"hint:" lines on stderr otherwise: e.g. "not_found" for a missing DB,
"invalid_argument" for bad SQL, "unavailable" when another instance owns DB
exclusively.)EX";

// SQLITE_READONLY; <sqlite3.h> is not needed for one constant.
constexpr int kSqliteReadonly = 8;

struct QueryArgs {
  std::string db;
  std::string sql;
  bool json = false;
  bool csv = false;
  double timeout_seconds = 30;
  double wait_for_owner_seconds = 0;
};

struct Blob {
  std::string hex;
  std::size_t bytes = 0;
};

// One value as SQLite stored it. `text` carries SQLite's own rendering of
// integers and reals (what the sqlite3 shell prints).
struct Value {
  std::variant<std::nullptr_t, std::int64_t, double, std::string, Blob> data;
  std::string text;
};

struct Rows {
  int columns = 0;
  bool typed = false;
  std::vector<std::optional<std::string>> names;
  std::vector<std::vector<Value>> rows;
};

template <typename Stmt>
std::optional<std::string> ColumnNameOf(const Stmt& stmt, int col) {
  if constexpr (requires { stmt.ColumnName(col); }) {
    return std::string(stmt.ColumnName(col));
  } else {
    return std::nullopt;
  }
}

std::string Hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    auto v = std::to_integer<unsigned>(b);
    out += kDigits[v >> 4];
    out += kDigits[v & 0xfU];
  }
  return out;
}

// The wrapping described at the top of the file; empty when SQL cannot be
// wrapped.
std::string WrapForTypes(std::string_view sql, int columns) {
  while (!sql.empty() && (sql.back() == ';' || std::isspace(static_cast<unsigned char>(sql.back())))) {
    sql.remove_suffix(1);
  }
  if (sql.empty() || columns <= 0) return {};
  std::string names;
  std::string select;
  for (int i = 1; i <= columns; ++i) {
    names += fmt::format("{}sqlsteward_c{}", i == 1 ? "" : ", ", i);
    select += fmt::format("{0}typeof(sqlsteward_c{1}), sqlsteward_c{1}", i == 1 ? "" : ", ", i);
  }
  // The newline ends a trailing `-- comment` of SQL.
  return fmt::format("WITH sqlsteward_q({}) AS (\n{}\n) SELECT {} FROM sqlsteward_q", names, sql,
                     select);
}

Value TypedValue(const Statement& stmt, int type_col, int value_col) {
  std::string_view type = stmt.ColumnText(type_col);
  Value v;
  if (type == "integer") {
    std::int64_t i = stmt.ColumnInt64(value_col);
    v.data = i;
    v.text = std::to_string(i);
  } else if (type == "real") {
    v.data = stmt.ColumnDouble(value_col);
    v.text = std::string(stmt.ColumnText(value_col));  // SQLite's "%!.15g"
  } else if (type == "text") {
    v.text = std::string(stmt.ColumnText(value_col));
    v.data = v.text;
  } else if (type == "blob") {
    std::span<const std::byte> bytes = stmt.ColumnBlob(value_col);
    v.data = Blob{Hex(bytes), bytes.size()};
  } else {
    v.data = nullptr;
    v.text = "NULL";
  }
  return v;
}

Value UntypedValue(const Statement& stmt, int col) {
  Value v;
  if (stmt.ColumnIsNull(col)) {
    v.data = nullptr;
    v.text = "NULL";
  } else {
    v.text = std::string(stmt.ColumnText(col));
    v.data = v.text;
  }
  return v;
}

Status StepAll(Statement& stmt, Rows& out) {
  while (true) {
    SQLSTEWARD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return Status();
    std::vector<Value> values;
    values.reserve(static_cast<std::size_t>(out.columns));
    for (int c = 0; c < out.columns; ++c) {
      values.push_back(out.typed ? TypedValue(stmt, 2 * c, 2 * c + 1) : UntypedValue(stmt, c));
    }
    out.rows.push_back(std::move(values));
  }
}

Status RunQuery(ReadTransaction& tx, const std::string& sql, const std::vector<SqlParam>& params,
                Rows& out) {
  std::string wrapped;
  {
    // Prepared as given first: its errors are about the user's SQL, and it
    // knows the column count.
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement plain, tx.Prepare(sql));
    out.columns = plain.ColumnCount();
    for (int c = 0; c < out.columns; ++c) out.names.push_back(ColumnNameOf(plain, c));
    wrapped = WrapForTypes(sql, out.columns);
    if (wrapped.empty()) {
      BindSqlParams(plain, params);
      return StepAll(plain, out);
    }
  }
  auto typed = tx.Prepare(wrapped);
  if (!typed.has_value()) {
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement plain, tx.Prepare(sql));
    BindSqlParams(plain, params);
    return StepAll(plain, out);
  }
  out.typed = true;
  BindSqlParams(*typed, params);
  return StepAll(*typed, out);
}

json ValueToJson(const Value& v) {
  return std::visit(
      [](const auto& d) -> json {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, Blob>) {
          return json{{"blob_hex", d.hex}};
        } else {
          return json(d);
        }
      },
      v.data);
}

std::string Header(const Rows& rows, int col) {
  const auto& name = rows.names[static_cast<std::size_t>(col)];
  return name ? *name : std::to_string(col + 1);
}

// Control characters would break the table's lines, or drive the terminal.
std::string ForTable(const Value& v) {
  if (const Blob* blob = std::get_if<Blob>(&v.data)) {
    if (blob->bytes <= 16) return "x'" + blob->hex + "'";
    return fmt::format("x'{}...' ({} bytes)", blob->hex.substr(0, 32), blob->bytes);
  }
  return Printable(v.text);
}

// RFC 4180: quote fields with a comma, quote or line break; double quotes.
std::string ForCsv(const Value& v) {
  if (std::holds_alternative<std::nullptr_t>(v.data)) return "";
  std::string text =
      std::holds_alternative<Blob>(v.data) ? "x'" + std::get<Blob>(v.data).hex + "'" : v.text;
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool RightAligned(const Value& v) {
  return std::holds_alternative<std::int64_t>(v.data) || std::holds_alternative<double>(v.data);
}

void PrintTable(const Rows& rows) {
  const auto n = static_cast<std::size_t>(rows.columns);
  std::vector<std::string> header;
  std::vector<std::size_t> width(n, 0);
  for (int c = 0; c < rows.columns; ++c) {
    header.push_back(Printable(Header(rows, c)));
    width[static_cast<std::size_t>(c)] = header.back().size();
  }
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : rows.rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < n; ++c) {
      line.push_back(ForTable(row[c]));
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line, const std::vector<Value>* values) {
    std::string out;
    for (std::size_t c = 0; c < n; ++c) {
      const std::string pad(width[c] - line[c].size(), ' ');
      const bool right = values != nullptr && RightAligned((*values)[c]);
      out += (c == 0 ? "" : " | ") + (right ? pad + line[c] : line[c] + (c + 1 < n ? pad : ""));
    }
    fmt::print("{}\n", out);
  };
  if (n > 0) {
    print_line(header, nullptr);
    std::string rule;
    for (std::size_t c = 0; c < n; ++c) rule += (c == 0 ? "" : "-+-") + std::string(width[c], '-');
    fmt::print("{}\n", rule);
  }
  for (std::size_t r = 0; r < cells.size(); ++r) print_line(cells[r], &rows.rows[r]);
  fmt::print("({} row{})\n", rows.rows.size(), rows.rows.size() == 1 ? "" : "s");
}

void PrintCsv(const Rows& rows) {
  std::string out;
  for (int c = 0; c < rows.columns; ++c) {
    Value name;
    name.text = Header(rows, c);
    name.data = name.text;
    out += (c == 0 ? "" : ",") + ForCsv(name);
  }
  out += "\r\n";
  for (const auto& row : rows.rows) {
    for (std::size_t c = 0; c < row.size(); ++c) out += (c == 0 ? "" : ",") + ForCsv(row[c]);
    out += "\r\n";
  }
  fmt::print("{}", out);
}

Result<int> Run(const QueryArgs& args, const std::vector<SqlParam>& params) {
  const std::string db_path = AbsolutePath(args.db);
  auto fail = [&](Status status) {
    return FailWithJson(args.json, {{"database", db_path}}, std::move(status));
  };
  const auto start = std::chrono::steady_clock::now();

  Options options;
  options.create_if_missing = false;  // A query against a mistyped path must not create it.
  // Reading writes nothing: no sidecar, no journal-mode change, no chmod,
  // no registration (so an exclusive owner does not block a query).
  options.read_only = true;
  options.read_timeout = Millis(args.timeout_seconds);
  options.reader_connections = 1;
  auto db = OpenForSql(db_path, options, "check the path; query never creates a database");
  if (!db.has_value()) return fail(std::move(db).error());
  Rows rows;
  Status read = (*db)->Read(
      [&](ReadTransaction& tx) -> Status { return RunQuery(tx, args.sql, params, rows); });
  Status closed = (*db)->Close();
  if ((read.sqlite_code() & 0xff) == kSqliteReadonly) {
    // The reader connection is query_only; the library's hint would blame
    // file permissions.
    read = Status(StatusCode::kInvalidArgument,
                  fmt::format("query only reads, and this SQL writes: {}", read.message()),
                  "run writes with `sqlsteward exec`", read.sqlite_code());
  }
  if (!read.ok()) return fail(std::move(read));
  if (!closed.ok()) return fail(std::move(closed));

  if (args.json) {
    json columns = json::array();
    for (int c = 0; c < rows.columns; ++c) {
      const auto& name = rows.names[static_cast<std::size_t>(c)];
      columns.push_back({{"index", c + 1}, {"name", name ? json(*name) : json(nullptr)}});
    }
    json out_rows = json::array();
    for (const auto& row : rows.rows) {
      json values = json::array();
      for (const Value& v : row) values.push_back(ValueToJson(v));
      out_rows.push_back(std::move(values));
    }
    PrintJson({{"ok", true},
               {"database", db_path},
               {"params", SqlParamsToJson(params)},
               {"typed", rows.typed},
               {"columns", columns},
               {"rows", out_rows},
               {"row_count", rows.rows.size()},
               {"elapsed_ms", std::llround(SecondsSince(start) * 1000.0)}});
    return 0;
  }
  if (args.csv) {
    PrintCsv(rows);
  } else {
    PrintTable(rows);
  }
  return 0;
}

}  // namespace

Command RegisterQuery(CLI::App& app) {
  auto args = std::make_shared<QueryArgs>();
  CLI::App* cmd =
      AddCommand(app, "query", "Run one SELECT in a read transaction and print its rows.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("DB", args->db,
                  "The database file (never created), or a cluster address dqlite://HOST:PORT[,...]/NAME")->required();
  cmd->add_option("SQL", args->sql, "One SELECT (or another statement that returns rows)")
      ->required();
  AddSqlParamOptions(cmd);
  CLI::Option* json = cmd->add_flag("--json", args->json, "Print one JSON object");
  CLI::Option* csv = cmd->add_flag("--csv", args->csv, "Print CSV (RFC 4180) with a header line");
  json->excludes(csv);
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds to wait for a reader connection and for opening")
      ->capture_default_str()
      ->check(SecondsFlag(ZeroSeconds::kRefused));
  cmd->add_option("--wait-for-owner", args->wait_for_owner_seconds,
                  "Accepted for compatibility and ignored: query reads without registering, "
                  "so an exclusive owner does not block it")
      ->capture_default_str()
      ->check(SecondsFlag(ZeroSeconds::kAtOnce));
  return {cmd, [args, cmd]() -> Result<int> { return Run(*args, SqlParamsInOrder(*cmd)); }};
}

}  // namespace sqlsteward::cli
