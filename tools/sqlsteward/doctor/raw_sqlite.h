// The raw SQLite C API as doctor uses it: a database that may be broken is
// read through a read-only handle of its own, never through the library's
// Database (which would register, take locks, and refuse what doctor must
// describe).
#ifndef SQLSTEWARD_TOOLS_DOCTOR_RAW_SQLITE_H_
#define SQLSTEWARD_TOOLS_DOCTOR_RAW_SQLITE_H_

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/sqlite_handle.h"

namespace sqlsteward::cli::doctor {

using internal::SqliteHandle;

struct SqlError {
  int code = 0;  // extended result code
  int sys_errno = 0;
  std::string message;
};

// The rows of a one-column query as text (a NULL is ""), at most max_rows.
std::optional<SqlError> Query(sqlite3* db, const char* sql, std::vector<std::string>* rows,
                              std::size_t max_rows = 1000);

// The first row of a one-column query as an integer; nullopt with *err set
// when the query failed, nullopt alone when it returned no integer.
std::optional<std::int64_t> QueryInt(sqlite3* db, const char* sql, std::optional<SqlError>* err);

}  // namespace sqlsteward::cli::doctor

#endif  // SQLSTEWARD_TOOLS_DOCTOR_RAW_SQLITE_H_
