// The extension's entry point, sqlite3_sqlsteward_init (`.load .../sqlsteward`
// finds it by the file's name), the auto-extension that runs in every
// later sqlite3_open, and the SQL functions.
//
// Loading, once per process (later loads only add the functions to the
// loading connection): checks the SQLite version, registers the VFS as the
// default (ext/vfs.h) and the auto-extension, and answers
// SQLITE_OK_LOAD_PERMANENTLY so that the library stays loaded when the
// connection that loaded it closes.
#define SQLSTEWARD_EXT_DEFINES_API
#include "ext/api.h"
SQLITE_EXTENSION_INIT1

#include <nlohmann/json.hpp>

#include <string>

#include "base/mutex.h"
#include "base/time.h"
#include "ext/shared_database.h"
#include "ext/vfs.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/instances.h"

namespace sqlsteward::ext {
namespace {

// The oldest SQLite the extension loads into. Its VFS methods (version 3
// io methods, SQLITE_FCNTL_BUSYHANDLER) are far older; 3.37.2 is the
// oldest release we accept as supported (Ubuntu 22.04's). Tested with
// 3.40.1 (Debian 12) and 3.53.2 (better-sqlite3 12.11.1).
constexpr int kOldestSqlite = 3'037'002;
constexpr const char* kOldestSqliteText = "3.37.2";

const char* OwnershipText(Ownership o) { return o == Ownership::kExclusive ? "exclusive" : "shared"; }

std::string Version() {
  return std::string("sqlsteward ") + SQLSTEWARD_EXT_VERSION + " (SQLite " +
         sqlite3_libversion() + ")";
}

void VersionFunction(sqlite3_context* ctx, int, sqlite3_value**) {
  const std::string v = Version();
  sqlite3_result_text(ctx, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

nlohmann::json InstanceJson(const InstanceInfo& i) {
  return {{"slot", i.slot},
          {"pid", i.pid},
          {"host", i.host},
          {"ownership", OwnershipText(i.ownership)},
          {"state", i.state == InstanceState::kSteppingDown ? "stepping_down" : "running"},
          {"domain", std::string(InstanceDomainName(i.domain))},
          {"started", IsoUtc(i.started_unix_ms)}};
}

// The journal mode of `schema`, asked of SQLite itself.
std::string JournalMode(sqlite3* db, const std::string& schema) {
  std::string sql = "PRAGMA \"" + schema + "\".journal_mode";
  sqlite3_stmt* stmt = nullptr;
  std::string mode;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    if (const unsigned char* text = sqlite3_column_text(stmt, 0)) {
      mode = reinterpret_cast<const char*>(text);
    }
  }
  sqlite3_finalize(stmt);
  return mode;
}

// What this process's registration of a database knows: ownership, the
// probe's verdict, the write-lock holder, the instances, the counters.
void AddRegistration(SharedDatabase& shared, nlohmann::json& out) {
  out["ownership"] = OwnershipText(shared.config().ownership);
  out["slot"] = shared.slot();
  out["handed_over_to"] = shared.handed_over_to() == 0 ? nlohmann::json(nullptr)
                                                       : nlohmann::json(shared.handed_over_to());
  out["filesystem"] = shared.fs_kind();
  out["wal_allowed"] = shared.allow_wal();
  out["policy"] = shared.policy_reason();
  if (auto lock = internal::ReadWriteLockState(shared.env(), shared.sidecar().fd(),
                                               shared.sidecar().path());
      lock.has_value()) {
    nlohmann::json holder = {{"held", lock->held}};
    if (lock->held) {
      holder["pid"] = lock->pid;
      holder["host"] = lock->host;
      holder["since"] = IsoUtc(lock->since_unix_ms, true);
      holder["purpose"] = lock->purpose;
    }
    out["write_lock"] = holder;
  }
  if (auto registry = ReadRegistry(shared.path()); registry.has_value()) {
    nlohmann::json instances = nlohmann::json::array();
    for (const InstanceInfo& i : registry->instances) instances.push_back(InstanceJson(i));
    out["instances"] = instances;
  }
  const Counters& c = shared.counters();
  out["counters"] = {{"write_locks", c.write_locks.load()},
                     {"write_lock_waits", c.write_lock_waits.load()},
                     {"busy", c.busy.load()},
                     {"wait_us_total", c.wait_us_total.load()},
                     {"wait_us_max", c.wait_us_max.load()},
                     {"checkpoints", c.checkpoints.load()},
                     {"checkpoints_skipped", c.checkpoints_skipped.load()},
                     {"refused_writes", c.refused_writes.load()}};
}

// sqlsteward_status([schema]): what the extension knows of the database
// the connection has open as `schema` ("main" by default), as JSON.
void StatusFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  sqlite3* db = sqlite3_context_db_handle(ctx);
  std::string schema = "main";
  if (argc > 0 && sqlite3_value_type(argv[0]) == SQLITE_TEXT) {
    schema = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  }
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, schema.c_str(), SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK) {
    const std::string err = "sqlsteward_status: no database named " + schema;
    sqlite3_result_error(ctx, err.c_str(), -1);
    return;
  }
  nlohmann::json out;
  out["version"] = Version();
  out["journal_mode"] = JournalMode(db, schema);
  auto view = ViewMainFile(file);
  if (view == nullptr) {
    const char* name = sqlite3_db_filename(db, schema.c_str());
    out["database"] = name != nullptr ? name : "";
    out["protected"] = false;
    out["why_not"] =
        "this database was not opened through the sqlsteward VFS (in memory, temporary, opened "
        "before the extension was loaded, or with another vfs= given)";
  } else {
    out["database"] = view->path;
    out["protected"] = view->database != nullptr;
    out["read_only"] = view->read_only;
  }
  if (view != nullptr && view->database != nullptr) AddRegistration(*view->database, out);
  const std::string text = out.dump();
  sqlite3_result_text(ctx, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

int AddFunctions(sqlite3* db) {
  const int flags = SQLITE_UTF8 | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function_v2(db, "sqlsteward_version", 0, flags | SQLITE_DETERMINISTIC,
                                      nullptr, VersionFunction, nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "sqlsteward_status", 0, flags, nullptr, StatusFunction,
                                    nullptr, nullptr, nullptr);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "sqlsteward_status", 1, flags, nullptr, StatusFunction,
                                    nullptr, nullptr, nullptr);
  }
  return rc;
}

// Runs in every sqlite3_open after the load, once the main database file
// is open: fails the open with the VFS's refusal, word for word.
int OnOpen(sqlite3* db, char** error, const sqlite3_api_routines*) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK) {
    if (auto view = ViewMainFile(file); view != nullptr && !view->refusal.ok()) {
      *error = sqlite3_mprintf("%s", std::string(view->refusal.message()).c_str());
      return SQLITE_CANTOPEN;
    }
  }
  return AddFunctions(db);
}

// The connection that loads us was opened before our VFS existed.
void WarnIfUnprotected(sqlite3* db) {
  const char* name = sqlite3_db_filename(db, "main");
  sqlite3_file* file = nullptr;
  if (name == nullptr || *name == '\0') return;  // :memory: or temporary: the recipe.
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK &&
      ViewMainFile(file) != nullptr) {
    return;
  }
  Warn(std::string("the connection that loaded the extension (") + name +
       ") was opened before it and is not protected; load it through a ':memory:' "
       "connection first, then open the database (docs/extension.md)");
}

Mutex g_load_mu;

}  // namespace
}  // namespace sqlsteward::ext

extern "C" __attribute__((visibility("default"))) int sqlite3_sqlsteward_init(
    sqlite3* db, char** error, const sqlite3_api_routines* api) {
  using namespace sqlsteward::ext;
  SQLITE_EXTENSION_INIT2(api);
  if (sqlite3_libversion_number() < kOldestSqlite) {
    *error = sqlite3_mprintf(
        "sqlsteward needs SQLite %s or newer; this process runs SQLite %s (update the "
        "client's SQLite, or its binding)",
        kOldestSqliteText, sqlite3_libversion());
    return SQLITE_ERROR;
  }
  {
    sqlsteward::MutexLock lock(&g_load_mu);
    int rc = RegisterVfs();
    if (rc == SQLITE_OK) rc = sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(OnOpen));
    if (rc != SQLITE_OK) {
      *error = sqlite3_mprintf("sqlsteward: could not register its VFS (SQLite error %d)", rc);
      return rc;
    }
  }
  WarnIfUnprotected(db);
  const int rc = AddFunctions(db);
  return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}
