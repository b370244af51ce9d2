#include "snapshot/integrity.h"

#include <string>
#include <utility>
#include <vector>

#include "base/status_builders.h"
#include "core/connection.h"
#include "snapshot/sqlite_util.h"

namespace sqlsteward {

namespace internal {
namespace {

// Rows of a failed check kept in the message: enough to see what is wrong,
// bounded so that a badly damaged file does not produce megabytes.
constexpr int kIntegrityRows = 20;

}  // namespace

Status RunIntegrityCheck(sqlite3* db, IntegrityCheck check, std::string_view what) {
  if (check == IntegrityCheck::kNone) return Status();
  std::string sql =
      check == IntegrityCheck::kQuick ? "PRAGMA quick_check(" : "PRAGMA integrity_check(";
  sql += std::to_string(kIntegrityRows) + ")";
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  StmtHandle stmt(raw);
  std::vector<std::string> rows;
  if (rc == SQLITE_OK) rc = SQLITE_ROW;
  while (rc == SQLITE_ROW && (rc = sqlite3_step(raw)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(raw, 0);
    rows.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }
  const std::string hint =
      "the file is damaged: do not restore it; use another snapshot, and run "
      "`sqlsteward doctor` on the database it came from";
  if (rc != SQLITE_DONE) {
    const int code = sqlite3_extended_errcode(db);
    if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) {
      return Corruption("integrity check failed: " + std::string(what) + ": " + sqlite3_errmsg(db),
                        hint, code);
    }
    return SqliteStatus(code, db,
                        std::string(IntegrityCheckName(check)) + " check of " + std::string(what));
  }
  if (rows.size() == 1 && rows[0] == "ok") return Status();
  std::string message = "integrity check failed: " + std::string(what) + ": ";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) message += "; ";
    message += rows[i];
  }
  return Corruption(std::move(message), hint, SQLITE_CORRUPT);
}

}  // namespace internal

std::string_view IntegrityCheckName(IntegrityCheck check) {
  switch (check) {
    case IntegrityCheck::kNone:
      return "none";
    case IntegrityCheck::kQuick:
      return "quick";
    case IntegrityCheck::kFull:
      return "full";
  }
  return "unknown";
}

Result<IntegrityCheck> ParseIntegrityCheck(std::string_view name) {
  for (IntegrityCheck c : {IntegrityCheck::kNone, IntegrityCheck::kQuick, IntegrityCheck::kFull}) {
    if (name == IntegrityCheckName(c)) return c;
  }
  return InvalidArgument("unknown integrity check \"" + std::string(name) + "\"",
                         "use one of: quick, full, none");
}

}  // namespace sqlsteward
