// sqlsteward doctor PATH: inspects a database, its files and its filesystem
// without changing any of them, and reports findings with hints.
//
// What "without changing" means, and why each rule exists:
//   - The database is opened through SQLite with SQLITE_OPEN_READONLY and
//     `mode=ro`, so a missing file is never created, and with
//     SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, so closing never checkpoints (a
//     checkpoint would write the database).
//   - A read-only open of a WAL database whose -wal or -shm is missing
//     creates them (measured on 3.40.1). Created by a doctor run as root,
//     they would be root's, and the service could no longer open its own
//     database. In that case doctor opens with `immutable=1` instead: no
//     locks, no WAL, no new files. When both are missing the WAL is empty
//     and nothing is lost; when only -shm is missing the WAL's contents are
//     not examined, and a finding says so.
//   - When both exist, doctor opens with `readonly_shm=1`: SQLite maps -shm
//     read-only and, when it cannot take a read mark, builds a private
//     index from the WAL. A plain read-only reader writes read marks into
//     -shm (measured); this one leaves it byte for byte as it was, whether
//     a writer is live or the files were left by a crash.
//   - The database file itself is read with open()/pread() only before the
//     SQLite handle exists, and the sidecar only through its own
//     descriptor: close() of any descriptor of the database would drop the
//     POSIX locks of a SQLite connection in this process.
//   - The filesystem probe (ProbeDirectoryCached) creates and removes one
//     small file in the database's directory; nothing else is written.
//
// Every finding has a stable id ("files.permissions"); docs/cli.md lists
// them with the JSON schema. The exit code is the worst severity: 0 all ok,
// 1 warnings only, 2 any problem (or doctor could not finish).
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/instance_output.h"
#include "common/wal_reset_bug.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/probe.h"

namespace sqlsteward::cli {
namespace {

using nlohmann::json;

constexpr const char* kAbout =
    "Inspect a database, its -wal/-shm/-journal/-steward files and its\n"
    "filesystem without changing them, and say what is wrong and how to fix\n"
    "it. The database is opened read-only and never checkpointed; a missing\n"
    "database is reported, never created.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward doctor /var/lib/app/app.db
  sqlsteward doctor app.db --json | jq '.findings[] | select(.severity != "ok")'
  sqlsteward doctor big.db --no-quick-check

Exit status: 0 every finding is ok, 1 warnings only, 2 at least one
problem (or doctor could not finish). docs/cli.md lists every finding id and
the JSON schema.)";

// A WAL 16 times sqlsteward's default checkpoint threshold (4 MiB) means
// checkpoints are not keeping up: usually a long-lived read transaction.
constexpr std::int64_t kLargeWalBytes = std::int64_t{64} << 20;
// The write lock is held for one group commit (milliseconds); this long
// means a stuck writer.
constexpr std::int64_t kStuckWriteLockMs = 60'000;
constexpr int kQuickCheckMaxErrors = 20;
constexpr int kBusyTimeoutMs = 2'000;

// docs/formats.md, sidecar format version 1.
constexpr char kSidecarMagic[8] = {'S', 'Q', 'L', 'S', 'T', 'W', 'D', '1'};
constexpr std::uint32_t kSidecarVersion = 1;
constexpr off_t kSidecarWriteLockByte = 4000;
constexpr off_t kSidecarHolderOffset = 64;
constexpr std::size_t kSidecarHolderBytes = 80;  // i32 pid, i32, i64 since, char host[64]

struct DoctorOptions {
  std::string path;
  bool json = false;
  bool skip_quick_check = false;
};

enum class Severity { kOk = 0, kWarning = 1, kProblem = 2 };

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarning:
      return "warning";
    case Severity::kProblem:
      return "problem";
  }
  return "problem";
}

struct Finding {
  std::string id;  // "<section>.<check>", stable
  Severity severity = Severity::kOk;
  std::string message;
  std::string hint;
  // Extra lines for the human report only (the probe's reasons, quick_check
  // output); the JSON carries them in the section objects.
  std::vector<std::string> details;

  std::string_view section() const { return std::string_view(id).substr(0, id.find('.')); }
};

struct Section {
  std::string_view key;
  std::string_view title;
};
constexpr std::array<Section, 7> kSections = {{
    {"filesystem", "Filesystem and mount"},
    {"sqlite", "SQLite library"},
    {"database", "Database"},
    {"files", "Files, permissions and ownership"},
    {"sidecar", "Sidecar (<db>-steward)"},
    {"instances", "Registered instances"},
    {"schema", "Schema"},
}};

std::size_t SectionIndex(std::string_view key) {
  for (std::size_t i = 0; i < kSections.size(); ++i) {
    if (kSections[i].key == key) return i;
  }
  return kSections.size();
}

struct Report {
  std::string path;  // absolute
  std::string dir;
  std::vector<Finding> findings;
  json filesystem;
  json database;
  json files = json::array();
  json sidecar;
  json instances;
  json schema;

  Finding& Add(std::string id, Severity severity, std::string message, std::string hint = {}) {
    findings.push_back(Finding{std::move(id), severity, std::move(message), std::move(hint), {}});
    return findings.back();
  }
  int ExitCode() const {
    int worst = 0;
    for (const Finding& f : findings) worst = std::max(worst, static_cast<int>(f.severity));
    return worst;
  }
};

// ---------------------------------------------------------------- helpers

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ModeString(mode_t mode) { return fmt::format("{:04o}", mode & 07777U); }

std::string FileTypeName(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return "file";
  if (S_ISDIR(st.st_mode)) return "directory";
  if (S_ISLNK(st.st_mode)) return "symlink";
  return "other";
}

std::string FormatBytes(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  if (bytes < (std::int64_t{1} << 20))
    return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
  if (bytes < (std::int64_t{1} << 30)) {
    return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0);
  }
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / 1073741824.0);
}

std::string FormatUnixMs(std::int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  if (gmtime_r(&secs, &tm) == nullptr) return fmt::format("{} ms", ms);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t NowUnixMs() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

std::optional<std::string> UserName(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return std::string(found->pw_name);
}

std::optional<std::string> GroupName(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return std::string(found->gr_name);
}

std::string OwnerString(const struct stat& st) {
  return fmt::format("{}:{} (uid {}, gid {})", UserName(st.st_uid).value_or("?"),
                     GroupName(st.st_gid).value_or("?"), st.st_uid, st.st_gid);
}

json Nullable(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

std::string_view Basename(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// `file:` URI for sqlite3_open_v2: everything but unreserved characters and
// '/' percent-encoded, so '?', '#' and '%' in a path stay part of it.
std::string FileUri(std::string_view path, std::string_view query) {
  std::string out = "file:";
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    bool keep = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                c == '/' || c == '-' || c == '_' || c == '.' || c == '~';
    out += keep ? std::string(1, c) : fmt::format("%{:02X}", u);
  }
  out += '?';
  out += query;
  return out;
}

// One of the database's files as lstat(2) sees it.
struct FileState {
  std::string role;  // "database", "wal", "shm", "journal", "sidecar", "directory"
  std::string path;
  bool exists = false;
  int error = 0;  // lstat's errno other than ENOENT
  struct stat st {};

  bool is_link() const { return exists && S_ISLNK(st.st_mode); }
  bool is_regular() const { return exists && S_ISREG(st.st_mode); }
};

FileState StatFile(std::string role, std::string path) {
  FileState f;
  f.role = std::move(role);
  f.path = std::move(path);
  if (::lstat(f.path.c_str(), &f.st) == 0) {
    f.exists = true;
  } else if (errno != ENOENT && errno != ENOTDIR) {
    f.error = errno;
  }
  return f;
}

json FileJson(const FileState& f) {
  json j = {{"role", f.role},   {"path", f.path},        {"exists", f.exists}, {"type", nullptr},
            {"mode", nullptr},  {"uid", nullptr},        {"gid", nullptr},     {"owner", nullptr},
            {"group", nullptr}, {"size_bytes", nullptr}, {"links", nullptr}};
  if (!f.exists) return j;
  j["type"] = FileTypeName(f.st);
  j["mode"] = ModeString(f.st.st_mode);
  j["uid"] = f.st.st_uid;
  j["gid"] = f.st.st_gid;
  j["owner"] = Nullable(UserName(f.st.st_uid));
  j["group"] = Nullable(GroupName(f.st.st_gid));
  j["size_bytes"] = static_cast<std::int64_t>(f.st.st_size);
  j["links"] = static_cast<std::uint64_t>(f.st.st_nlink);
  return j;
}

// The database's files by name; the directory is stat'ed through links (a
// link to a directory is a normal deployment choice).
struct DbFiles {
  FileState db, wal, shm, journal, sidecar, dir;

  static DbFiles Stat(const std::string& path, const std::string& dir) {
    DbFiles f{StatFile("database", path),
              StatFile("wal", path + "-wal"),
              StatFile("shm", path + "-shm"),
              StatFile("journal", path + "-journal"),
              StatFile("sidecar", path + "-steward"),
              FileState{}};
    f.dir.role = "directory";
    f.dir.path = dir;
    if (::stat(dir.c_str(), &f.dir.st) == 0) {
      f.dir.exists = true;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      f.dir.error = errno;
    }
    return f;
  }
  std::vector<const FileState*> Owned() const { return {&db, &wal, &shm, &journal, &sidecar}; }
};

// ------------------------------------------------------------- filesystem

struct FsFacts {
  std::optional<ProbeReport> probe;
  std::optional<JournalPolicy> policy;
  std::string mount_point = "/";
};

std::string FullFsType(const MountInfo& m) {
  return m.fs_subtype.empty() ? m.fs_type : m.fs_type + "." + m.fs_subtype;
}

FsFacts ProbeFilesystem(Report& r) {
  FsFacts facts;
  r.filesystem = {{"directory", r.dir},
                  {"probed", false},
                  {"error", nullptr},
                  {"mount_point", nullptr},
                  {"fs_type", nullptr},
                  {"source", nullptr},
                  {"mount_options", nullptr},
                  {"super_options", nullptr},
                  {"kind", nullptr},
                  {"nfs_local_lock", nullptr},
                  {"posix_locks_visible", nullptr},
                  {"ofd_locks_visible", nullptr},
                  {"shared_memory_coherent", nullptr},
                  {"reasons", json::array()},
                  {"policy", nullptr}};
  Result<ProbeReport> probed = ProbeDirectoryCached(r.dir);
  if (!probed.has_value()) {
    const Status& st = probed.error();
    r.filesystem["error"] = StatusToJson(st);
    std::string hint = st.code() == StatusCode::kPermissionDenied
                           ? "run doctor as the user that owns the database: the probe creates and "
                             "removes a small file in its directory"
                           : std::string(st.hint());
    r.Add("filesystem.probe", Severity::kWarning,
          fmt::format("could not probe {}: {}", r.dir, st.message()), std::move(hint));
    return facts;
  }
  const ProbeReport& p = *probed;
  JournalPolicy policy = ChoosePolicy(p);
  facts.probe = p;
  facts.policy = policy;
  if (!p.mount.mount_point.empty()) facts.mount_point = p.mount.mount_point;

  std::string fs_type = FullFsType(p.mount);
  std::string_view kind = FsKindName(p.kind);
  r.filesystem["directory"] = p.directory;
  r.filesystem["probed"] = true;
  r.filesystem["mount_point"] = p.mount.mount_point;
  r.filesystem["fs_type"] = fs_type;
  r.filesystem["source"] = p.mount.source;
  r.filesystem["mount_options"] = p.mount.mount_options;
  r.filesystem["super_options"] = p.mount.super_options;
  r.filesystem["kind"] = kind;
  r.filesystem["nfs_local_lock"] =
      p.nfs_local_lock.empty() ? json(nullptr) : json(p.nfs_local_lock);
  r.filesystem["posix_locks_visible"] = p.posix_locks_visible;
  r.filesystem["ofd_locks_visible"] = p.ofd_locks_visible;
  r.filesystem["shared_memory_coherent"] = p.shared_memory_coherent;
  r.filesystem["reasons"] = p.reasons;
  r.filesystem["policy"] = {{"allow_wal", policy.allow_wal},
                            {"allow_rollback", policy.allow_rollback},
                            {"allow_multi_process", policy.allow_multi_process},
                            {"recommended_journal_mode", policy.allow_wal ? "wal" : "delete"},
                            {"reason", policy.reason}};

  std::string where = p.mount.mount_point.empty()
                          ? std::string("(mount point unknown; from statfs)")
                          : fmt::format("mounted at {}", p.mount.mount_point);
  Finding& f = r.Add("filesystem.probe", Severity::kOk,
                     fmt::format("{}: {} ({}), {}, source {}, options {}", p.directory,
                                 fs_type.empty() ? std::string(kind) : fs_type, kind, where,
                                 p.mount.source.empty() ? "?" : p.mount.source,
                                 p.mount.mount_options.empty() ? "?" : p.mount.mount_options));
  f.details = p.reasons;
  return facts;
}

void CheckFilesystem(Report& r, const FsFacts& fs, std::optional<bool> db_is_wal) {
  if (!fs.probe) return;
  const ProbeReport& p = *fs.probe;
  const JournalPolicy& policy = *fs.policy;

  if (p.posix_locks_visible && p.ofd_locks_visible) {
    r.Add("filesystem.locks", Severity::kOk,
          "POSIX and OFD locks taken by one process are visible to another (the probe sees "
          "this host only)");
  } else {
    std::string which = !p.posix_locks_visible && !p.ofd_locks_visible ? "POSIX and OFD locks"
                        : !p.posix_locks_visible                       ? "POSIX locks"
                                                                       : "OFD locks";
    r.Add("filesystem.locks", Severity::kProblem,
          which +
              " taken by one process are not visible to another here: nothing stops two "
              "processes from writing at once, which corrupts the database or loses commits",
          "move the database to a local filesystem (for a container: a named volume, not a bind "
          "mount); until then let only one process open it");
  }

  r.Add("filesystem.shared_memory", Severity::kOk,
        p.shared_memory_coherent
            ? "two processes mapping one file MAP_SHARED see each other's writes: WAL's "
              "shared-memory index works here"
            : "two processes mapping one file MAP_SHARED did not see each other's writes: WAL's "
              "shared-memory index would diverge here (a rollback journal is required)");

  std::string recommendation = fmt::format(
      "recommended journal mode: {}; {}", policy.allow_wal ? "WAL" : "rollback journal (DELETE)",
      policy.allow_multi_process ? "several processes may share the database"
                                 : "only one process may use the database");
  Severity severity = Severity::kOk;
  std::string message = recommendation;
  std::string hint;
  if (db_is_wal.value_or(false) && !policy.allow_wal) {
    severity = Severity::kProblem;
    message =
        "the database is in WAL mode, but WAL is unsafe on this filesystem; " + recommendation;
    hint = fmt::format(
        "stop every process that uses it, then switch it to a rollback journal: open it with "
        "sqlsteward (JournalMode::kAuto does it) or run sqlite3 {} 'PRAGMA journal_mode=DELETE'; "
        "or move it to a local filesystem",
        ShellQuote(r.path));
  } else if (!policy.allow_multi_process) {
    severity = Severity::kWarning;
    hint =
        "only an exclusive instance may open it here; to share it, move it to a local "
        "filesystem";
  }
  Finding& f = r.Add("filesystem.policy", severity, std::move(message), std::move(hint));
  f.details.push_back(policy.reason);
}

// ---------------------------------------------------------------- sqlite

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

// --------------------------------------------------------------- database

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

struct SqlError {
  int code = 0;  // extended result code
  int sys_errno = 0;
  std::string message;
};

// The rows of a one-column query as text (a NULL is ""), at most max_rows.
std::optional<SqlError> Query(sqlite3* db, const char* sql, std::vector<std::string>* rows,
                              std::size_t max_rows = 1000) {
  auto error = [db] {
    return SqlError{sqlite3_extended_errcode(db), sqlite3_system_errno(db), sqlite3_errmsg(db)};
  };
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) return error();
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, &sqlite3_finalize);
  rows->clear();
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    if (rows->size() >= max_rows) continue;
    const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
    rows->emplace_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
  }
  if (rc != SQLITE_DONE) return error();
  return std::nullopt;
}

std::optional<std::int64_t> QueryInt(sqlite3* db, const char* sql, std::optional<SqlError>* err) {
  std::vector<std::string> rows;
  *err = Query(db, sql, &rows, 1);
  if (*err || rows.empty()) return std::nullopt;
  try {
    return std::stoll(rows[0]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The first 100 bytes of the database file (sqlite.org/fileformat.html).
struct DbHeader {
  int error = 0;
  std::int64_t size = 0;
  bool magic_ok = false;
  int read_version = 0;  // byte 19: 1 rollback journal, 2 WAL
};

// Must run while this process has no SQLite handle on the file: the close()
// below would drop that handle's POSIX locks.
DbHeader ReadDbHeader(const std::string& path) {
  DbHeader h;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    h.error = errno;
    return h;
  }
  struct stat st {};
  std::array<unsigned char, 100> buf{};
  ssize_t n = 0;
  if (::fstat(fd, &st) != 0) {
    h.error = errno;
  } else {
    h.size = st.st_size;
    n = ::pread(fd, buf.data(), buf.size(), 0);
    if (n < 0) h.error = errno;
  }
  ::close(fd);
  if (n >= 20) {
    h.magic_ok = std::memcmp(buf.data(), "SQLite format 3\0", 16) == 0;
    h.read_version = buf[19];
  }
  return h;
}

// The first line of quick_check's output that names an error, not the
// "*** in database main ***" banner.
std::string FirstError(const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    if (line.rfind("***", 0) != 0) return line;
  }
  return lines.empty() ? std::string("(no output)") : lines.front();
}

// The migrations ledger (schema_migrations, as `sqlsteward migrate` keeps
// it) and PRAGMA user_version, into r.schema; CheckSchema judges them.
void ReadSchemaFacts(sqlite3* db, Report& r) {
  std::optional<SqlError> err;
  json& s = r.schema;
  s = {{"available", false}, {"version", nullptr}};
  const std::optional<std::int64_t> user_version = QueryInt(db, "PRAGMA user_version", &err);
  const std::optional<std::int64_t> ledgers = QueryInt(
      db,
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
      &err);
  if (!user_version || !ledgers) {
    s["error"] = err ? err->message : std::string("no result");
    return;
  }
  s["available"] = true;
  s["user_version"] = *user_version;
  s["ledger"] = *ledgers > 0;
  if (*ledgers == 0) {
    s["version"] = 0;
    return;
  }
  const std::optional<std::int64_t> version =
      QueryInt(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &err);
  const std::optional<std::int64_t> applied =
      QueryInt(db, "SELECT count(*) FROM schema_migrations", &err);
  const std::optional<std::int64_t> checksums = QueryInt(
      db, "SELECT count(*) FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
      &err);
  if (!version || !applied || !checksums) {
    s["available"] = false;
    s["error"] = err ? err->message : std::string("no result");
    return;
  }
  s["version"] = *version;
  s["migrations"] = *applied;
  s["checksums"] = *checksums > 0;
}

void CheckDatabase(Report& r, const DoctorOptions& opt, const DbFiles& files,
                   std::optional<bool>* db_is_wal) {
  json& d = r.database;
  d = {{"exists", files.db.exists}, {"type", nullptr},        {"size_bytes", nullptr},
       {"format", nullptr},         {"opened", nullptr},      {"journal_mode", nullptr},
       {"page_size", nullptr},      {"page_count", nullptr},  {"freelist_count", nullptr},
       {"wal_bytes", nullptr},      {"quick_check", nullptr}, {"error", nullptr}};
  if (files.db.error != 0) {
    d["error"] = StatusToJson(ErrnoStatus(files.db.error, "stat " + r.path));
    r.Add("database.file", Severity::kProblem,
          fmt::format("cannot stat {}: {}", r.path, std::strerror(files.db.error)),
          "run doctor as the user that owns the database");
    return;
  }
  if (!files.db.exists) {
    r.Add("database.file", Severity::kProblem, fmt::format("{} does not exist", r.path),
          "check the path (doctor never creates a database; sqlsteward creates it on first "
          "open)");
    return;
  }

  // SQLite follows a link to the database and names -wal/-shm/-journal after
  // the target; files.symlinks reports the link itself.
  std::string sql_path = r.path;
  struct stat st = files.db.st;
  d["type"] = FileTypeName(st);
  if (files.db.is_link()) {
    std::unique_ptr<char, void (*)(void*)> target(::realpath(r.path.c_str(), nullptr), &std::free);
    if (target == nullptr || ::stat(target.get(), &st) != 0) {
      r.Add("database.file", Severity::kProblem,
            fmt::format("{} is a symbolic link whose target cannot be read: {}", r.path,
                        std::strerror(errno)),
            "point the path at the database file itself");
      return;
    }
    sql_path = target.get();
  }
  if (S_ISDIR(st.st_mode)) {
    r.Add("database.file", Severity::kProblem, fmt::format("{} is a directory", r.path),
          fmt::format("give the path of a database file, e.g. {}/app.db", r.path));
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    r.Add("database.file", Severity::kProblem, fmt::format("{} is not a regular file", r.path),
          "give the path of a database file");
    return;
  }
  d["size_bytes"] = static_cast<std::int64_t>(st.st_size);
  r.Add("database.file", Severity::kOk,
        fmt::format("{}: regular file, {}", r.path, FormatBytes(st.st_size)));

  const DbHeader header = ReadDbHeader(sql_path);
  if (header.error != 0) {
    d["error"] = StatusToJson(ErrnoStatus(header.error, "read " + sql_path));
    r.Add("database.open", Severity::kProblem,
          fmt::format("cannot read {}: {}", sql_path, std::strerror(header.error)),
          header.error == EACCES ? "run doctor as the user that owns the database"
                                 : "check the disk and the kernel log (dmesg)");
    return;
  }
  if (header.size == 0) {
    d["format"] = "empty";
    r.Add("database.format", Severity::kOk,
          "empty file (0 bytes): an empty database, SQLite writes the header on the first write");
  } else if (!header.magic_ok) {
    d["format"] = "not a database";
    r.Add("database.format", Severity::kProblem,
          fmt::format("{} is not an SQLite database (file is not a database): it does not start "
                      "with the SQLite header",
                      r.path),
          "check the path; if this file was the database, it has been overwritten: restore it "
          "from a snapshot");
    return;
  } else {
    d["format"] = "sqlite3";
  }
  if (header.read_version == 2) *db_is_wal = true;
  if (header.magic_ok && header.read_version == 1) *db_is_wal = false;
  // An index, not a pointer: findings is a vector that grows.
  std::optional<std::size_t> format_ok;
  if (header.magic_ok) {
    format_ok = r.findings.size();
    r.Add(
        "database.format", Severity::kOk,
        fmt::format("SQLite format 3, {} header", header.read_version == 2   ? "WAL"
                                                  : header.read_version == 1 ? "rollback-journal"
                                                                             : "unknown journal"));
  }

  // See the top of this file: a read-only open must not create -wal or -shm,
  // and SQLite deletes a -wal beside an empty database file.
  const FileState wal = sql_path == r.path ? files.wal : StatFile("wal", sql_path + "-wal");
  const FileState shm = sql_path == r.path ? files.shm : StatFile("shm", sql_path + "-shm");
  std::string immutable_reason;
  std::string open_hint;
  Severity open_severity = Severity::kOk;
  if (wal.exists && !shm.exists) {
    immutable_reason =
        "the -wal file exists without its -shm; a normal read-only open would "
        "create -shm, so the WAL's contents were not examined";
    open_hint =
        "if no process has the database open, any read-write open (sqlsteward, sqlite3) "
        "rebuilds -shm from the WAL; if one does, something deleted its -shm: stop every "
        "process that uses the database, then open it once";
    open_severity = Severity::kWarning;
  } else if (header.read_version == 2 && !wal.exists) {
    immutable_reason =
        "the database is in WAL mode and closed (no -wal file), so there is no "
        "WAL to read; a normal read-only open would create -wal and -shm";
  } else if (header.size == 0 && wal.exists) {
    immutable_reason =
        "the database file is empty but a -wal exists, which a normal open would "
        "delete; the WAL's contents were not examined";
    open_hint =
        "the database file was probably truncated or replaced: copy the database and its -wal "
        "aside before anything opens it read-write (that deletes the -wal)";
    open_severity = Severity::kWarning;
  }
  const bool immutable = !immutable_reason.empty();

  sqlite3* raw = nullptr;
  const std::string uri =
      FileUri(sql_path, immutable ? "mode=ro&immutable=1" : "mode=ro&readonly_shm=1");
  int rc = sqlite3_open_v2(uri.c_str(), &raw,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) {
    SqlError e{rc, raw != nullptr ? sqlite3_system_errno(raw) : 0,
               raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)};
    d["error"] = StatusToJson(Status(StatusCode::kIOError, e.message, {}, e.code, e.sys_errno));
    r.Add("database.open", Severity::kProblem,
          fmt::format("SQLite cannot open {} read-only: {}{}", sql_path, e.message,
                      e.sys_errno != 0 ? fmt::format(" ({})", std::strerror(e.sys_errno)) : ""),
          e.sys_errno == EACCES ? "run doctor as the user that owns the database"
                                : "check the file's permissions and the disk");
    return;
  }
  sqlite3_extended_result_codes(db.get(), 1);
  int no_ckpt = 0;
  if (sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &no_ckpt) != SQLITE_OK ||
      no_ckpt != 1) {
    r.Add("database.open", Severity::kProblem,
          "this SQLite refused SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE; doctor does not read a database "
          "it might checkpoint on close",
          "use an SQLite of 3.16 or later");
    return;
  }
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
  // The file may be hostile; nothing doctor runs needs schema functions.
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
#endif
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  d["opened"] = immutable ? "immutable" : "read-only";

  // The first read: header, schema, hot journal, WAL recovery.
  std::vector<std::string> rows;
  if (std::optional<SqlError> e = Query(db.get(), "SELECT count(*) FROM sqlite_master", &rows)) {
    d["error"] = StatusToJson(Status(StatusCode::kIOError, e->message, {}, e->code, e->sys_errno));
    const int primary = e->code & 0xff;
    if (primary == SQLITE_NOTADB && format_ok.has_value()) {
      // The magic was right but SQLite rejects the rest of the header.
      d["format"] = "not a database";
      Finding& f = r.findings[*format_ok];
      f.severity = Severity::kProblem;
      f.message = fmt::format(
          "{} is not an SQLite database (file is not a database): it starts with the SQLite "
          "header, but SQLite rejected the rest of it",
          r.path);
      f.hint = "restore the database from a snapshot; `sqlite3 DB .recover` may salvage rows";
    } else if (primary == SQLITE_CORRUPT) {
      r.Add("database.quick_check", Severity::kProblem,
            fmt::format("the schema cannot be read: {}", e->message),
            "restore the database from a snapshot; `sqlite3 DB .recover` may salvage rows");
    } else if (e->code == SQLITE_READONLY_ROLLBACK) {
      r.Add("database.open", Severity::kWarning,
            "a hot journal (-journal) from an interrupted write is waiting to be rolled back; "
            "a read-only reader cannot read the database until then",
            "open the database once with a read-write connection (any sqlsteward open) to roll "
            "it back; never delete the -journal file: that corrupts the database");
    } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      r.Add("database.open", Severity::kWarning,
            fmt::format("the database stayed locked for {} ms: {}", kBusyTimeoutMs, e->message),
            "run doctor again; if it persists, a process holds an exclusive lock (a long write "
            "or a stuck process)");
    } else {
      r.Add("database.open", Severity::kProblem,
            fmt::format("SQLite cannot read {}: {}{}", sql_path, e->message,
                        e->sys_errno != 0 ? fmt::format(" ({})", std::strerror(e->sys_errno)) : ""),
            "check the file's permissions, the disk and the kernel log (dmesg)");
    }
    return;
  }
  r.Add("database.open", open_severity,
        immutable ? "opened immutable (no locks, no WAL): " + immutable_reason
                  : std::string("opened read-only through SQLite; doctor never writes or "
                                "checkpoints"),
        open_hint);

  // journal_mode on an immutable handle says "delete" whatever the header
  // says; the header is the persistent truth.
  std::optional<SqlError> err;
  std::string mode;
  if (immutable) {
    mode = db_is_wal->value_or(false) ? "wal" : "delete";
  } else if (!(err = Query(db.get(), "PRAGMA journal_mode", &rows)) && !rows.empty()) {
    mode = rows[0];
  }
  if (!mode.empty()) {
    *db_is_wal = mode == "wal";
    d["journal_mode"] = mode;
    r.Add("database.journal_mode", Severity::kOk,
          mode == "wal" ? "journal mode: WAL (write-ahead log)"
                        : fmt::format("journal mode: rollback journal ({})", mode));
  }

  std::optional<std::int64_t> page_size = QueryInt(db.get(), "PRAGMA page_size", &err);
  std::optional<std::int64_t> page_count = QueryInt(db.get(), "PRAGMA page_count", &err);
  std::optional<std::int64_t> freelist = QueryInt(db.get(), "PRAGMA freelist_count", &err);
  if (page_size) d["page_size"] = *page_size;
  if (page_count) d["page_count"] = *page_count;
  if (freelist) d["freelist_count"] = *freelist;
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

  if (db_is_wal->value_or(false) || wal.exists) {
    if (!wal.exists) {
      r.Add("database.wal_file", Severity::kOk, "no -wal file: the database was closed cleanly");
    } else {
      const std::int64_t wal_bytes = wal.st.st_size;
      d["wal_bytes"] = wal_bytes;
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
  }

  ReadSchemaFacts(db.get(), r);

  if (opt.skip_quick_check) {
    r.Add("database.quick_check", Severity::kOk, "skipped (--no-quick-check)");
    return;
  }
  const std::string sql = fmt::format("PRAGMA quick_check({})", kQuickCheckMaxErrors);
  std::vector<std::string> lines;
  std::optional<SqlError> qerr = Query(db.get(), sql.c_str(), &rows, kQuickCheckMaxErrors);
  if (qerr) {
    lines.push_back(qerr->message);
  } else {
    for (const std::string& row : rows) {  // one row may carry several lines
      std::size_t start = 0;
      while (start <= row.size()) {
        std::size_t end = row.find('\n', start);
        if (end == std::string::npos) end = row.size();
        if (end > start) lines.push_back(row.substr(start, end - start));
        start = end + 1;
      }
    }
  }
  d["quick_check"] = lines;
  if (!qerr && lines.size() == 1 && lines[0] == "ok") {
    r.Add("database.quick_check", Severity::kOk, "PRAGMA quick_check: ok");
    return;
  }
  db.reset();
  // An immutable handle takes no locks: a process that opened the database
  // meanwhile may have changed it under the check.
  const FileState after = StatFile("database", sql_path);
  const bool changed = immutable && (!after.exists || after.st.st_size != st.st_size ||
                                     after.st.st_mtim.tv_sec != st.st_mtim.tv_sec ||
                                     after.st.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
                                     StatFile("wal", sql_path + "-wal").exists != wal.exists);
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

// ------------------------------------------------------------------ files

void CheckFiles(Report& r, const DbFiles& files, const FsFacts& fs) {
  for (const FileState* f : files.Owned()) r.files.push_back(FileJson(*f));
  r.files.push_back(FileJson(files.dir));

  std::vector<std::string> links;
  std::vector<std::string> multi_linked;
  std::vector<std::string> loose;
  std::vector<std::string> loose_paths;
  std::vector<std::string> unreadable;
  for (const FileState* f : files.Owned()) {
    if (f->error != 0) {
      unreadable.push_back(fmt::format("{}: {}", f->path, std::strerror(f->error)));
      continue;
    }
    if (!f->exists) continue;
    if (f->is_link()) {
      char target[4096];
      ssize_t n = ::readlink(f->path.c_str(), target, sizeof target - 1);
      links.push_back(fmt::format(
          "{} -> {}", f->path,
          n >= 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string("?")));
      continue;
    }
    if (f->is_regular() && f->st.st_nlink > 1) {
      multi_linked.push_back(fmt::format("{} has {} hard links", f->path, f->st.st_nlink));
    }
    if (f->is_regular() && (f->st.st_mode & 0077) != 0) {
      loose.push_back(fmt::format("{} is {}", Basename(f->path), ModeString(f->st.st_mode)));
      loose_paths.push_back(ShellQuote(f->path));
    }
  }
  auto join = [](const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (const std::string& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
    return out;
  };

  // Claims about "every file" hold only for the files doctor could see.
  std::string partial;
  if (!unreadable.empty()) {
    r.Add("files.access", Severity::kWarning, "cannot stat " + join(unreadable, "; "),
          "run doctor as the user that owns the database");
    partial = " (of the files doctor could stat)";
  }

  if (links.empty()) {
    r.Add("files.symlinks", Severity::kOk,
          "none of the database's files is a symbolic link" + partial);
  } else {
    r.Add("files.symlinks", Severity::kProblem, "symbolic link: " + join(links, "; "),
          "replace each link with the file itself: SQLite names -wal and -journal after the "
          "path, so two names for one database break locking, and sqlsteward refuses links");
  }

  if (multi_linked.empty()) {
    r.Add("files.hard_links", Severity::kOk, "every file has one name (one hard link)" + partial);
  } else {
    r.Add("files.hard_links", Severity::kProblem,
          join(multi_linked, "; ") +
              ": a second name has its own -wal and -journal, so a crash or a writer through it "
              "can corrupt the database (sqlite.org/howtocorrupt.html)",
          fmt::format("find the other names with: find {} -xdev -samefile {}; then remove them "
                      "(keep the one the service uses)",
                      ShellQuote(fs.mount_point), ShellQuote(r.path)));
  }

  if (loose.empty()) {
    r.Add("files.permissions", Severity::kOk,
          "no group or other permissions on the database's files (0600 or tighter)" + partial);
  } else {
    r.Add("files.permissions", Severity::kWarning,
          join(loose, ", ") + ": group or others can read or write the database's data",
          "chmod 600 " + join(loose_paths, " "));
  }

  if (!files.dir.exists) {
    r.Add("files.directory", Severity::kProblem, fmt::format("directory {} does not exist", r.dir),
          "check the path");
  } else if (!S_ISDIR(files.dir.st.st_mode)) {
    r.Add("files.directory", Severity::kProblem, fmt::format("{} is not a directory", r.dir),
          "check the path");
  } else if ((files.dir.st.st_mode & 0077) != 0) {
    const mode_t mode = files.dir.st.st_mode;
    const bool shared = (mode & 0002) != 0 || (mode & S_ISVTX) != 0;
    std::string_view why =
        "others can list it and see the database's -wal/-journal files come and go";
    if ((mode & 0002) != 0) {
      why = (mode & S_ISVTX) != 0 ? "anyone can create files in it, such as a -journal or -wal "
                                    "before the database's processes do"
                                  : "anyone can create, rename or delete files in it, including "
                                    "the database's -wal and -journal";
    }
    r.Add("files.directory", Severity::kWarning,
          fmt::format("directory {} is {}: {}", r.dir, ModeString(mode), why),
          shared ? fmt::format("keep the database in a directory of its own: with every process "
                               "stopped, mkdir -m 700 {} and move the database and its -wal, "
                               "-shm and -steward files there",
                               ShellQuote(r.dir + "/" + std::string(Basename(r.path)) + ".d"))
                 : "chmod 700 " + ShellQuote(r.dir) +
                       " (if other users need to pass through it, give the database a directory "
                       "of its own)");
  } else {
    r.Add("files.directory", Severity::kOk,
          fmt::format("directory {} is {}, owner {}", r.dir, ModeString(files.dir.st.st_mode),
                      OwnerString(files.dir.st)));
  }

  // A -shm or -journal created by another user (a sqlite3 shell run as root)
  // locks the service out of its own database.
  const FileState* reference = files.db.exists && !files.db.is_link() ? &files.db : nullptr;
  std::vector<std::string> owners;
  std::vector<std::string> foreign;
  for (const FileState* f : files.Owned()) {
    if (!f->exists || f->is_link()) continue;
    owners.push_back(fmt::format("{} {}", Basename(f->path), OwnerString(f->st)));
    if (reference != nullptr && f != reference &&
        (f->st.st_uid != reference->st.st_uid || f->st.st_gid != reference->st.st_gid)) {
      foreign.push_back(f->path);
    }
  }
  if (owners.empty()) {
    r.Add("files.ownership", Severity::kOk, "no files to check");
  } else if (foreign.empty() && reference != nullptr) {
    r.Add("files.ownership", Severity::kOk, "every file is owned by " + OwnerString(reference->st));
  } else if (foreign.empty()) {
    r.Add("files.ownership", Severity::kOk, "owner: " + join(owners, "; "));
  } else {
    std::vector<std::string> quoted;
    for (const std::string& p : foreign) quoted.push_back(ShellQuote(p));
    r.Add("files.ownership", Severity::kWarning,
          "not all files have the database's owner: " + join(owners, "; "),
          fmt::format("chown {}:{} {} (a file created by another user, e.g. a sqlite3 shell run "
                      "as root, can lock the service out)",
                      reference->st.st_uid, reference->st.st_gid, join(quoted, " ")));
  }
}

// ---------------------------------------------------------------- sidecar

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::int32_t LoadI32(const unsigned char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return static_cast<std::int32_t>(v);
}
std::int64_t LoadI64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return static_cast<std::int64_t>(v);
}

// Returns true when the database is managed by sqlsteward: a sidecar is
// present and not invalid.
bool CheckSidecar(Report& r, const FileState& f) {
  json& s = r.sidecar;
  s = {{"path", f.path},        {"present", f.exists}, {"valid", nullptr}, {"version", nullptr},
       {"write_lock", nullptr}, {"holder", nullptr},   {"error", nullptr}};
  if (f.error != 0) {
    s["present"] = nullptr;
    s["error"] = StatusToJson(ErrnoStatus(f.error, "stat " + f.path));
    r.Add("sidecar.header", Severity::kWarning,
          fmt::format("cannot stat {}: {}", f.path, std::strerror(f.error)),
          "run doctor as the user that owns the database");
    return false;
  }
  if (!f.exists) {
    r.Add("sidecar.header", Severity::kOk,
          fmt::format("no sidecar ({}): sqlsteward has not opened this database", f.path));
    return false;
  }
  if (f.is_link() || !f.is_regular()) {
    s["valid"] = false;
    r.Add("sidecar.header", Severity::kProblem,
          fmt::format("{} is {}; sqlsteward refuses it", f.path,
                      f.is_link() ? "a symbolic link" : "not a regular file"),
          "if no sqlsteward process uses the database, remove it; it is recreated on the next "
          "open");
    return false;
  }
  ScopedFd fd(::open(f.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    s["error"] = StatusToJson(ErrnoStatus(errno, "open " + f.path));
    r.Add("sidecar.header", Severity::kWarning,
          fmt::format("cannot read {}: {}", f.path, std::strerror(errno)),
          "run doctor as the user that owns the database");
    return true;
  }

  bool valid = true;
  std::array<unsigned char, 16> head{};
  ssize_t n = ::pread(fd.get(), head.data(), head.size(), 0);
  if (n == 0) {
    r.Add("sidecar.header", Severity::kOk,
          "the sidecar is empty: the next sqlsteward open writes its header");
  } else if (n < static_cast<ssize_t>(head.size()) ||
             std::memcmp(head.data(), kSidecarMagic, sizeof kSidecarMagic) != 0) {
    valid = false;
    r.Add("sidecar.header", Severity::kProblem,
          fmt::format("{} is not a sqlsteward sidecar (no SQLSTWD1 header); sqlsteward refuses "
                      "to open the database",
                      f.path),
          "if no sqlsteward process uses the database, move the file aside; it is recreated on "
          "the next open");
  } else {
    const auto version = static_cast<std::uint32_t>(LoadI32(head.data() + 8));
    s["version"] = version;
    if (version != kSidecarVersion) {
      valid = false;
      r.Add("sidecar.header", Severity::kProblem,
            fmt::format("{} has sidecar format version {}; this sqlsteward understands {}", f.path,
                        version, kSidecarVersion),
            "use the sqlsteward version that created it, or stop every instance and remove the "
            "sidecar");
    } else {
      r.Add("sidecar.header", Severity::kOk,
            fmt::format("sidecar format version {} (SQLSTWD1)", version));
    }
  }
  s["valid"] = valid;

  // F_OFD_GETLK needs no write access and takes nothing; this descriptor
  // holds no lock, so any lock it reports belongs to someone else. l_pid is
  // -1 for OFD locks: the holder's name comes from the holder record.
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kSidecarWriteLockByte;
  fl.l_len = 1;
  if (::fcntl(fd.get(), F_OFD_GETLK, &fl) != 0) {
    r.Add("sidecar.write_lock", Severity::kWarning,
          fmt::format("cannot query the write lock: {}", std::strerror(errno)),
          "the filesystem may not support OFD locks; see filesystem.locks");
    return valid;
  }
  if (fl.l_type == F_UNLCK) {
    s["write_lock"] = "free";
    r.Add("sidecar.write_lock", Severity::kOk, "write lock: free (no write in progress)");
    return valid;
  }
  s["write_lock"] = "held";
  std::array<unsigned char, kSidecarHolderBytes> rec{};
  if (::pread(fd.get(), rec.data(), rec.size(), kSidecarHolderOffset) !=
          static_cast<ssize_t>(rec.size()) ||
      LoadI32(rec.data()) == 0) {
    r.Add("sidecar.write_lock", Severity::kOk, "write lock: held (holder not recorded yet)");
    return valid;
  }
  const std::int32_t pid = LoadI32(rec.data());
  const std::int64_t since = LoadI64(rec.data() + 8);
  const auto* host_begin = reinterpret_cast<const char*>(rec.data() + 16);
  std::string host(host_begin, strnlen(host_begin, 64));
  const std::int64_t held_ms = NowUnixMs() - since;
  s["holder"] = {{"pid", pid},
                 {"host", host},
                 {"since_unix_ms", since},
                 {"since", FormatUnixMs(since)},
                 {"held_ms", held_ms}};
  const std::string who = fmt::format("pid {} on host {} since {} ({} s)", pid, host,
                                      FormatUnixMs(since), held_ms / 1000);
  if (held_ms > kStuckWriteLockMs) {
    r.Add("sidecar.write_lock", Severity::kWarning,
          "write lock: held by " + who + ", far longer than one commit: the writer may be stuck",
          fmt::format("inspect pid {} on {} (a long transaction, a stopped process); the lock is "
                      "released when its process exits",
                      pid, host));
  } else {
    r.Add("sidecar.write_lock", Severity::kOk,
          "write lock: held by " + who + " (a write in progress)");
  }
  return valid;
}

// ------------------------------------------------- instances and schema

// The registry's slots (sidecar offset 4096, docs/formats.md): who has the
// database open, and whether any of them is in another lock domain.
void CheckInstances(Report& r) {
  json entries = json::array();
  auto status = ReadRegistry(r.path);
  if (!status.has_value() && status.error().code() == StatusCode::kNotFound) {
    r.instances = {{"available", true}, {"entries", entries}};
    r.Add("instances.registered", Severity::kOk,
          "no sqlsteward instance has opened this database");
    return;
  }
  if (!status.has_value()) {
    r.instances = {{"available", false}, {"entries", entries}};
    r.Add("instances.registered", Severity::kProblem,
          "cannot read the instance registry: " + std::string(status.error().message()),
          std::string(status.error().hint()));
    return;
  }
  const std::int64_t now = NowUnixMs();
  int live = 0, other = 0, dead = 0;
  std::string others;
  for (const InstanceInfo& info : status->instances) {
    entries.push_back(InstanceToJson(info, now));
    if (info.domain == InstanceDomain::kOtherDomain) {
      ++other;
      others += (others.empty() ? "" : "; ") + DescribeInstance(info);
    } else if (info.domain == InstanceDomain::kDead) {
      ++dead;
    } else {
      ++live;
    }
  }
  r.instances = {{"available", true}, {"entries", entries}};
  if (other > 0) {
    r.Add("instances.registered", Severity::kProblem,
          "in use through another lock domain (its locks are not visible here): " + others,
          "use the database through one mount only; sharing it across lock domains corrupts "
          "it or loses writes");
    return;
  }
  std::string message = std::to_string(live) + " live instance(s)";
  if (status->owner) message += ", owned exclusively by " + DescribeInstance(*status->owner);
  if (dead > 0) message += "; " + std::to_string(dead) + " stale slot(s), reclaimed at next open";
  r.Add("instances.registered", Severity::kOk, message);
}

// The schema version as `sqlsteward migrate` sees it: the ledger's newest
// version, mirrored in PRAGMA user_version.
void CheckSchema(Report& r) {
  const json& s = r.schema;
  if (s.is_null() || !s.value("available", false)) {
    r.Add("schema.version", s.contains("error") ? Severity::kWarning : Severity::kOk,
          s.contains("error")
              ? "cannot read the schema version: " + s["error"].get<std::string>()
              : std::string("schema version: unknown (the database could not be read)"),
          s.contains("error") ? "run doctor again; see the database findings above" : "");
    return;
  }
  const std::int64_t user_version = s["user_version"].get<std::int64_t>();
  if (!s["ledger"].get<bool>()) {
    r.Add("schema.version", Severity::kOk,
          fmt::format("no schema_migrations table: the schema is not managed by `sqlsteward "
                      "migrate` (user_version {})",
                      user_version));
    return;
  }
  const std::int64_t version = s["version"].get<std::int64_t>();
  const std::int64_t applied = s["migrations"].get<std::int64_t>();
  if (!s["checksums"].get<bool>()) {
    r.Add("schema.version", Severity::kOk,
          fmt::format("schema version {} ({} migration(s) in a ledger without checksums; "
                      "`sqlsteward migrate` adopts it at its next run)",
                      version, applied));
    return;
  }
  if (user_version != version) {
    r.Add("schema.version", Severity::kWarning,
          fmt::format("schema version {} ({} migration(s) applied), but PRAGMA user_version "
                      "is {}: something other than `sqlsteward migrate` changed one of them",
                      version, applied, user_version),
          "the ledger (schema_migrations) is what `sqlsteward migrate` trusts; find what set "
          "user_version or edited the ledger, and check `sqlsteward migrate DB --dir DIR "
          "--dry-run`");
    return;
  }
  r.Add("schema.version", Severity::kOk,
        fmt::format("schema version {} ({} migration(s) applied; user_version {})", version,
                    applied, user_version));
}

// ----------------------------------------------------------------- output

json ReportJson(const Report& r, const std::vector<const Finding*>& ordered) {
  const int exit_code = r.ExitCode();
  json findings = json::array();
  json summary = {{"ok", 0}, {"warning", 0}, {"problem", 0}};
  for (const Finding* f : ordered) {
    findings.push_back({{"id", f->id},
                        {"section", f->section()},
                        {"severity", SeverityName(f->severity)},
                        {"message", f->message},
                        {"hint", f->hint}});
    summary[std::string(SeverityName(f->severity))] =
        summary[std::string(SeverityName(f->severity))].get<int>() + 1;
  }
  return {{"path", r.path},
          {"healthy", exit_code == 0},
          {"exit_code", exit_code},
          {"sqlsteward_version", ToolVersion()},
          {"sqlite_version", sqlite3_libversion()},
          {"summary", summary},
          {"findings", findings},
          {"filesystem", r.filesystem},
          {"database", r.database},
          {"files", r.files},
          {"sidecar", r.sidecar},
          {"instances", r.instances},
          {"schema", r.schema}};
}

void PrintHuman(const Report& r, const std::vector<const Finding*>& ordered) {
  const bool color = IsTerminal(stdout) && std::getenv("NO_COLOR") == nullptr;
  auto marker = [color](Severity s) {
    std::string_view text = s == Severity::kOk        ? "[ok]     "
                            : s == Severity::kWarning ? "[warning]"
                                                      : "[problem]";
    if (!color) return std::string(text);
    std::string_view code = s == Severity::kOk ? "32" : s == Severity::kWarning ? "33" : "31;1";
    return fmt::format("\033[{}m{}\033[0m", code, text);
  };
  constexpr std::string_view kIndent = "            ";  // under the message

  fmt::print("sqlsteward doctor {}\n", r.path);
  int counts[3] = {0, 0, 0};
  for (const Section& section : kSections) {
    bool header = false;
    for (const Finding* f : ordered) {
      if (f->section() != section.key) continue;
      if (!header) {
        fmt::print("\n{}\n", section.title);
        header = true;
      }
      ++counts[static_cast<int>(f->severity)];
      fmt::print("  {} {}  ({})\n", marker(f->severity), f->message, f->id);
      for (const std::string& line : f->details) fmt::print("{}- {}\n", kIndent, line);
      if (!f->hint.empty()) fmt::print("{}hint: {}\n", kIndent, f->hint);
    }
  }
  const int exit_code = r.ExitCode();
  fmt::print("\n{}: {} ok, {} warning{}, {} problem{} (exit {})\n",
             exit_code == 0   ? "Healthy"
             : exit_code == 1 ? "Warnings"
                              : "Problems found",
             counts[0], counts[1], counts[1] == 1 ? "" : "s", counts[2], counts[2] == 1 ? "" : "s",
             exit_code);
  std::fflush(stdout);
}

int RunDoctor(const DoctorOptions& opt) {
  Report r;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(opt.path, ec);
  if (ec) abs = opt.path;
  abs = abs.lexically_normal();
  r.path = abs.string();
  r.dir = abs.has_parent_path() ? abs.parent_path().string() : std::string("/");
  if (r.dir.empty()) r.dir = "/";

  // The probe forks: run it before this process has a SQLite handle.
  const FsFacts fs = ProbeFilesystem(r);
  const DbFiles files = DbFiles::Stat(r.path, r.dir);
  CheckFiles(r, files, fs);
  std::optional<bool> db_is_wal;
  CheckDatabase(r, opt, files, &db_is_wal);
  const bool managed = CheckSidecar(r, files.sidecar);
  CheckFilesystem(r, fs, db_is_wal);
  CheckSqlite(r, db_is_wal, managed);
  CheckInstances(r);
  CheckSchema(r);

  // Findings are reported by section, in check order within one.
  std::vector<const Finding*> ordered;
  for (const Finding& f : r.findings) ordered.push_back(&f);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Finding* a, const Finding* b) {
    return SectionIndex(a->section()) < SectionIndex(b->section());
  });

  if (opt.json) {
    PrintJson(ReportJson(r, ordered));
  } else {
    PrintHuman(r, ordered);
  }
  return r.ExitCode();
}

}  // namespace

Command RegisterDoctor(CLI::App& app) {
  auto options = std::make_shared<DoctorOptions>();
  CLI::App* cmd = app.add_subcommand(
      "doctor", "Diagnose a database, its files and its filesystem without changing them.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("PATH", options->path, "The database file")->required();
  cmd->add_flag("--json", options->json, "Print the report as one JSON object");
  cmd->add_flag("--no-quick-check", options->skip_quick_check,
                "Skip PRAGMA quick_check (it reads the whole file; in rollback-journal mode "
                "writers wait for it)");
  return {cmd, [options]() -> Result<int> {
            // Exit 1 means "warnings" here; a doctor that could not finish
            // must not look like one, so failures exit 2 rather than
            // returning a Status (which main() turns into exit 1).
            if (options->path.empty()) {
              PrintError(Status(StatusCode::kInvalidArgument, "empty database path",
                                "give the path of a database file"));
              return 2;
            }
            try {
              return RunDoctor(*options);
            } catch (const std::exception& e) {
              PrintError(Status(StatusCode::kInternal,
                                fmt::format("doctor could not finish: {}", e.what()),
                                "this is a bug in sqlsteward; please report it"));
              return 2;
            }
          }};
}

}  // namespace sqlsteward::cli
