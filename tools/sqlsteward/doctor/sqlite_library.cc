// The "sqlite" section: the SQLite library this process runs on, and its
// WAL-reset bug (common/wal_reset_bug.h) as it matters for this database.
#include <sqlite3.h>

#include <string>

#include <fmt/core.h>

#include "common/wal_reset_bug.h"
#include "doctor/checks.h"

namespace sqlsteward::cli::doctor {

void CheckSqlite(Report& r, std::optional<bool> db_is_wal, bool managed) {
  const int number = sqlite3_libversion_number();
  r.Add("sqlite.version", Severity::kOk,
        fmt::format("SQLite {} (the library sqlsteward and this doctor run on; other programs "
                    "may bring their own)",
                    sqlite3_libversion()));
  if (!HasWalResetBug(number)) {
    r.Add("sqlite.wal_reset_bug", Severity::kOk,
          "this SQLite does not have the WAL-reset bug (3.7.0 to 3.51.2)");
    return;
  }
  const std::string bug = fmt::format(
      "SQLite {} has the WAL-reset bug (3.7.0 to 3.51.2, sqlite.org/wal.html#walresetbug): two "
      "connections that commit and checkpoint at the same moment can corrupt a WAL database",
      sqlite3_libversion());
  if (!db_is_wal.has_value() || !*db_is_wal) {
    r.Add("sqlite.wal_reset_bug", Severity::kOk,
          bug + (db_is_wal.has_value() ? "; this database uses a rollback journal, which the bug "
                                         "does not affect"
                                       : "; it matters only if this database is in WAL mode"));
    return;
  }
  const std::string why =
      "; sqlsteward serialises its checkpoints and commits under its cross-process write lock, "
      "so its own processes never hit the trigger, but foreign connections (other programs, the "
      "sqlite3 shell) writing at the same time can";
  const std::string hint =
      "write to this database only through sqlsteward while it is in use, or upgrade SQLite to "
      "3.51.3 or later everywhere it is opened";
  if (managed) {
    r.Add("sqlite.wal_reset_bug", Severity::kOk, bug + why, hint);
  } else {
    r.Add("sqlite.wal_reset_bug", Severity::kWarning,
          bug + why + "; this database has no sidecar, so its writers are not sqlsteward", hint);
  }
}

}  // namespace sqlsteward::cli::doctor
