// The "database" section: the database file, its header, a read-only open
// that creates and changes nothing (the rules are at the top of doctor.cc),
// journal mode, pages, the -wal file and PRAGMA quick_check. Each step is a
// function below; CheckDatabase runs them in order and stops where one
// cannot go on.
#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "common/cli.h"
#include "core/read_only_open.h"
#include "doctor/checks.h"
#include "doctor/raw_sqlite.h"
#include "doctor/text.h"
#include "posix/env.h"

namespace sqlsteward::cli::doctor {
namespace {

using nlohmann::json;

// A WAL 16 times sqlsteward's default checkpoint threshold (4 MiB) means
// checkpoints are not keeping up: usually a long-lived read transaction.
constexpr std::int64_t kLargeWalBytes = std::int64_t{64} << 20;
constexpr int kQuickCheckMaxErrors = 20;
constexpr int kBusyTimeoutMs = 2'000;

constexpr const char* kRecoverHint =
    "restore the database from a snapshot; `sqlite3 DB .recover` may salvage rows";

// The file SQLite opens: the database, or the target of a link to it
// (SQLite follows the link and names -wal/-shm/-journal after the target;
// files.symlinks reports the link itself).
struct DatabaseFile {
  std::string sql_path;
  struct stat st {};
};

// The first 100 bytes of the database file (sqlite.org/fileformat.html).
struct DbHeader {
  int error = 0;
  std::int64_t size = 0;
  bool magic_ok = false;
  int read_version = 0;  // byte 19: 1 rollback journal, 2 WAL
};

// How the database is opened: immutable when a normal read-only open would
// create or delete a file, with the reason and what it means.
struct OpenPlan {
  std::string uri;  // For SQLITE_OPEN_READONLY | SQLITE_OPEN_URI.
  FileState wal;
  FileState shm;
  std::string immutable_reason;  // empty: a read-only open with readonly_shm
  std::string hint;
  Severity severity = Severity::kOk;

  bool immutable() const { return !immutable_reason.empty(); }
};

std::string StrerrorSuffix(int sys_errno) {
  return sys_errno != 0 ? fmt::format(" ({})", std::strerror(sys_errno)) : "";
}

json SqlErrorJson(const SqlError& e) {
  return StatusToJson(Status(StatusCode::kIOError, e.message, {}, e.code, e.sys_errno));
}

// database.file: the path names a regular file, directly or through a link.
std::optional<DatabaseFile> CheckDatabaseFile(Report& r, const FileState& db) {
  if (db.error != 0) {
    r.database["error"] = StatusToJson(ErrnoStatus(db.error, "stat " + r.path));
    r.Add("database.file", Severity::kProblem,
          fmt::format("cannot stat {}: {}", r.path, std::strerror(db.error)),
          "run doctor as the user that owns the database");
    return std::nullopt;
  }
  if (!db.exists) {
    r.Add("database.file", Severity::kProblem, fmt::format("{} does not exist", r.path),
          "check the path (doctor never creates a database; sqlsteward creates it on first "
          "open)");
    return std::nullopt;
  }
  DatabaseFile file{r.path, db.st};
  r.database["type"] = FileTypeName(file.st);
  if (db.is_link()) {
    std::unique_ptr<char, void (*)(void*)> target(::realpath(r.path.c_str(), nullptr), &std::free);
    if (target == nullptr || ::stat(target.get(), &file.st) != 0) {
      r.Add("database.file", Severity::kProblem,
            fmt::format("{} is a symbolic link whose target cannot be read: {}", r.path,
                        std::strerror(errno)),
            "point the path at the database file itself");
      return std::nullopt;
    }
    file.sql_path = target.get();
  }
  if (S_ISDIR(file.st.st_mode)) {
    r.Add("database.file", Severity::kProblem, fmt::format("{} is a directory", r.path),
          fmt::format("give the path of a database file, e.g. {}/app.db", r.path));
    return std::nullopt;
  }
  if (!S_ISREG(file.st.st_mode)) {
    r.Add("database.file", Severity::kProblem, fmt::format("{} is not a regular file", r.path),
          "give the path of a database file");
    return std::nullopt;
  }
  r.database["size_bytes"] = static_cast<std::int64_t>(file.st.st_size);
  r.Add("database.file", Severity::kOk,
        fmt::format("{}: regular file, {}", r.path, FormatBytes(file.st.st_size)));
  return file;
}

// Must run while this process has no SQLite handle on the file: closing the
// descriptor would drop that handle's POSIX locks.
DbHeader ReadDbHeader(const std::string& path) {
  posix::Env* env = posix::Env::Default();
  DbHeader h;
  posix::UniqueFd fd(env, env->Open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK, 0));
  if (!fd.valid()) {
    h.error = errno;
    return h;
  }
  struct stat st {};
  std::array<unsigned char, 100> buf{};
  ssize_t n = 0;
  if (env->Fstat(fd.get(), &st) != 0) {
    h.error = errno;
  } else {
    h.size = st.st_size;
    n = env->Pread(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) h.error = errno;
  }
  if (n >= 20) {
    h.magic_ok = std::memcmp(buf.data(), "SQLite format 3\0", 16) == 0;
    h.read_version = buf[19];
  }
  return h;
}

// database.format (database.open when the file cannot be read). Returns the
// header, and in *format_ok the index of the "SQLite format 3" finding, which
// the first read may still turn into a problem; nullopt: stop.
std::optional<DbHeader> CheckFormat(Report& r, const std::string& sql_path,
                                    std::optional<bool>* db_is_wal,
                                    std::optional<std::size_t>* format_ok) {
  const DbHeader header = ReadDbHeader(sql_path);
  if (header.error != 0) {
    r.database["error"] = StatusToJson(ErrnoStatus(header.error, "read " + sql_path));
    r.Add("database.open", Severity::kProblem,
          fmt::format("cannot read {}: {}", sql_path, std::strerror(header.error)),
          header.error == EACCES ? "run doctor as the user that owns the database"
                                 : "check the disk and the kernel log (dmesg)");
    return std::nullopt;
  }
  if (header.size == 0) {
    r.database["format"] = "empty";
    r.Add("database.format", Severity::kOk,
          "empty file (0 bytes): an empty database, SQLite writes the header on the first write");
  } else if (!header.magic_ok) {
    r.database["format"] = "not a database";
    r.Add("database.format", Severity::kProblem,
          fmt::format("{} is not an SQLite database (file is not a database): it does not start "
                      "with the SQLite header",
                      r.path),
          "check the path; if this file was the database, it has been overwritten: restore it "
          "from a snapshot");
    return std::nullopt;
  } else {
    r.database["format"] = "sqlite3";
  }
  if (header.read_version == 2) *db_is_wal = true;
  if (header.magic_ok && header.read_version == 1) *db_is_wal = false;
  if (header.magic_ok) {
    *format_ok = r.findings.size();
    r.Add(
        "database.format", Severity::kOk,
        fmt::format("SQLite format 3, {} header", header.read_version == 2   ? "WAL"
                                                  : header.read_version == 1 ? "rollback-journal"
                                                                             : "unknown journal"));
  }
  return header;
}

// See the top of doctor.cc: a read-only open must not create -wal or -shm,
// and SQLite deletes a -wal beside an empty database file. The rule is the
// library's (core/read_only_open.h); doctor adds what to do about it.
OpenPlan PlanOpen(const Report& r, const DbFiles& files, const std::string& sql_path,
                  const DbHeader& header) {
  OpenPlan plan;
  plan.wal = sql_path == r.path ? files.wal : StatFile("wal", sql_path + "-wal");
  plan.shm = sql_path == r.path ? files.shm : StatFile("shm", sql_path + "-shm");
  internal::DatabaseHeader h;
  h.size = header.size;
  h.magic_ok = header.magic_ok;
  h.read_version = header.read_version;
  internal::ReadOnlyOpen how = internal::PlanReadOnlyOpen(posix::Env::Default(), sql_path, h);
  plan.uri = how.uri;
  plan.immutable_reason = how.reason;
  using Why = internal::ReadOnlyOpen::Why;
  if (how.why == Why::kWalWithoutShm) {
    plan.hint =
        "if no process has the database open, any read-write open (sqlsteward, sqlite3) "
        "rebuilds -shm from the WAL; if one does, something deleted its -shm: stop every "
        "process that uses the database, then open it once";
    plan.severity = Severity::kWarning;
  } else if (how.why == Why::kEmptyBesideWal) {
    plan.hint =
        "the database file was probably truncated or replaced: copy the database and its -wal "
        "aside before anything opens it read-write (that deletes the -wal)";
    plan.severity = Severity::kWarning;
  }
  return plan;
}

// The read-only handle (database.open on failure; nullptr then).
SqliteHandle OpenReadOnly(Report& r, const std::string& sql_path, const OpenPlan& plan) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(plan.uri.c_str(), &raw,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) {
    SqlError e{rc, raw != nullptr ? sqlite3_system_errno(raw) : 0,
               raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)};
    r.database["error"] = SqlErrorJson(e);
    r.Add("database.open", Severity::kProblem,
          fmt::format("SQLite cannot open {} read-only: {}{}", sql_path, e.message,
                      StrerrorSuffix(e.sys_errno)),
          e.sys_errno == EACCES ? "run doctor as the user that owns the database"
                                : "check the file's permissions and the disk");
    return nullptr;
  }
  sqlite3_extended_result_codes(db.get(), 1);
  int no_ckpt = 0;
  if (sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &no_ckpt) != SQLITE_OK ||
      no_ckpt != 1) {
    r.Add("database.open", Severity::kProblem,
          "this SQLite refused SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE; doctor does not read a database "
          "it might checkpoint on close",
          "use an SQLite of 3.16 or later");
    return nullptr;
  }
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
  // The file may be hostile; nothing doctor runs needs schema functions.
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
#endif
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  r.database["opened"] = plan.immutable() ? "immutable" : "read-only";
  return db;
}

// A failed first read, by what SQLite said.
void ReportFirstReadError(Report& r, const SqlError& e, const std::string& sql_path,
                          std::optional<std::size_t> format_ok) {
  r.database["error"] = SqlErrorJson(e);
  const int primary = e.code & 0xff;
  if (primary == SQLITE_NOTADB && format_ok.has_value()) {
    // The magic was right but SQLite rejects the rest of the header.
    r.database["format"] = "not a database";
    Finding& f = r.findings[*format_ok];
    f.severity = Severity::kProblem;
    f.message = fmt::format(
        "{} is not an SQLite database (file is not a database): it starts with the SQLite "
        "header, but SQLite rejected the rest of it",
        r.path);
    f.hint = kRecoverHint;
  } else if (primary == SQLITE_CORRUPT) {
    r.Add("database.quick_check", Severity::kProblem,
          fmt::format("the schema cannot be read: {}", e.message), kRecoverHint);
  } else if (e.code == SQLITE_READONLY_ROLLBACK) {
    r.Add("database.open", Severity::kWarning,
          "a hot journal (-journal) from an interrupted write is waiting to be rolled back; "
          "a read-only reader cannot read the database until then",
          "open the database once with a read-write connection (any sqlsteward open) to roll "
          "it back; never delete the -journal file: that corrupts the database");
  } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    r.Add("database.open", Severity::kWarning,
          fmt::format("the database stayed locked for {} ms: {}", kBusyTimeoutMs, e.message),
          "run doctor again; if it persists, a process holds an exclusive lock (a long write "
          "or a stuck process)");
  } else {
    r.Add("database.open", Severity::kProblem,
          fmt::format("SQLite cannot read {}: {}{}", sql_path, e.message,
                      StrerrorSuffix(e.sys_errno)),
          "check the file's permissions, the disk and the kernel log (dmesg)");
  }
}

// The first read (header, schema, hot journal, WAL recovery); database.open.
// False: the database cannot be read, stop.
bool FirstRead(Report& r, sqlite3* db, const std::string& sql_path, const OpenPlan& plan,
               std::optional<std::size_t> format_ok) {
  std::vector<std::string> rows;
  if (std::optional<SqlError> e = Query(db, "SELECT count(*) FROM sqlite_master", &rows)) {
    ReportFirstReadError(r, *e, sql_path, format_ok);
    return false;
  }
  r.Add("database.open", plan.severity,
        plan.immutable() ? "opened immutable (no locks, no WAL): " + plan.immutable_reason
                         : std::string("opened read-only through SQLite; doctor never writes or "
                                       "checkpoints"),
        plan.hint);
  return true;
}

// database.journal_mode. On an immutable handle journal_mode says "delete"
// whatever the header says; the header is the persistent truth.
void CheckJournalMode(Report& r, sqlite3* db, bool immutable, std::optional<bool>* db_is_wal) {
  std::string mode;
  std::vector<std::string> rows;
  if (immutable) {
    mode = db_is_wal->value_or(false) ? "wal" : "delete";
  } else if (!Query(db, "PRAGMA journal_mode", &rows) && !rows.empty()) {
    mode = rows[0];
  }
  if (mode.empty()) return;
  *db_is_wal = mode == "wal";
  r.database["journal_mode"] = mode;
  r.Add("database.journal_mode", Severity::kOk,
        mode == "wal" ? "journal mode: WAL (write-ahead log)"
                      : fmt::format("journal mode: rollback journal ({})", mode));
}

// database.pages. Returns the page size when it could be read.
std::optional<std::int64_t> CheckPages(Report& r, sqlite3* db) {
  std::optional<SqlError> err;
  std::optional<std::int64_t> page_size = QueryInt(db, "PRAGMA page_size", &err);
  std::optional<std::int64_t> page_count = QueryInt(db, "PRAGMA page_count", &err);
  std::optional<std::int64_t> freelist = QueryInt(db, "PRAGMA freelist_count", &err);
  if (page_size) r.database["page_size"] = *page_size;
  if (page_count) r.database["page_count"] = *page_count;
  if (freelist) r.database["freelist_count"] = *freelist;
  if (page_size && page_count && freelist) {
    const std::int64_t free_bytes = *freelist * *page_size;
    const bool mostly_free =
        *page_count > 0 && *freelist * 4 > *page_count && free_bytes > (std::int64_t{16} << 20);
    r.Add("database.pages", Severity::kOk,
          fmt::format("{} pages of {} bytes ({}), {} on the freelist", *page_count, *page_size,
                      FormatBytes(*page_count * *page_size), *freelist),
          mostly_free ? "VACUUM (with every writer stopped) returns the free pages to the "
                        "filesystem; they are reused by new data anyway"
                      : "");
  } else if (err) {
    r.Add("database.pages", Severity::kWarning,
          fmt::format("cannot read the page counts: {}", err->message));
  }
  return page_size;
}

// database.wal_file
void CheckWalFile(Report& r, const FileState& wal, std::optional<std::int64_t> page_size) {
  if (!wal.exists) {
    r.Add("database.wal_file", Severity::kOk, "no -wal file: the database was closed cleanly");
    return;
  }
  const std::int64_t wal_bytes = wal.st.st_size;
  r.database["wal_bytes"] = wal_bytes;
  std::string frames;
  if (page_size && *page_size > 0 && wal_bytes >= 32) {
    frames = fmt::format(", {} frames", (wal_bytes - 32) / (*page_size + 24));
  }
  if (wal_bytes > kLargeWalBytes) {
    r.Add("database.wal_file", Severity::kWarning,
          fmt::format("-wal is {}{}: checkpoints are not keeping up", FormatBytes(wal_bytes),
                      frames),
          "a long-lived read transaction usually blocks checkpoints: find readers that "
          "stay open; sqlsteward checkpoints (PASSIVE) after commits once they finish");
  } else {
    r.Add("database.wal_file", Severity::kOk,
          fmt::format("-wal is {}{}", FormatBytes(wal_bytes), frames));
  }
}

// The first line of quick_check's output that names an error, not the
// "*** in database main ***" banner.
std::string FirstError(const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    if (line.rfind("***", 0) != 0) return line;
  }
  return lines.empty() ? std::string("(no output)") : lines.front();
}

// PRAGMA quick_check's output, one line per entry (one row may carry
// several lines), or the error that stopped it.
std::vector<std::string> RunQuickCheck(sqlite3* db, std::optional<SqlError>* err) {
  const std::string sql = fmt::format("PRAGMA quick_check({})", kQuickCheckMaxErrors);
  std::vector<std::string> rows;
  std::vector<std::string> lines;
  *err = Query(db, sql.c_str(), &rows, kQuickCheckMaxErrors);
  if (*err) {
    lines.push_back((*err)->message);
    return lines;
  }
  for (const std::string& row : rows) {
    std::size_t start = 0;
    while (start <= row.size()) {
      std::size_t end = row.find('\n', start);
      if (end == std::string::npos) end = row.size();
      if (end > start) lines.push_back(row.substr(start, end - start));
      start = end + 1;
    }
  }
  return lines;
}

// database.quick_check. Takes the handle: it is closed before the file is
// looked at again.
void CheckQuickCheck(Report& r, SqliteHandle db, const DatabaseFile& file, const OpenPlan& plan) {
  std::optional<SqlError> qerr;
  const std::vector<std::string> lines = RunQuickCheck(db.get(), &qerr);
  r.database["quick_check"] = lines;
  if (!qerr && lines.size() == 1 && lines[0] == "ok") {
    r.Add("database.quick_check", Severity::kOk, "PRAGMA quick_check: ok");
    return;
  }
  db.reset();
  // An immutable handle takes no locks: a process that opened the database
  // meanwhile may have changed it under the check.
  const struct stat& st = file.st;
  const FileState after = StatFile("database", file.sql_path);
  const bool changed =
      plan.immutable() &&
      (!after.exists || after.st.st_size != st.st_size ||
       after.st.st_mtim.tv_sec != st.st_mtim.tv_sec ||
       after.st.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
       StatFile("wal", file.sql_path + "-wal").exists != plan.wal.exists);
  const bool locked =
      qerr && ((qerr->code & 0xff) == SQLITE_BUSY || (qerr->code & 0xff) == SQLITE_LOCKED);
  Finding& f =
      changed || locked
          ? r.Add("database.quick_check", Severity::kWarning,
                  locked ? fmt::format("PRAGMA quick_check could not finish: {}", qerr->message)
                         : std::string("PRAGMA quick_check found errors, but the database "
                                       "changed while doctor read it"),
                  "run doctor again")
          : r.Add("database.quick_check", Severity::kProblem,
                  qerr ? fmt::format("PRAGMA quick_check failed: {}", qerr->message)
                       : fmt::format("PRAGMA quick_check found errors: {}", FirstError(lines)),
                  "stop the writers and restore the database from a snapshot; `sqlite3 DB "
                  ".recover` may salvage rows; run `PRAGMA integrity_check` for the full "
                  "list");
  f.details = lines;
}

}  // namespace

void CheckDatabase(Report& r, bool skip_quick_check, const DbFiles& files,
                   std::optional<bool>* db_is_wal) {
  r.database = {{"exists", files.db.exists}, {"type", nullptr},        {"size_bytes", nullptr},
                {"format", nullptr},         {"opened", nullptr},      {"journal_mode", nullptr},
                {"page_size", nullptr},      {"page_count", nullptr},  {"freelist_count", nullptr},
                {"wal_bytes", nullptr},      {"quick_check", nullptr}, {"error", nullptr}};
  const std::optional<DatabaseFile> file = CheckDatabaseFile(r, files.db);
  if (!file) return;
  std::optional<std::size_t> format_ok;
  const std::optional<DbHeader> header = CheckFormat(r, file->sql_path, db_is_wal, &format_ok);
  if (!header) return;
  const OpenPlan plan = PlanOpen(r, files, file->sql_path, *header);
  SqliteHandle db = OpenReadOnly(r, file->sql_path, plan);
  if (db == nullptr || !FirstRead(r, db.get(), file->sql_path, plan, format_ok)) return;

  CheckJournalMode(r, db.get(), plan.immutable(), db_is_wal);
  const std::optional<std::int64_t> page_size = CheckPages(r, db.get());
  if (db_is_wal->value_or(false) || plan.wal.exists) CheckWalFile(r, plan.wal, page_size);
  ReadSchemaFacts(db.get(), r);
  if (skip_quick_check) {
    r.Add("database.quick_check", Severity::kOk, "skipped (--no-quick-check)");
    return;
  }
  CheckQuickCheck(r, std::move(db), *file, plan);
}

}  // namespace sqlsteward::cli::doctor
