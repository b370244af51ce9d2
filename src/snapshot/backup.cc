#include "snapshot/backup.h"

#include <algorithm>
#include <string>
#include <thread>

#include "base/status_builders.h"
#include "core/connection.h"

namespace sqlsteward::internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kBusyGiveUp = std::chrono::milliseconds(500);

}  // namespace

Status RunBackup(const BackupRun& run, BackupOutcome* out) {
  sqlite3_backup* backup = sqlite3_backup_init(run.dest, "main", run.source, "main");
  if (backup == nullptr) {
    return SqliteStatus(sqlite3_extended_errcode(run.dest), run.dest, "start backup");
  }
  run.reporter->Begin(run.phase, 0, run.page_size);
  std::int64_t last_done = 0;
  std::int64_t total = 0;
  const int step = std::max(1, run.pages_per_step);
  // Since when steps have found the source locked; max() while they do not.
  Clock::time_point busy_since = Clock::time_point::max();
  for (;;) {
    const int rc = sqlite3_backup_step(backup, step);
    total = sqlite3_backup_pagecount(backup);
    const std::int64_t done = total - sqlite3_backup_remaining(backup);
    if (rc == SQLITE_OK || rc == SQLITE_DONE) {
      busy_since = Clock::time_point::max();
      if (rc == SQLITE_OK && last_done > 0 && done <= last_done) {
        ++out->restarts;
        if (run.max_restarts >= 0 && out->restarts > run.max_restarts) {
          sqlite3_backup_finish(backup);
          return Aborted(
              "the source changed " + std::to_string(out->restarts) + " times during the copy",
              "retry when writes are fewer");
        }
      }
      last_done = done;
      if (run.after_step) run.after_step();
      if (rc == SQLITE_DONE) break;
      run.reporter->Update(run.phase, done, total, out->restarts);
      continue;
    }
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
      const auto now = Clock::now();
      if (busy_since == Clock::time_point::max()) busy_since = now;
      // A copy that may give up (rollback journal, without the write lock)
      // does so when writers keep the database locked, as for restarts.
      if (run.max_restarts >= 0 && now - busy_since > kBusyGiveUp) {
        sqlite3_backup_finish(backup);
        return Aborted("the source stayed locked by writers", "retry when writes are fewer");
      }
      if (now >= run.deadline) {
        sqlite3_backup_finish(backup);
        return Timeout("the database stayed locked past the deadline during the copy",
                       "a long transaction outside sqlsteward holds SQLite's lock; retry, or "
                       "raise the timeout",
                       rc);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    sqlite3_backup_finish(backup);
    // Named by the destination: a full disk or an I/O error there is the
    // usual cause, and the file is the one to look at.
    const char* dest_file = sqlite3_db_filename(run.dest, "main");
    return SqliteStatus(
        sqlite3_extended_errcode(run.dest) != SQLITE_OK ? sqlite3_extended_errcode(run.dest) : rc,
        run.dest, std::string("copy into ") + (dest_file != nullptr ? dest_file : "the copy"));
  }
  const int rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_OK) return SqliteStatus(rc, run.dest, "finish copy");
  out->pages = total;
  run.reporter->End(run.phase, total, total);
  return Status();
}

}  // namespace sqlsteward::internal
