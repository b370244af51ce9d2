#include "snapshot/sqlite_util.h"

#include <cctype>

#include "core/connection.h"
#include "core/read_only_open.h"

namespace sqlsteward::internal {

Result<SqliteHandle> OpenSqlite(const std::string& name, int flags, std::string_view what,
                                const char* vfs) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, vfs);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, raw, "open " + std::string(what));
  sqlite3_extended_result_codes(raw, 1);
  // Our connections never checkpoint (only the writer does, under the
  // cross-process write lock) and never map the file.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  return db;
}

Status Exec(sqlite3* db, const char* sql, std::string_view context) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(sqlite3_extended_errcode(db), db, context);
  return Status();
}

Result<std::int64_t> QueryInt(sqlite3* db, const char* sql, std::string_view context) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, context);
  rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) {
    return SqliteStatus(rc == SQLITE_DONE ? SQLITE_ERROR : sqlite3_extended_errcode(db), db,
                        context);
  }
  return std::int64_t{sqlite3_column_int64(raw, 0)};
}

Result<SqliteHandle> OpenSnapshotFile(const std::string& path) {
  return OpenSqlite(SqliteFileUri(path, "immutable=1"),
                    SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW, path);
}

}  // namespace sqlsteward::internal
