// Owning handles for the raw SQLite C API, for the connections that are not
// a Connection (the snapshotter's, doctor's): closed and finalized on scope
// exit.
#ifndef SQLSTEWARD_CORE_SQLITE_HANDLE_H_
#define SQLSTEWARD_CORE_SQLITE_HANDLE_H_

#include <sqlite3.h>

#include <memory>

namespace sqlsteward::internal {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_SQLITE_HANDLE_H_
