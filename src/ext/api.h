// The SQLite API as the extension sees it: every sqlite3_* call goes
// through the routines table of the SQLite that loaded us (sqlite3ext.h),
// never through a linked libsqlite3, so the extension works inside any
// client's own SQLite (better-sqlite3 bundles its own). entry.cc defines
// the table (SQLITE_EXTENSION_INIT1); every other file includes this.
#ifndef SQLSTEWARD_EXT_API_H_
#define SQLSTEWARD_EXT_API_H_

#include <sqlite3ext.h>

#ifndef SQLSTEWARD_EXT_DEFINES_API
SQLITE_EXTENSION_INIT3
#endif

#endif  // SQLSTEWARD_EXT_API_H_
