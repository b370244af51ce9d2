#include "snapshot/damaged.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "base/status_builders.h"
#include "base/time.h"
#include "core/read_only_open.h"
#include "snapshot/sqlite_util.h"

namespace sqlsteward::internal {
namespace {

bool CorruptionCode(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// The first row of quick_check, or the SQLite code that stopped it.
struct QuickCheck {
  int rc = SQLITE_OK;
  std::string first_row;
};

QuickCheck RunQuickCheck(sqlite3* db) {
  QuickCheck out;
  sqlite3_stmt* raw = nullptr;
  out.rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (out.rc != SQLITE_OK) {
    out.rc = sqlite3_extended_errcode(db);
    return out;
  }
  int step = sqlite3_step(stmt.get());
  if (step == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
    out.first_row = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    return out;
  }
  out.rc = step == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db);
  return out;
}

}  // namespace

DamageReport ExamineDatabase(posix::Env* env, const std::string& path) {
  DamageReport report;
  struct stat st;
  if (env->Lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
    return report;
  }
  auto header = ReadDatabaseHeader(path, {});
  if (!header.has_value()) return report;
  if (!header->magic_ok) {
    report.damaged = true;
    report.why = "it is not an SQLite database (its header is not \"SQLite format 3\")";
    return report;
  }
  const ReadOnlyOpen plan = PlanReadOnlyOpen(env, path, *header);
  auto db = OpenSqlite(plan.uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW,
                       path);
  if (!db.has_value()) {
    if (CorruptionCode(db.error().sqlite_code())) {
      report.damaged = true;
      report.why = "SQLite cannot open it: " + std::string(db.error().message());
    }
    return report;
  }
  const QuickCheck check = RunQuickCheck(db->get());
  if (CorruptionCode(check.rc)) {
    report.damaged = true;
    report.why = std::string("PRAGMA quick_check failed: ") + sqlite3_errstr(check.rc);
  } else if (check.rc == SQLITE_OK && !check.first_row.empty() && check.first_row != "ok") {
    report.damaged = true;
    report.why = "PRAGMA quick_check found: " + check.first_row;
  }
  return report;
}

Result<MovedAside> MoveDamagedAside(posix::Env* env, const std::string& path,
                                    std::int64_t unix_ms) {
  const std::string stem = path + ".damaged-" + CompactUtc(unix_ms);
  MovedAside moved;
  for (int attempt = 1; attempt <= 100; ++attempt) {
    const std::string base = attempt == 1 ? stem : stem + "-" + std::to_string(attempt);
    Status failed;
    bool taken = false;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      const std::string from = path + suffix;
      const std::string to = base + suffix;
      struct stat st;
      if (env->Lstat(from.c_str(), &st) != 0) {
        if (errno == ENOENT && *suffix != '\0') continue;
        failed = posix::ErrnoStatus(errno, "stat", from);
        break;
      }
      if (env->RenameNoReplace(from.c_str(), to.c_str()) != 0) {
        if (errno == EEXIST) {
          taken = true;
        } else {
          failed = posix::ErrnoStatus(errno, "rename", from + " to " + to,
                                      "restore keeps a damaged database aside by renaming it in "
                                      "its directory, which must be writable");
        }
        break;
      }
      moved.from.push_back(from);
      moved.to.push_back(to);
      env->ChmodNoFollow(to.c_str(), 0600);  // Best effort: the bytes matter, not the mode.
    }
    if (failed.ok() && !taken) return moved;
    // Undo this attempt, newest first, before the next name or the error.
    for (std::size_t i = moved.from.size(); i-- > 0;) {
      env->RenameNoReplace(moved.to[i].c_str(), moved.from[i].c_str());
    }
    moved = MovedAside();
    if (!failed.ok()) return failed;
  }
  return FailedPrecondition("every name " + stem + "[-N] for the damaged database is taken",
                       "remove or move old " + path + ".damaged-* files, then retry");
}

Status PutDamagedBack(posix::Env* env, const std::string& path, const MovedAside& moved) {
  for (const char* suffix : {"-wal", "-shm", "-journal", ""}) {
    const std::string created = path + suffix;
    if (env->Unlink(created.c_str()) != 0 && errno != ENOENT) {
      return posix::ErrnoStatus(errno, "unlink", created);
    }
  }
  for (std::size_t i = 0; i < moved.from.size(); ++i) {
    if (env->RenameNoReplace(moved.to[i].c_str(), moved.from[i].c_str()) != 0) {
      return posix::ErrnoStatus(errno, "rename", moved.to[i] + " back to " + moved.from[i],
                                "the damaged database is kept in " + moved.to[0] +
                                    "; move it back by hand if you still want it there");
    }
  }
  return Status();
}

}  // namespace sqlsteward::internal
