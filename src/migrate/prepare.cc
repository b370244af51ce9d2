#include "migrate/prepare.h"

#include <algorithm>
#include <cstdio>

#include "base/sha256.h"
#include "base/status_builders.h"
#include "base/strings.h"
#include "core/statement_policy.h"
#include "migrate/sql_text.h"

namespace sqlsteward::internal {
namespace {

constexpr char kSavepointPrefix[] = "sqlsteward_mig_";

// The statement policy's verdict on a PRAGMA statement whose name starts at
// `pos` (after the keyword).
std::optional<Refusal> PragmaOf(std::string_view stmt, std::size_t pos) {
  std::string name = NextToken(stmt, &pos);
  std::size_t after = pos;
  if (NextToken(stmt, &after) == ".") {
    pos = after;
    name = NextToken(stmt, &pos);
  }
  std::string next = NextToken(stmt, &pos);
  return PragmaRefusal(name, next == "=" || next == "(", SqlContext::kMigration);
}

bool IsOurSavepoint(std::string_view name) { return AsciiLower(name).rfind("sqlsteward_", 0) == 0; }

Status Refuse(const std::string& label, std::size_t index, std::string_view stmt,
              const std::string& why, std::string hint) {
  return InvalidArgument("migration " + label + ", statement " + std::to_string(index + 1) +
                             " (\"" + Excerpt(stmt) + "\"): " + why,
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
      Refusal refusal = AttachRefusal(first, SqlContext::kMigration);
      return Refuse(label, i, stmt, refusal.why, refusal.hint);
    } else if (first == "pragma") {
      if (auto refusal = PragmaOf(stmt, pos)) {
        return Refuse(label, i, stmt, refusal->why, refusal->hint);
      }
      out.push_back(stmt);
    } else {
      out.push_back(stmt);
    }
  }
  if (depth != 0) {
    return InvalidArgument("migration " + label + ": BEGIN without COMMIT", txn_hint);
  }
  return out;
}

}  // namespace

std::string LabelOf(std::int64_t version, std::string_view name) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%04lld", static_cast<long long>(version));
  return std::string(digits) + "_" + std::string(name);
}

bool ValidMigrationName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return name.front() != '_';
}

Result<MigrationFileName> ParseMigrationFileName(std::string_view file, const std::string& path) {
  const bool sql_suffix = file.ends_with(".sql");
  std::size_t digits = 0;
  while (digits < file.size() && file[digits] >= '0' && file[digits] <= '9') ++digits;
  std::string_view name = sql_suffix && digits < file.size() && file[digits] == '_'
                              ? file.substr(digits + 1, file.size() - digits - 5)
                              : std::string_view();
  if (!sql_suffix || digits < 4 || digits >= file.size() || file[digits] != '_' ||
      !ValidMigrationName(name)) {
    return InvalidArgument("migration file " + path + " is not named NNNN_name.sql",
                           "name migration files NNNN_name.sql: at least four digits, '_', then "
                           "lower-case letters, digits and '_' (e.g. 0003_add_orders.sql)");
  }
  std::int64_t version = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    version = version * 10 + (file[i] - '0');
    if (version > kMaxMigrationVersion) break;
  }
  if (version < 1 || version > kMaxMigrationVersion) {
    return InvalidArgument("migration file " + path + ": version out of range",
                           "versions are 1 up to 2147483647");
  }
  return MigrationFileName{version, std::string(name)};
}

Result<std::vector<Prepared>> PrepareAll(const std::vector<Migration>& migrations) {
  std::vector<Prepared> out;
  out.reserve(migrations.size());
  for (const Migration& m : migrations) {
    Prepared p;
    p.migration = &m;
    p.label = LabelOf(m.version, m.name);
    if (m.version < 1 || m.version > kMaxMigrationVersion) {
      return Status(
          StatusCode::kInvalidArgument,
          "migration " + p.label + ": version " + std::to_string(m.version) + " is out of range",
          "versions are 1, 2, 3, ... up to 2147483647 (PRAGMA user_version, which "
          "mirrors them, is 32-bit)");
    }
    if (!ValidMigrationName(m.name)) {
      return InvalidArgument("migration " + p.label + ": the name \"" + m.name + "\" is not valid",
                             "use lower-case letters, digits and '_' (e.g. add_orders)");
    }
    if (m.sql.find('\0') != std::string::npos) {
      return InvalidArgument(
          "migration " + p.label + " contains a NUL byte at offset " +
              std::to_string(m.sql.find('\0')),
          "SQLite stops reading SQL at a NUL byte, so the statements after it would "
          "silently not run; remove it (a binary value belongs in a blob literal, "
          "X'00')");
    }
    if (IsBlank(m.sql) && !m.step) {
      return InvalidArgument("migration " + p.label + " has neither SQL nor a step",
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
      return InvalidArgument("duplicate migration version " + std::to_string(cur) + ": " +
                                 out[i - 1].label + " and " + out[i].label,
                             "give each migration its own number");
    }
    if (cur != prev + 1) {
      return InvalidArgument(
          "gap in migration versions: " + out[i - 1].label + " is followed by " + out[i].label +
              " (version " + std::to_string(prev + 1) + " is missing)",
          "number migrations without gaps; a removed migration must stay (make it a "
          "no-op) because databases may have applied it");
    }
  }
  return out;
}

}  // namespace sqlsteward::internal

namespace sqlsteward {

// Here, beside PrepareAll which records it, so that the checks made before
// anything runs link without the migrator and the database.
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

}  // namespace sqlsteward
