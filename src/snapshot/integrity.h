// PRAGMA quick_check / integrity_check on a snapshot connection, turned into
// a Status that says what is damaged and what to do about it.
//
// Thread safety: safe for concurrent use on different connections.
#ifndef SQLSTEWARD_SNAPSHOT_INTEGRITY_H_
#define SQLSTEWARD_SNAPSHOT_INTEGRITY_H_

#include <sqlite3.h>

#include <string_view>

#include "sqlsteward/snapshot.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// Runs `check` on `db` (kNone: nothing). kCorruption "integrity check
// failed: <what>: ..." with the first rows SQLite reports.
Status RunIntegrityCheck(sqlite3* db, IntegrityCheck check, std::string_view what);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_INTEGRITY_H_
