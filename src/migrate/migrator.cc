// The migrator: one exclusive, all-or-nothing run per pending set.
//
// Protocol of Migrate():
//   1. Validate the list without touching the database: versions contiguous
//      and in range, names well formed, each migration's SQL split into
//      statements (by sqlite3_complete, so strings, comments and trigger
//      bodies are handled by SQLite's own tokenizer), transaction control
//      rewritten to savepoints and forbidden statements refused.
//   2. Read the ledger on a reader connection. Up to date (every known
//      version applied, checksums present and equal, user_version in step):
//      return without writing. Schema too new, checksum mismatch, a gap
//      below the applied version: refuse, still without writing. So an
//      opener that has nothing to do never takes the write lock, and a
//      binary older than the database writes nothing to it.
//   3. Otherwise one DatabaseAccess::WriteExclusive job: alone in its batch,
//      under the cross-process write lock, with "migration A..B" recorded as
//      the lock holder's purpose. Inside it the ledger is read again (a
//      concurrent starter may have done the work while we waited: then
//      nothing is left to do), every check of step 2 is repeated, and each
//      pending migration is applied and recorded, and user_version set. The
//      batch's one COMMIT makes it all visible at once; any error returned
//      by the job rolls back the job's savepoint and the batch: schema,
//      data and ledger stay as they were.
//
// Why not BEGIN EXCLUSIVE: the batch's BEGIN IMMEDIATE under the sidecar
// lock already excludes every sqlsteward writer, and readers (WAL) keep
// reading the old schema until the commit, which is what they should see.
// Why waiters do not fail with SQLITE_BUSY: other sqlsteward processes wait
// on the kernel-queued sidecar lock, with their own deadlines, and a
// deadline that passes names the holder and its purpose ("migration ...").
#include "sqlsteward/migrator.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "core/database_access.h"
#include "base/sha256.h"
#include "sqlsteward/database.h"

namespace sqlsteward {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMaxVersion = std::numeric_limits<std::int32_t>::max();
constexpr char kSavepointPrefix[] = "sqlsteward_mig_";

// ---------------------------------------------------------------------------
// Lexing: just enough to find a statement's leading keywords. Statement
// boundaries come from sqlite3_complete.

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (static_cast<unsigned char>(c) >= 0x80);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// Index of the first character that is not whitespace or part of a comment.
std::size_t SkipBlank(std::string_view s, std::size_t i) {
  while (i < s.size()) {
    if (IsSpace(s[i])) {
      ++i;
    } else if (s.compare(i, 2, "--") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (s.compare(i, 2, "/*") == 0) {
      std::size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      break;
    }
  }
  return i;
}

bool IsBlank(std::string_view s) {
  for (std::size_t i = SkipBlank(s, 0); i < s.size(); i = SkipBlank(s, i + 1)) {
    if (s[i] != ';') return false;
  }
  return true;
}

// The next token: a keyword or identifier (lower-cased, quotes removed), or
// a single punctuation character; empty at the end.
std::string NextToken(std::string_view s, std::size_t* pos) {
  std::size_t i = SkipBlank(s, *pos);
  if (i >= s.size()) {
    *pos = i;
    return {};
  }
  char c = s[i];
  char close = c == '"' ? '"' : c == '`' ? '`' : c == '[' ? ']' : c == '\'' ? '\'' : '\0';
  if (close != '\0') {
    std::size_t end = s.find(close, i + 1);
    if (end == std::string_view::npos) end = s.size();
    *pos = std::min(end + 1, s.size());
    return Lower(s.substr(i + 1, end - i - 1));
  }
  if (!IsWordChar(c)) {
    *pos = i + 1;
    return std::string(1, c);
  }
  std::size_t end = i;
  while (end < s.size() && IsWordChar(s[end])) ++end;
  *pos = end;
  return Lower(s.substr(i, end - i));
}

std::string Excerpt(std::string_view sql) {
  std::string out;
  for (std::size_t i = SkipBlank(sql, 0); i < sql.size() && out.size() < 80; ++i) {
    char c = sql[i];
    if (IsSpace(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

std::string Trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Splits a script where SQLite's own tokenizer says a statement ends.
std::vector<std::string> SplitStatements(std::string_view sql) {
  std::vector<std::string> out;
  std::size_t start = 0;
  std::string candidate;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != ';') continue;
    candidate.assign(sql.substr(start, i + 1 - start));
    if (sqlite3_complete(candidate.c_str()) == 0) continue;
    if (!IsBlank(candidate)) out.push_back(Trim(candidate));
    start = i + 1;
  }
  std::string_view tail = sql.substr(start);
  if (!IsBlank(tail)) out.push_back(Trim(tail));
  return out;
}

// PRAGMAs whose assignment a migration may not make: they change the writer
// connection that every job of the process shares, have no effect inside a
// transaction, or belong to sqlsteward.
// clang-format off
const char* const kRefusedPragmas[] = {
    "analysis_limit", "auto_vacuum", "automatic_index", "busy_timeout", "cache_size", "cache_spill",
    "case_sensitive_like", "cell_size_check", "checkpoint_fullfsync", "count_changes", "encoding",
    "foreign_keys", "fullfsync", "hard_heap_limit", "ignore_check_constraints", "journal_mode",
    "journal_size_limit", "legacy_alter_table", "locking_mode", "max_page_count", "mmap_size",
    "page_size", "query_only", "read_uncommitted", "recursive_triggers",
    "reverse_unordered_selects", "secure_delete", "soft_heap_limit", "synchronous", "temp_store",
    "threads", "trusted_schema", "user_version", "wal_autocheckpoint", "writable_schema",
};
// clang-format on

struct Refusal {
  std::string why;
  std::string hint;
};

std::optional<Refusal> CheckPragma(std::string_view stmt, std::size_t pos) {
  std::string name = NextToken(stmt, &pos);
  std::size_t after = pos;
  if (NextToken(stmt, &after) == ".") {
    pos = after;
    name = NextToken(stmt, &pos);
  }
  std::string next = NextToken(stmt, &pos);
  bool assigns = next == "=" || next == "(";
  if (name == "wal_checkpoint") {
    return Refusal{"PRAGMA wal_checkpoint cannot run inside the migration's transaction",
                   "sqlsteward checkpoints under its write lock after commits; remove it"};
  }
  if (!assigns) return std::nullopt;
  if (name == "journal_mode" || name == "locking_mode") {
    return Refusal{"PRAGMA " + name + " would change how every process shares the database",
                   "sqlsteward chooses the journal mode at open (Options::journal_mode); "
                   "remove the PRAGMA from the migration"};
  }
  if (name == "foreign_keys") {
    return Refusal{
        "PRAGMA foreign_keys has no effect inside a transaction, and a migration "
        "runs inside one",
        "use PRAGMA defer_foreign_keys = ON to check foreign keys at commit "
        "instead (the usual way to rebuild a table)"};
  }
  if (name == "user_version") {
    return Refusal{"PRAGMA user_version is set by sqlsteward to the ledger's version",
                   "remove it; the migration's number is the version"};
  }
  for (const char* refused : kRefusedPragmas) {
    if (name == refused) {
      return Refusal{
          "PRAGMA " + name +
              " changes a setting of the writer connection that "
              "every write of this process shares, or cannot take effect in a transaction",
          "set connection options through sqlsteward::Options; remove the PRAGMA "
          "from the migration"};
    }
  }
  return std::nullopt;
}

bool IsOurSavepoint(std::string_view name) { return Lower(name).rfind("sqlsteward_", 0) == 0; }

// A validated migration, its statements rewritten for running inside the
// run's transaction.
struct Prepared {
  const Migration* migration = nullptr;
  std::string label;
  std::string checksum;
  std::vector<std::string> statements;
};

Status Refuse(const std::string& label, std::size_t index, std::string_view stmt,
              const std::string& why, std::string hint) {
  return Status(StatusCode::kInvalidArgument,
                "migration " + label + ", statement " + std::to_string(index + 1) + " (\"" +
                    Excerpt(stmt) + "\"): " + why,
                std::move(hint));
}

Result<std::vector<std::string>> RewriteStatements(const Migration& m, const std::string& label) {
  std::vector<std::string> in = SplitStatements(m.sql);
  std::vector<std::string> out;
  int depth = 0;
  auto savepoint = [&](int level) {
    return std::string(kSavepointPrefix) + std::to_string(m.version) + "_" + std::to_string(level);
  };
  const std::string txn_hint =
      "a migration already runs inside one transaction; BEGIN/COMMIT/ROLLBACK in its SQL "
      "become savepoints and must pair up";
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string& stmt = in[i];
    std::size_t pos = 0;
    std::string first = NextToken(stmt, &pos);
    if (first == "begin") {
      out.push_back("SAVEPOINT " + savepoint(++depth));
    } else if (first == "commit" || first == "end") {
      if (depth == 0) return Refuse(label, i, stmt, "COMMIT without BEGIN", txn_hint);
      out.push_back("RELEASE " + savepoint(depth--));
    } else if (first == "rollback") {
      std::size_t p = pos;
      std::string next = NextToken(stmt, &p);
      if (next == "transaction") next = NextToken(stmt, &p);
      if (next == "to") {
        std::string name = NextToken(stmt, &p);
        if (name == "savepoint") name = NextToken(stmt, &p);
        if (IsOurSavepoint(name)) {
          return Refuse(label, i, stmt, "savepoint names starting with sqlsteward_ are reserved",
                        "rename the savepoint");
        }
        out.push_back(stmt);
        continue;
      }
      if (depth == 0) return Refuse(label, i, stmt, "ROLLBACK without BEGIN", txn_hint);
      out.push_back("ROLLBACK TO " + savepoint(depth));
      out.push_back("RELEASE " + savepoint(depth--));
    } else if (first == "savepoint" || first == "release") {
      std::string name = NextToken(stmt, &pos);
      if (name == "savepoint") name = NextToken(stmt, &pos);
      if (IsOurSavepoint(name)) {
        return Refuse(label, i, stmt, "savepoint names starting with sqlsteward_ are reserved",
                      "rename the savepoint");
      }
      out.push_back(stmt);
    } else if (first == "vacuum") {
      return Refuse(label, i, stmt, "VACUUM cannot run inside a transaction",
                    "run VACUUM separately, outside migrations, when no one else writes");
    } else if (first == "attach" || first == "detach") {
      return Refuse(label, i, stmt,
                    Lower(first) +
                        " cannot run inside a transaction and would change the "
                        "writer connection that every write shares",
                    "migrate each database through its own sqlsteward handle");
    } else if (first == "pragma") {
      if (auto refusal = CheckPragma(stmt, pos)) {
        return Refuse(label, i, stmt, refusal->why, refusal->hint);
      }
      out.push_back(stmt);
    } else {
      out.push_back(stmt);
    }
  }
  if (depth != 0) {
    return Status(StatusCode::kInvalidArgument, "migration " + label + ": BEGIN without COMMIT",
                  txn_hint);
  }
  return out;
}

bool ValidName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return name.front() != '_';
}

Result<std::vector<Prepared>> PrepareAll(const std::vector<Migration>& migrations) {
  std::vector<Prepared> out;
  out.reserve(migrations.size());
  for (const Migration& m : migrations) {
    Prepared p;
    p.migration = &m;
    p.label = MigrationLabel(m);
    if (m.version < 1 || m.version > kMaxVersion) {
      return Status(
          StatusCode::kInvalidArgument,
          "migration " + p.label + ": version " + std::to_string(m.version) + " is out of range",
          "versions are 1, 2, 3, ... up to 2147483647 (PRAGMA user_version, which "
          "mirrors them, is 32-bit)");
    }
    if (!ValidName(m.name)) {
      return Status(StatusCode::kInvalidArgument,
                    "migration " + p.label + ": the name \"" + m.name + "\" is not valid",
                    "use lower-case letters, digits and '_' (e.g. add_orders)");
    }
    if (IsBlank(m.sql) && !m.step) {
      return Status(StatusCode::kInvalidArgument,
                    "migration " + p.label + " has neither SQL nor a step",
                    "give it SQL statements, a C++ step, or both");
    }
    auto statements = RewriteStatements(m, p.label);
    if (!statements.has_value()) return std::move(statements).error();
    p.statements = std::move(statements).value();
    p.checksum = MigrationChecksum(m);
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const Prepared& a, const Prepared& b) {
    return a.migration->version < b.migration->version;
  });
  for (std::size_t i = 1; i < out.size(); ++i) {
    std::int64_t prev = out[i - 1].migration->version;
    std::int64_t cur = out[i].migration->version;
    if (cur == prev) {
      return Status(StatusCode::kInvalidArgument,
                    "duplicate migration version " + std::to_string(cur) + ": " + out[i - 1].label +
                        " and " + out[i].label,
                    "give each migration its own number");
    }
    if (cur != prev + 1) {
      return Status(StatusCode::kInvalidArgument,
                    "gap in migration versions: " + out[i - 1].label + " is followed by " +
                        out[i].label + " (version " + std::to_string(prev + 1) + " is missing)",
                    "number migrations without gaps; a removed migration must stay (make it a "
                    "no-op) because databases may have applied it");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The ledger.

constexpr char kCreateLedger[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT "
    "NULL, applied_at TEXT NOT NULL, checksum TEXT)";

struct LedgerRow {
  std::int64_t version = 0;
  std::string name;
  std::optional<std::string> checksum;
};

struct Ledger {
  bool exists = false;
  bool has_checksum = false;
  std::vector<LedgerRow> rows;  // By version.
  std::int64_t max_version = 0;
  std::int64_t user_version = 0;
};

Result<Ledger> ReadLedger(ReadTransaction& tx) {
  Ledger ledger;
  SQLSTEWARD_ASSIGN_OR_RETURN(auto user_version, tx.QueryInt64("PRAGMA user_version"));
  ledger.user_version = user_version.value_or(0);
  SQLSTEWARD_ASSIGN_OR_RETURN(
      auto tables, tx.QueryInt64("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'schema_migrations'"));
  if (tables.value_or(0) == 0) return ledger;
  ledger.exists = true;
  std::map<std::string, bool> columns;
  {
    SQLSTEWARD_ASSIGN_OR_RETURN(
        Statement cols, tx.Prepare("SELECT name FROM pragma_table_info('schema_migrations')"));
    while (true) {
      SQLSTEWARD_ASSIGN_OR_RETURN(bool row, cols.Step());
      if (!row) break;
      columns[Lower(cols.ColumnText(0))] = true;
    }
  }
  if (!columns.contains("version") || !columns.contains("name") ||
      !columns.contains("applied_at")) {
    std::string have;
    for (const auto& [name, unused] : columns) have += (have.empty() ? "" : ", ") + name;
    return Status(StatusCode::kFailedPrecondition,
                  "the table schema_migrations exists but is not a migration ledger sqlsteward "
                  "understands (columns: " +
                      have + ")",
                  "it needs version, name and applied_at (and checksum, which sqlsteward adds); "
                  "was the database migrated by another tool? Convert or rename that table first");
  }
  ledger.has_checksum = columns.contains("checksum");
  SQLSTEWARD_ASSIGN_OR_RETURN(
      Statement rows,
      tx.Prepare(ledger.has_checksum
                     ? "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
                     : "SELECT version, name, NULL FROM schema_migrations ORDER BY version"));
  while (true) {
    SQLSTEWARD_ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    LedgerRow r;
    r.version = rows.ColumnInt64(0);
    r.name = std::string(rows.ColumnText(1));
    if (!rows.ColumnIsNull(2)) r.checksum = std::string(rows.ColumnText(2));
    ledger.max_version = std::max(ledger.max_version, r.version);
    ledger.rows.push_back(std::move(r));
  }
  return ledger;
}

std::string LabelOf(std::int64_t version, std::string_view name) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%04lld", static_cast<long long>(version));
  return std::string(digits) + "_" + std::string(name);
}

struct Plan {
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::vector<const Prepared*> pending;
  // Applied versions this binary knows whose ledger row has no checksum.
  std::vector<const Prepared*> fill_checksums;
  bool add_checksum_column = false;
  bool set_user_version = false;
  bool UpToDate() const {
    return pending.empty() && fill_checksums.empty() && !add_checksum_column && !set_user_version;
  }
};

Result<Plan> MakePlan(const Ledger& ledger, const std::vector<Prepared>& known) {
  Plan plan;
  plan.from = ledger.max_version;
  const std::int64_t newest = known.empty() ? 0 : known.back().migration->version;
  const std::int64_t first = known.empty() ? 1 : known.front().migration->version;
  if (ledger.max_version > newest) {
    const LedgerRow& top = ledger.rows.back();
    return Status(
        StatusCode::kFailedPrecondition,
        "schema too new: database at version " + std::to_string(ledger.max_version) + " (" +
            LabelOf(top.version, top.name) + "), this binary knows up to " + std::to_string(newest),
        "roll forward (deploy the binary that has migration " + std::to_string(ledger.max_version) +
            "), or use the newer binary; nothing was written");
  }
  std::map<std::int64_t, const LedgerRow*> applied;
  for (const LedgerRow& row : ledger.rows) applied[row.version] = &row;
  for (const Prepared& p : known) {
    auto it = applied.find(p.migration->version);
    if (it == applied.end()) {
      if (p.migration->version < ledger.max_version) {
        return Status(StatusCode::kFailedPrecondition,
                      "migration " + p.label +
                          " was never applied, but the database is "
                          "already at version " +
                          std::to_string(ledger.max_version),
                      "migrations apply in order; a migration added below the applied ones "
                      "needs a new, higher number");
      }
      plan.pending.push_back(&p);
      continue;
    }
    const LedgerRow& row = *it->second;
    if (!row.checksum.has_value()) {
      plan.fill_checksums.push_back(&p);
    } else if (*row.checksum != p.checksum) {
      return Status(StatusCode::kFailedPrecondition,
                    "checksum mismatch: migration " + p.label + " was applied with checksum " +
                        *row.checksum + ", but its text now has " + p.checksum,
                    "an applied migration must not change: restore its original text and put "
                    "the change in a new migration");
    }
  }
  if (!ledger.rows.empty() && ledger.max_version < first - 1) {
    return Status(StatusCode::kFailedPrecondition,
                  "the database is at version " + std::to_string(ledger.max_version) +
                      ", but the first migration this binary has is " + known.front().label,
                  "apply the missing migrations with a binary that has them first");
  }
  plan.add_checksum_column = ledger.exists && !ledger.has_checksum;
  plan.to = plan.pending.empty() ? ledger.max_version : plan.pending.back()->migration->version;
  plan.set_user_version =
      ledger.exists || !plan.pending.empty() ? plan.to != ledger.user_version : false;
  return plan;
}

Status ApplyOne(Transaction& tx, const Prepared& p) {
  for (std::size_t i = 0; i < p.statements.size(); ++i) {
    Status st = tx.ExecScript(p.statements[i]);
    if (!st.ok()) {
      return st.WithContext("migration " + p.label + ", statement " + std::to_string(i + 1) +
                            " (\"" + Excerpt(p.statements[i]) + "\")");
    }
  }
  if (p.migration->step) {
    Status st;
    try {
      st = p.migration->step(tx);
    } catch (const std::exception& e) {
      st = Status(StatusCode::kInternal, std::string("the step threw: ") + e.what(),
                  "every migration of the run was rolled back; return a Status instead");
    } catch (...) {
      st = Status(StatusCode::kInternal, "the step threw a non-std exception",
                  "every migration of the run was rolled back; return a Status instead");
    }
    if (!st.ok()) return st.WithContext("migration " + p.label + " (step)");
  }
  return Status();
}

std::string Purpose(const Plan& plan) {
  if (plan.pending.empty()) return "migration ledger update";
  const Prepared& first = *plan.pending.front();
  const Prepared& last = *plan.pending.back();
  std::string out = "migration " + first.label;
  if (&first != &last) out += ".." + last.label;
  // The lock holder's record keeps 63 bytes; numbers alone always fit.
  if (out.size() > 63) {
    out = "migration " + std::to_string(first.migration->version);
    if (&first != &last) out += ".." + std::to_string(last.migration->version);
  }
  return out;
}

std::string AdoptionWarning(const Plan& plan, bool column_added) {
  std::string versions;
  for (const Prepared* p : plan.fill_checksums) {
    versions += (versions.empty() ? "" : ", ") + p->label;
  }
  std::string out = column_added ? "adopted an existing schema_migrations table without "
                                   "checksums (mcdsl style): added the checksum column"
                                 : "schema_migrations had rows without checksums";
  if (!versions.empty()) {
    out += "; recorded this binary's checksums for " + versions +
           " without being able to verify that they are the text that was applied";
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string MigrationLabel(const Migration& migration) {
  return LabelOf(migration.version, migration.name);
}

std::string MigrationChecksum(const Migration& migration) {
  // CRLF counts as LF: a checkout on Windows is not an edit.
  std::string text;
  text.reserve(migration.sql.size());
  const std::string& sql = migration.sql;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '\r' && i + 1 < sql.size() && sql[i + 1] == '\n') continue;
    text += sql[i];
  }
  if (migration.step) {
    text += '\0';
    text += "step:" + std::to_string(migration.version) + ":" + migration.name;
  }
  return "sha256:" + internal::Sha256Hex(text);
}

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
        !ValidName(name)) {
      return Status(StatusCode::kInvalidArgument,
                    "migration file " + dir + "/" + file + " is not named NNNN_name.sql",
                    name_hint);
    }
    std::int64_t version = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      version = version * 10 + (file[i] - '0');
      if (version > kMaxVersion) break;
    }
    if (version < 1 || version > kMaxVersion) {
      return Status(StatusCode::kInvalidArgument,
                    "migration file " + dir + "/" + file + ": version out of range",
                    "versions are 1 up to 2147483647");
    }
    if (auto dup = files.find(version); dup != files.end()) {
      return Status(StatusCode::kInvalidArgument,
                    "duplicate migration version " + std::to_string(version) + " in " + dir + ": " +
                        dup->second + " and " + file,
                    "give each migration its own number");
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return Status(StatusCode::kIOError, "cannot read migration file " + dir + "/" + file,
                    "check its permissions");
    }
    if (IsBlank(text.str())) {
      return Status(StatusCode::kInvalidArgument,
                    "migration file " + dir + "/" + file + " contains no SQL statement",
                    "write the migration, or make it an explicit no-op such as SELECT 1;");
    }
    files[version] = file;
    out.push_back(Migration{version, std::move(name), text.str(), nullptr});
  }
  if (ec) {
    return Status(StatusCode::kIOError, "cannot list " + dir + ": " + ec.message(), "", 0,
                  ec.value());
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].version != out[i - 1].version + 1) {
      return Status(StatusCode::kInvalidArgument,
                    "gap in migration files in " + dir + ": " + files[out[i - 1].version] +
                        " is followed by " + files[out[i].version] + " (version " +
                        std::to_string(out[i - 1].version + 1) + " is missing)",
                    "number migrations without gaps; a removed migration must stay (make it a "
                    "no-op) because databases may have applied it");
    }
  }
  // The same statement checks Migrate() makes, so a bad file fails at load.
  auto prepared = PrepareAll(out);
  if (!prepared.has_value()) {
    return std::move(prepared).error().WithContext(dir);
  }
  return out;
}

Result<MigrationReport> Migrate(Database& db, const std::vector<Migration>& migrations,
                                const MigrateOptions& options) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<Prepared> known, PrepareAll(migrations));

  // Step 2: a read-only look first; see the comment at the top.
  std::optional<Plan> preview;
  Status read = db.Read([&](ReadTransaction& tx) -> Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(Ledger ledger, ReadLedger(tx));
    SQLSTEWARD_ASSIGN_OR_RETURN(Plan plan, MakePlan(ledger, known));
    preview = std::move(plan);
    return Status();
  });
  SQLSTEWARD_RETURN_IF_ERROR(read);
  MigrationReport report;
  report.from_version = preview->from;
  report.to_version = preview->from;
  if (preview->UpToDate()) return report;
  if (options.dry_run) {
    for (const Prepared* p : preview->pending) report.applied.push_back(p->migration->version);
    report.to_version = preview->to;
    if (preview->add_checksum_column || !preview->fill_checksums.empty()) {
      report.warnings.push_back("would have " +
                                AdoptionWarning(*preview, preview->add_checksum_column));
    }
    for (const std::string& w : report.warnings) {
      if (options.on_warning) options.on_warning(w);
    }
    return report;
  }

  // Step 3: the run itself.
  MigrationReport result;
  WriteFn job = [&](Transaction& tx) -> Status {
    result = MigrationReport();
    SQLSTEWARD_ASSIGN_OR_RETURN(Ledger ledger, ReadLedger(tx));
    SQLSTEWARD_ASSIGN_OR_RETURN(Plan plan, MakePlan(ledger, known));
    result.from_version = plan.from;
    result.to_version = plan.to;
    if (plan.UpToDate()) return Status();  // Another starter did it while we waited.
    if (!ledger.exists) SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript(kCreateLedger));
    if (plan.add_checksum_column) {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.ExecScript("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT"));
    }
    for (const Prepared* p : plan.fill_checksums) {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("UPDATE schema_migrations SET checksum = ? WHERE version = ?", p->checksum,
                  p->migration->version));
    }
    if (plan.add_checksum_column || !plan.fill_checksums.empty()) {
      result.warnings.push_back(AdoptionWarning(plan, plan.add_checksum_column));
    }
    for (const Prepared* p : plan.pending) {
      SQLSTEWARD_RETURN_IF_ERROR(ApplyOne(tx, *p));
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO schema_migrations(version, name, applied_at, checksum) "
                  "VALUES(?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?)",
                  p->migration->version, p->migration->name, p->checksum)
              .WithContext("record migration " + p->label));
      result.applied.push_back(p->migration->version);
    }
    if (plan.set_user_version) {
      SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript("PRAGMA user_version = " + std::to_string(plan.to)));
    }
    return Status();
  };
  Status st = internal::DatabaseAccess::WriteExclusive(db, job, Clock::now() + options.timeout,
                                                       Purpose(*preview));
  if (!st.ok()) return st;
  for (const std::string& w : result.warnings) {
    if (options.on_warning) options.on_warning(w);
  }
  return result;
}

Result<std::int64_t> SchemaVersion(Database& db) {
  std::int64_t version = 0;
  SQLSTEWARD_RETURN_IF_ERROR(db.Read([&](ReadTransaction& tx) -> Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(Ledger ledger, ReadLedger(tx));
    version = ledger.max_version;
    return Status();
  }));
  return version;
}

std::function<Status(Database&)> MigrateOnOpen(std::vector<Migration> migrations,
                                               MigrateOptions options) {
  if (!options.on_warning) {
    options.on_warning = [](std::string_view message) {
      std::fprintf(stderr, "sqlsteward: warning: %.*s\n", static_cast<int>(message.size()),
                   message.data());
    };
  }
  options.dry_run = false;
  return [migrations = std::move(migrations), options](Database& db) -> Status {
    return Migrate(db, migrations, options).status();
  };
}

}  // namespace sqlsteward
