#include "doctor/raw_sqlite.h"

#include <exception>

#include <fmt/core.h>

namespace sqlsteward::cli::doctor {

std::optional<SqlError> Query(sqlite3* db, const char* sql, std::vector<std::string>* rows,
                              std::size_t max_rows) {
  auto error = [db] {
    return SqlError{sqlite3_extended_errcode(db), sqlite3_system_errno(db), sqlite3_errmsg(db)};
  };
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) return error();
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, &sqlite3_finalize);
  rows->clear();
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    if (rows->size() >= max_rows) continue;
    const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
    rows->emplace_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
  }
  if (rc != SQLITE_DONE) return error();
  return std::nullopt;
}

std::optional<std::int64_t> QueryInt(sqlite3* db, const char* sql, std::optional<SqlError>* err) {
  std::vector<std::string> rows;
  *err = Query(db, sql, &rows, 1);
  if (*err || rows.empty()) return std::nullopt;
  try {
    return std::stoll(rows[0]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace sqlsteward::cli::doctor
