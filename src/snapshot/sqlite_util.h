// The snapshotter's own SQLite connections (not the Database's): RAII
// handles, opening one the way every snapshot connection is opened, and the
// two one-line query helpers the copy, check and restore share.
//
// Thread safety: the functions are safe for concurrent use; a handle is used
// by one thread at a time.
#ifndef SQLSTEWARD_SNAPSHOT_SQLITE_UTIL_H_
#define SQLSTEWARD_SNAPSHOT_SQLITE_UTIL_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/sqlite_handle.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// sqlite3_open_v2 with extended result codes and no checkpoint on close.
// `what` names the file in errors; `vfs` nullptr: the default VFS.
Result<SqliteHandle> OpenSqlite(const std::string& name, int flags, std::string_view what,
                                const char* vfs = nullptr);

Status Exec(sqlite3* db, const char* sql, std::string_view context);

// The first column of the first row of `sql`.
Result<std::int64_t> QueryInt(sqlite3* db, const char* sql, std::string_view context);

// A snapshot file, read-only and immutable: no locks, no -wal/-shm/-journal
// lookups beside it. Nobody writes a published snapshot.
Result<SqliteHandle> OpenSnapshotFile(const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_SQLITE_UTIL_H_
