// `sqlsteward doctor` end to end: the built CLI runs as a child process on
// real files; its --json report is parsed and specific finding ids and
// severities are checked (docs/cli.md is the contract), as is the promise
// that doctor creates and changes nothing.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "sqlsteward/sqlsteward.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::nlohmann::json;
using testing::CliResult;
using ::testing::HasSubstr;
using testing::TempDir;

struct DoctorRun {
  int exit_code = -1;
  json doc;
  std::string out;
  std::string err;
};

DoctorRun RunDoctorJson(const std::string& path) {
  CliResult run = testing::RunCli(SQLSTEWARD_CLI, {"doctor", path, "--json"});
  DoctorRun result{run.exit_code, json::parse(run.out, nullptr, /*allow_exceptions=*/false),
                   run.out, run.err};
  EXPECT_FALSE(result.doc.is_discarded()) << "stdout is not JSON:\n" << run.out << run.err;
  return result;
}

CliResult RunDoctorHuman(const std::string& path) {
  return testing::RunCli(SQLSTEWARD_CLI, {"doctor", path});
}

json Finding(const json& doc, const std::string& id) {
  if (!doc.contains("findings")) return json();
  for (const json& f : doc["findings"]) {
    if (f.value("id", "") == id) return f;
  }
  return json();
}

// "ok", "warning", "problem", or "missing".
std::string SeverityOf(const json& doc, const std::string& id) {
  json f = Finding(doc, id);
  return f.is_null() ? "missing" : f.value("severity", "?");
}

// Every finding that is not ok, for failure messages.
std::string NotOk(const json& doc) {
  std::ostringstream out;
  if (!doc.contains("findings")) return "(no findings)";
  for (const json& f : doc["findings"]) {
    if (f.value("severity", "") == "ok") continue;
    out << "\n  " << f.value("severity", "") << " " << f.value("id", "") << ": "
        << f.value("message", "") << " / hint: " << f.value("hint", "");
  }
  return out.str();
}

int CountSeverity(const json& doc, const std::string& severity) {
  int n = 0;
  for (const json& f : doc["findings"]) n += f.value("severity", "") == severity ? 1 : 0;
  return n;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// Name -> mode, size, mtime and content of every file in `dir`: what doctor
// must leave exactly as it found it.
std::map<std::string, std::string> Snapshot(const std::string& dir, const std::string& skip = "") {
  std::map<std::string, std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name == skip) continue;
    struct stat st;
    if (::lstat(entry.path().c_str(), &st) != 0) continue;
    out[name] = std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
                " content hash " +
                std::to_string(std::hash<std::string>()(
                    S_ISREG(st.st_mode) ? ReadFile(entry.path().string()) : std::string()));
  }
  return out;
}

std::vector<std::string> Names(const std::map<std::string, std::string>& snapshot) {
  std::vector<std::string> names;
  for (const auto& [name, unused] : snapshot) names.push_back(name);
  return names;
}

// A database as sqlsteward leaves it: created by Database::Open (0600, a
// sidecar, the journal mode the probe chose), one table, closed.
std::string CreateHealthyDatabase(const TempDir& dir, const std::string& name = "app.db") {
  std::string path = dir.File(name);
  auto db = Database::Open(path);
  EXPECT_TRUE(db.has_value()) << testing::Describe(db);
  if (!db.has_value()) return path;
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);");
  }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  return path;
}

// A database written with the raw C API (no sqlsteward, so no sidecar),
// made 0600 like a careful user would.
void CreateRawDatabase(const std::string& path, const std::string& script) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, script.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
}

bool HasWalResetBug() {
  int v = sqlite3_libversion_number();
  return v >= 3'007'000 && v <= 3'051'002;
}

// ----------------------------------------------------------------------------

TEST(DoctorTest, HealthyDatabaseExitsZeroAndIsLeftUntouched) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  const auto before = Snapshot(dir.path());

  DoctorRun run = RunDoctorJson(path);
  ASSERT_EQ(run.exit_code, 0) << NotOk(run.doc) << run.err;
  const json& doc = run.doc;
  EXPECT_EQ(doc["path"], path);
  EXPECT_EQ(doc["healthy"], true);
  EXPECT_EQ(doc["exit_code"], 0);
  EXPECT_EQ(doc["sqlite_version"], sqlite3_libversion());
  EXPECT_EQ(CountSeverity(doc, "warning"), 0) << NotOk(doc);
  EXPECT_EQ(CountSeverity(doc, "problem"), 0) << NotOk(doc);
  for (const char* key : {"filesystem", "database", "files", "sidecar", "instances", "schema"}) {
    EXPECT_TRUE(doc.contains(key)) << key;
  }
  for (const json& f : doc["findings"]) {
    for (const char* key : {"id", "section", "severity", "message", "hint"}) {
      EXPECT_TRUE(f.contains(key)) << key << " in " << f.dump();
    }
    EXPECT_EQ(f["id"].get<std::string>().rfind(f["section"].get<std::string>() + ".", 0), 0u);
  }

  for (const char* id :
       {"filesystem.probe",      "filesystem.locks",     "filesystem.shared_memory",
        "filesystem.policy",     "sqlite.version",       "sqlite.wal_reset_bug",
        "database.file",         "database.format",      "database.open",
        "database.journal_mode", "database.pages",       "database.quick_check",
        "files.symlinks",        "files.hard_links",     "files.permissions",
        "files.directory",       "files.ownership",      "sidecar.header",
        "sidecar.write_lock",    "instances.registered", "instances.unprotected",
        "schema.version"}) {
    EXPECT_EQ(SeverityOf(doc, id), "ok") << id;
  }
  EXPECT_THAT(Finding(doc, "instances.registered").value("message", ""),
              HasSubstr("0 live instance(s)"));
  EXPECT_THAT(Finding(doc, "schema.version").value("message", ""),
              HasSubstr("no schema_migrations table"));
  EXPECT_EQ(doc["instances"]["available"], true);
  EXPECT_TRUE(doc["instances"]["entries"].empty());
  EXPECT_EQ(doc["instances"]["unprotected"], json::array());
  EXPECT_EQ(doc["schema"]["available"], true);
  EXPECT_EQ(doc["schema"]["ledger"], false);
  EXPECT_EQ(doc["schema"]["version"], 0);

  EXPECT_EQ(doc["filesystem"]["probed"], true);
  EXPECT_EQ(doc["filesystem"]["posix_locks_visible"], true);
  EXPECT_EQ(doc["filesystem"]["ofd_locks_visible"], true);
  const json& db = doc["database"];
  EXPECT_EQ(db["exists"], true);
  EXPECT_EQ(db["format"], "sqlite3");
  EXPECT_EQ(db["quick_check"], json::array({"ok"}));
  EXPECT_GE(db["page_count"].get<int>(), 2);
  EXPECT_EQ(db["freelist_count"], 0);
  EXPECT_GE(db["page_size"].get<int>(), 512);
  const bool wal = db["journal_mode"] == "wal";
  EXPECT_EQ(wal, doc["filesystem"]["policy"]["allow_wal"].get<bool>());
  EXPECT_EQ(doc["sidecar"]["present"], true);
  EXPECT_EQ(doc["sidecar"]["valid"], true);
  EXPECT_EQ(doc["sidecar"]["version"], 1);
  EXPECT_EQ(doc["sidecar"]["write_lock"], "free");

  ASSERT_EQ(doc["files"].size(), 6u);
  EXPECT_EQ(doc["files"][0]["role"], "database");
  EXPECT_EQ(doc["files"][0]["mode"], "0600");
  EXPECT_EQ(doc["files"][0]["links"], 1);
  EXPECT_EQ(doc["files"][0]["uid"], ::geteuid());
  EXPECT_EQ(doc["files"][4]["role"], "sidecar");
  EXPECT_EQ(doc["files"][5]["role"], "directory");
  EXPECT_EQ(doc["files"][5]["mode"], "0700");

  // A managed WAL database: the bug is explained, not warned about.
  if (wal && HasWalResetBug()) {
    EXPECT_THAT(Finding(doc, "sqlite.wal_reset_bug").value("message", ""),
                HasSubstr("cross-process write lock"));
  }

  // Nothing created (no -wal/-shm from a read-only open, no probe file left
  // behind), nothing changed.
  EXPECT_EQ(Snapshot(dir.path()), before) << ::testing::PrintToString(Names(Snapshot(dir.path())));
}

// A database migrated by sqlsteward: doctor reports the ledger's version;
// a user_version changed behind the migrator's back is a warning.
TEST(DoctorTest, SchemaVersionComesFromTheMigrationsLedger) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    std::vector<Migration> migrations(2);
    migrations[0].version = 1;
    migrations[0].name = "accounts";
    migrations[0].sql = "CREATE TABLE accounts(id INTEGER PRIMARY KEY)";
    migrations[1].version = 2;
    migrations[1].name = "orders";
    migrations[1].sql = "CREATE TABLE orders(id INTEGER PRIMARY KEY)";
    auto report = Migrate(**db, migrations);
    ASSERT_TRUE(report.has_value()) << testing::Describe(report);
    SQLSTEWARD_ASSERT_OK((*db)->Close());
  }
  DoctorRun run = RunDoctorJson(path);
  ASSERT_EQ(run.exit_code, 0) << NotOk(run.doc) << run.err;
  EXPECT_EQ(SeverityOf(run.doc, "schema.version"), "ok");
  EXPECT_EQ(Finding(run.doc, "schema.version")["message"],
            "schema version 2 (2 migration(s) applied; user_version 2)");
  EXPECT_EQ(run.doc["schema"]["version"], 2);
  EXPECT_EQ(run.doc["schema"]["user_version"], 2);
  EXPECT_EQ(run.doc["schema"]["ledger"], true);
  EXPECT_EQ(run.doc["schema"]["checksums"], true);

  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 7", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 1) << NotOk(run.doc) << run.err;
  EXPECT_EQ(SeverityOf(run.doc, "schema.version"), "warning");
  EXPECT_THAT(Finding(run.doc, "schema.version").value("message", ""),
              HasSubstr("but PRAGMA user_version is 7"));
  EXPECT_THAT(Finding(run.doc, "schema.version").value("hint", ""),
              HasSubstr("--dry-run"));
}

TEST(DoctorTest, HumanReportOfHealthyDatabase) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  CliResult run = RunDoctorHuman(path);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("sqlsteward doctor " + path));
  for (const char* title : {"Filesystem and mount", "SQLite library", "Database",
                            "Files, permissions and ownership", "Sidecar", "Schema"}) {
    EXPECT_THAT(run.out, HasSubstr(title));
  }
  EXPECT_THAT(run.out, HasSubstr("[ok]"));
  EXPECT_THAT(run.out, HasSubstr("PRAGMA quick_check: ok  (database.quick_check)"));
  EXPECT_THAT(run.out, HasSubstr("Healthy:"));
  EXPECT_THAT(run.out, ::testing::Not(HasSubstr("[problem]")));
}

TEST(DoctorTest, DatabaseOpenInAnotherProcessIsReadWithoutChangingIt) {
  TempDir dir;
  const std::string path = dir.File("live.db");
  auto db = Database::Open(path);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE t(x); INSERT INTO t VALUES (1);");
  }));
  const bool wal = (*db)->journal_mode() == JournalMode::kWal;
  // -shm included: doctor maps it read-only and writes no read mark. The
  // sidecar is left out: the open handle itself writes it (its instance
  // slot's heartbeat).
  const auto before = Snapshot(dir.path(), "live.db-steward");

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 0) << NotOk(run.doc) << run.err;
  EXPECT_EQ(SeverityOf(run.doc, "database.quick_check"), "ok");
  EXPECT_EQ(run.doc["database"]["journal_mode"], wal ? "wal" : "delete");
  if (wal) {
    // -wal and -shm exist, so doctor reads the WAL like any reader.
    EXPECT_EQ(run.doc["database"]["opened"], "read-only");
    EXPECT_EQ(SeverityOf(run.doc, "database.wal_file"), "ok");
    EXPECT_TRUE(run.doc["database"]["wal_bytes"].is_number());
  }
  EXPECT_EQ(Snapshot(dir.path(), "live.db-steward"), before);

  // Our handle still works: doctor took and left no lock it should not have.
  SQLSTEWARD_EXPECT_OK(
      (*db)->Write([](Transaction& tx) { return tx.ExecScript("INSERT INTO t VALUES (2);"); }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  EXPECT_EQ(testing::CountRows(path, "t"), 2);
}

TEST(DoctorTest, GarbageFileIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.File("garbage.db");
  std::string text;
  while (text.size() < 8192) text += "this is a text file, not an SQLite database. ";
  WriteFile(path, text);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  const auto before = Snapshot(dir.path());

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.doc["healthy"], false);
  EXPECT_EQ(run.doc["exit_code"], 2);
  json format = Finding(run.doc, "database.format");
  EXPECT_EQ(format.value("severity", ""), "problem");
  EXPECT_THAT(format.value("message", ""), HasSubstr("not a database"));
  EXPECT_THAT(format.value("hint", ""), HasSubstr("snapshot"));
  EXPECT_EQ(run.doc["database"]["format"], "not a database");
  // The SQL checks are skipped after it.
  EXPECT_EQ(SeverityOf(run.doc, "database.quick_check"), "missing");
  EXPECT_EQ(SeverityOf(run.doc, "database.pages"), "missing");
  EXPECT_TRUE(run.doc["database"]["quick_check"].is_null());
  // Everything else about the file is fine: the only problem is the format.
  EXPECT_EQ(CountSeverity(run.doc, "problem"), 1) << NotOk(run.doc);
  EXPECT_EQ(Snapshot(dir.path()), before);

  CliResult human = RunDoctorHuman(path);
  EXPECT_EQ(human.exit_code, 2);
  EXPECT_THAT(human.out, HasSubstr("[problem]"));
  EXPECT_THAT(human.out, HasSubstr("not a database"));
  EXPECT_THAT(human.out, HasSubstr("hint: check the path"));
  EXPECT_THAT(human.out, HasSubstr("Problems found:"));
}

TEST(DoctorTest, FileWithSqliteMagicButBrokenHeaderIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.File("broken-header.db");
  std::string content("SQLite format 3\0", 16);
  content += std::string(4096 - 16, '\xff');  // page size 0xffff: invalid
  WriteFile(path, content);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(SeverityOf(run.doc, "database.format"), "problem") << NotOk(run.doc);
  EXPECT_THAT(Finding(run.doc, "database.format").value("message", ""),
              HasSubstr("not a database"));
  EXPECT_EQ(run.doc["database"]["error"]["sqlite_code"], SQLITE_NOTADB);
}

TEST(DoctorTest, HardLinkedDatabaseIsAProblem) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  ASSERT_EQ(::link(path.c_str(), dir.File("other-name.db").c_str()), 0);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 2);
  json links = Finding(run.doc, "files.hard_links");
  EXPECT_EQ(links.value("severity", ""), "problem");
  EXPECT_THAT(links.value("message", ""), HasSubstr(path + " has 2 hard links"));
  EXPECT_THAT(links.value("hint", ""), HasSubstr("-samefile '" + path + "'"));
  EXPECT_EQ(run.doc["files"][0]["links"], 2);
  EXPECT_EQ(CountSeverity(run.doc, "problem"), 1) << NotOk(run.doc);
  EXPECT_EQ(SeverityOf(run.doc, "database.quick_check"), "ok");
}

TEST(DoctorTest, WorldReadableDatabaseWarnsWithChmodHint) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 1) << NotOk(run.doc);
  EXPECT_EQ(run.doc["healthy"], false);
  EXPECT_EQ(run.doc["exit_code"], 1);
  json perms = Finding(run.doc, "files.permissions");
  EXPECT_EQ(perms.value("severity", ""), "warning");
  EXPECT_THAT(perms.value("message", ""), HasSubstr("app.db is 0644"));
  EXPECT_EQ(perms.value("hint", ""), "chmod 600 '" + path + "'");
  EXPECT_EQ(run.doc["files"][0]["mode"], "0644");
  EXPECT_EQ(CountSeverity(run.doc, "warning"), 1) << NotOk(run.doc);
  EXPECT_EQ(CountSeverity(run.doc, "problem"), 0) << NotOk(run.doc);

  CliResult human = RunDoctorHuman(path);
  EXPECT_EQ(human.exit_code, 1);
  EXPECT_THAT(human.out, HasSubstr("[warning] app.db is 0644"));
  EXPECT_THAT(human.out, HasSubstr("hint: chmod 600 '" + path + "'"));
  EXPECT_THAT(human.out, HasSubstr("Warnings: "));
}

TEST(DoctorTest, LooseDirectoryWarnsWithChmodHint) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 1) << NotOk(run.doc);
  json d = Finding(run.doc, "files.directory");
  EXPECT_EQ(d.value("severity", ""), "warning");
  EXPECT_THAT(d.value("message", ""), HasSubstr("is 0755"));
  EXPECT_THAT(d.value("hint", ""), HasSubstr("chmod 700 '" + dir.path() + "'"));
  EXPECT_EQ(SeverityOf(run.doc, "files.permissions"), "ok");
}

TEST(DoctorTest, MissingDatabaseIsAProblemAndIsNotCreated) {
  TempDir dir;
  const std::string path = dir.File("missing.db");

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 2);
  json file = Finding(run.doc, "database.file");
  EXPECT_EQ(file.value("severity", ""), "problem");
  EXPECT_THAT(file.value("message", ""), HasSubstr(path + " does not exist"));
  EXPECT_THAT(file.value("hint", ""), HasSubstr("never creates"));
  EXPECT_EQ(run.doc["database"]["exists"], false);
  EXPECT_EQ(run.doc["files"][0]["exists"], false);
  EXPECT_EQ(SeverityOf(run.doc, "database.open"), "missing");
  EXPECT_EQ(SeverityOf(run.doc, "sidecar.header"), "ok");
  EXPECT_TRUE(Snapshot(dir.path()).empty())
      << ::testing::PrintToString(Names(Snapshot(dir.path())));

  // Nor its directory.
  const std::string deeper = dir.File("no-such-dir/app.db");
  run = RunDoctorJson(deeper);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(SeverityOf(run.doc, "database.file"), "problem");
  EXPECT_EQ(SeverityOf(run.doc, "files.directory"), "problem");
  EXPECT_EQ(SeverityOf(run.doc, "filesystem.probe"), "warning");
  EXPECT_FALSE(std::filesystem::exists(dir.File("no-such-dir")));
}

TEST(DoctorTest, SymlinkedDatabaseIsAProblem) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  const std::string link = dir.File("link.db");
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);

  DoctorRun run = RunDoctorJson(link);
  EXPECT_EQ(run.exit_code, 2);
  json links = Finding(run.doc, "files.symlinks");
  EXPECT_EQ(links.value("severity", ""), "problem");
  EXPECT_THAT(links.value("message", ""), HasSubstr(link + " -> " + path));
  EXPECT_EQ(run.doc["files"][0]["type"], "symlink");
  // The target is still examined.
  EXPECT_EQ(SeverityOf(run.doc, "database.quick_check"), "ok");
}

TEST(DoctorTest, CorruptPageFailsQuickCheck) {
  TempDir dir;
  const std::string path = dir.File("corrupt.db");
  CreateRawDatabase(path,
                    "CREATE TABLE t(x TEXT); CREATE INDEX t_x ON t(x);"
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                    "INSERT INTO t SELECT printf('%.100c%d', 'x', i) FROM n;");
  // Overwrite most of a b-tree page in the middle of the file.
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::string junk(2000, '\xff');
  ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 4096 * 20 + 100),
            static_cast<ssize_t>(junk.size()));
  ::close(fd);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 2);
  json check = Finding(run.doc, "database.quick_check");
  EXPECT_EQ(check.value("severity", ""), "problem") << NotOk(run.doc);
  EXPECT_THAT(check.value("hint", ""), HasSubstr("snapshot"));
  ASSERT_TRUE(run.doc["database"]["quick_check"].is_array());
  EXPECT_NE(run.doc["database"]["quick_check"], json::array({"ok"}));
}

TEST(DoctorTest, HotJournalIsReportedAndLeftAlone) {
  TempDir dir;
  const std::string path = dir.File("hot.db");
  CreateRawDatabase(path, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
  // A writer that dies mid-transaction after spilling pages into the
  // database file leaves a hot journal.
  int status = testing::RunInChild([&path] {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 10;
    const char* script =
        "PRAGMA cache_size = 1; BEGIN;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
        "INSERT INTO t SELECT randomblob(500) FROM n;";
    if (sqlite3_exec(db, script, nullptr, nullptr, nullptr) != SQLITE_OK) return 11;
    return 0;  // _exit without COMMIT or close
  });
  ASSERT_EQ(status, 0);
  const std::string journal = path + "-journal";
  ASSERT_TRUE(std::filesystem::exists(journal));
  ASSERT_EQ(::chmod(journal.c_str(), 0600), 0);
  const auto before = Snapshot(dir.path());

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 1) << NotOk(run.doc);
  json open = Finding(run.doc, "database.open");
  EXPECT_EQ(open.value("severity", ""), "warning");
  EXPECT_THAT(open.value("message", ""), HasSubstr("hot journal"));
  EXPECT_THAT(open.value("hint", ""), HasSubstr("never delete the -journal"));
  // Not rolled back: doctor is read-only.
  EXPECT_EQ(Snapshot(dir.path()), before);
}

TEST(DoctorTest, WalDatabaseWithoutSidecarWarnsAboutWalResetBug) {
  TempDir dir;
  const std::string path = dir.File("foreign.db");
  CreateRawDatabase(path,
                    "PRAGMA journal_mode = WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);");
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));  // closed cleanly
  const auto before = Snapshot(dir.path());

  DoctorRun run = RunDoctorJson(path);
  const json& doc = run.doc;
  EXPECT_EQ(doc["database"]["journal_mode"], "wal");
  // A read-only open would have created -wal and -shm.
  EXPECT_EQ(doc["database"]["opened"], "immutable");
  EXPECT_EQ(SeverityOf(doc, "database.open"), "ok");
  EXPECT_EQ(SeverityOf(doc, "database.quick_check"), "ok");
  EXPECT_EQ(doc["sidecar"]["present"], false);
  EXPECT_EQ(Snapshot(dir.path()), before);

  const bool wal_allowed = doc["filesystem"]["policy"]["allow_wal"] == true;
  if (!wal_allowed) {
    EXPECT_EQ(SeverityOf(doc, "filesystem.policy"), "problem");
    GTEST_SKIP() << "WAL is not safe on this test directory's filesystem";
  }
  if (HasWalResetBug()) {
    json bug = Finding(doc, "sqlite.wal_reset_bug");
    EXPECT_EQ(bug.value("severity", ""), "warning");
    EXPECT_THAT(bug.value("message", ""), HasSubstr("sqlite.org/wal.html#walresetbug"));
    EXPECT_THAT(bug.value("message", ""), HasSubstr("foreign connections"));
    EXPECT_EQ(run.exit_code, 1) << NotOk(doc);
  } else {
    EXPECT_EQ(SeverityOf(doc, "sqlite.wal_reset_bug"), "ok");
    EXPECT_EQ(run.exit_code, 0) << NotOk(doc);
  }
}

TEST(DoctorTest, SidecarWithWrongMagicIsAProblem) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  int fd = ::open((path + "-steward").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "GARBAGE!", 8, 0), 8);
  ::close(fd);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 2);
  json header = Finding(run.doc, "sidecar.header");
  EXPECT_EQ(header.value("severity", ""), "problem");
  EXPECT_THAT(header.value("message", ""), HasSubstr("SQLSTWD1"));
  EXPECT_EQ(run.doc["sidecar"]["valid"], false);
}

// Holds the sidecar's write lock (an OFD lock on byte 4000, as a writer
// does) and records a holder, like a sqlsteward writer in another process.
class HeldWriteLock {
 public:
  HeldWriteLock(const std::string& sidecar, std::int64_t since_unix_ms,
                const std::string& purpose = "") {
    fd_ = ::open(sidecar.c_str(), O_RDWR | O_CLOEXEC);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 4000;
    fl.l_len = 1;
    EXPECT_EQ(::fcntl(fd_, F_OFD_SETLK, &fl), 0) << std::strerror(errno);
    // docs/formats.md: i32 pid, i32 reserved, i64 since, char host[64],
    // char purpose[64].
    unsigned char rec[144] = {};
    const auto pid = static_cast<std::uint32_t>(::getpid());
    for (int i = 0; i < 4; ++i) rec[i] = static_cast<unsigned char>(pid >> (8 * i));
    const auto since = static_cast<std::uint64_t>(since_unix_ms);
    for (int i = 0; i < 8; ++i) rec[8 + i] = static_cast<unsigned char>(since >> (8 * i));
    std::memcpy(rec + 16, "doctor-test-host", 16);
    std::memcpy(rec + 80, purpose.data(), std::min<std::size_t>(purpose.size(), 63));
    EXPECT_EQ(::pwrite(fd_, rec, sizeof rec, 64), static_cast<ssize_t>(sizeof rec));
  }
  ~HeldWriteLock() { ::close(fd_); }
  HeldWriteLock(const HeldWriteLock&) = delete;
  HeldWriteLock& operator=(const HeldWriteLock&) = delete;

 private:
  int fd_ = -1;
};

std::int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(DoctorTest, WriteLockHolderIsNamed) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  {
    HeldWriteLock lock(path + "-steward", NowUnixMs());
    DoctorRun run = RunDoctorJson(path);
    EXPECT_EQ(run.exit_code, 0) << NotOk(run.doc);
    EXPECT_EQ(SeverityOf(run.doc, "sidecar.write_lock"), "ok");
    EXPECT_THAT(
        Finding(run.doc, "sidecar.write_lock").value("message", ""),
        HasSubstr("held by pid " + std::to_string(::getpid()) + " on host doctor-test-host"));
    EXPECT_EQ(run.doc["sidecar"]["write_lock"], "held");
    EXPECT_EQ(run.doc["sidecar"]["holder"]["pid"], ::getpid());
    EXPECT_EQ(run.doc["sidecar"]["holder"]["host"], "doctor-test-host");
  }
  {
    // Held for ten minutes: a stuck writer.
    HeldWriteLock lock(path + "-steward", NowUnixMs() - 10 * 60 * 1000);
    DoctorRun run = RunDoctorJson(path);
    EXPECT_EQ(run.exit_code, 1) << NotOk(run.doc);
    json f = Finding(run.doc, "sidecar.write_lock");
    EXPECT_EQ(f.value("severity", ""), "warning");
    EXPECT_THAT(f.value("message", ""), HasSubstr("stuck"));
    EXPECT_THAT(f.value("hint", ""), HasSubstr("inspect pid " + std::to_string(::getpid())));
  }
  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.doc["sidecar"]["write_lock"], "free");
  EXPECT_TRUE(run.doc["sidecar"]["holder"].is_null());
}

TEST(DoctorTest, WriteLockHolderPurposeIsNamed) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  HeldWriteLock lock(path + "-steward", NowUnixMs(), "migration 0003_add_orders");

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 0) << NotOk(run.doc);
  EXPECT_THAT(Finding(run.doc, "sidecar.write_lock").value("message", ""),
              HasSubstr("(migration 0003_add_orders)"));
  EXPECT_EQ(run.doc["sidecar"]["holder"]["purpose"], "migration 0003_add_orders");
}

// An empty or short sidecar is refused by Database::Open (kCorruption), so
// doctor reports it as a problem, with the library's own message and hint;
// it used to say "ok: the next open writes its header".
TEST(DoctorTest, EmptyOrShortSidecarIsAProblemAsForTheLibrary) {
  for (const off_t size : {off_t{0}, off_t{100}}) {
    SCOPED_TRACE("sidecar of " + std::to_string(size) + " bytes");
    TempDir dir;
    const std::string path = CreateHealthyDatabase(dir);
    ASSERT_EQ(::truncate((path + "-steward").c_str(), size), 0);

    DoctorRun run = RunDoctorJson(path);
    EXPECT_EQ(run.exit_code, 2) << NotOk(run.doc);
    json header = Finding(run.doc, "sidecar.header");
    EXPECT_EQ(header.value("severity", ""), "problem");
    EXPECT_EQ(run.doc["sidecar"]["valid"], false);

    auto inspected = InspectSidecar(path);
    ASSERT_FALSE(inspected.has_value());
    EXPECT_EQ(inspected.error().code(), StatusCode::kCorruption);
    EXPECT_EQ(header.value("message", ""), inspected.error().message());
    EXPECT_EQ(header.value("hint", ""), inspected.error().hint());
    auto db = Database::Open(path);
    ASSERT_FALSE(db.has_value());
    EXPECT_EQ(db.error().code(), StatusCode::kCorruption) << db.error().ToString();
  }
}

// A stock SQLite process (neither the library nor the extension) holding
// the database open in WAL mode bypasses the write lock: doctor names it by
// pid and command line, and stops naming it once it has closed.
TEST(DoctorTest, RawSqliteProcessIsReportedAsUnprotected) {
  TempDir dir;
  const std::string path = dir.File("raw.db");
  testing::Child raw({"raw-hold", path});
  const std::string pid = std::to_string(raw.pid());
  ASSERT_EQ(raw.ReadLine(), "holding " + pid);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_GE(run.exit_code, 1) << NotOk(run.doc) << run.err;
  json f = Finding(run.doc, "instances.unprotected");
  EXPECT_EQ(f.value("severity", ""), "warning") << NotOk(run.doc);
  EXPECT_THAT(f.value("message", ""), HasSubstr("pid " + pid + " ("));
  EXPECT_THAT(f.value("message", ""),
              HasSubstr(") has the database open without sqlsteward: its writes bypass the "
                        "write lock and the lock-domain check"));
  EXPECT_THAT(f.value("hint", ""), HasSubstr("sqlsteward extension-path"));
  const json& listed = run.doc["instances"]["unprotected"];
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["pid"], raw.pid());
  // comm holds the first 15 bytes of the program's name.
  EXPECT_EQ(listed[0]["command"],
            std::filesystem::path(testing::HelperPath()).filename().string().substr(0, 15));
  EXPECT_THAT(listed[0].value("cmdline", ""), HasSubstr(" raw-hold "));

  raw.CloseStdin();
  EXPECT_EQ(raw.Wait(), 0);
  run = RunDoctorJson(path);
  f = Finding(run.doc, "instances.unprotected");
  EXPECT_EQ(f.value("severity", ""), "ok") << NotOk(run.doc);
  EXPECT_THAT(f.value("message", ""), HasSubstr("shows no POSIX lock on the database"));
  EXPECT_THAT(f.value("message", ""), HasSubstr("rollback-journal mode"));
  EXPECT_EQ(run.doc["instances"]["unprotected"], json::array());
}

// A sqlsteward process is a registered instance: doctor sees its locks and
// knows whose they are.
TEST(DoctorTest, SqlstewardProcessIsNotReportedAsUnprotected) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  testing::Child owner({"open-exclusive", path});
  const std::string pid = std::to_string(owner.pid());
  ASSERT_EQ(owner.ReadLine(), "open " + pid);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 0) << NotOk(run.doc) << run.err;
  json f = Finding(run.doc, "instances.unprotected");
  EXPECT_EQ(f.value("severity", ""), "ok") << NotOk(run.doc);
  EXPECT_EQ(run.doc["instances"]["unprotected"], json::array());
  // Only a WAL connection holds its locks between transactions.
  const bool wal = run.doc["database"]["journal_mode"] == "wal";
  if (wal) {
    EXPECT_THAT(f.value("message", ""),
                HasSubstr("held only by registered sqlsteward instances (pid " + pid + ")"));
  }
  owner.CloseStdin();
  EXPECT_EQ(owner.Wait(), 0);
  if (!wal) GTEST_SKIP() << "not in WAL mode here: the instance held no lock to attribute";
}

// A service on the library and a stray stock SQLite client side by side:
// only the client is named.
TEST(DoctorTest, OnlyTheProcessWithoutSqlstewardIsNamed) {
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  testing::Child owner({"open-exclusive", path});
  ASSERT_EQ(owner.ReadLine(), "open " + std::to_string(owner.pid()));
  testing::Child raw({"raw-hold", path});
  ASSERT_EQ(raw.ReadLine(), "holding " + std::to_string(raw.pid()));

  DoctorRun run = RunDoctorJson(path);
  json f = Finding(run.doc, "instances.unprotected");
  EXPECT_EQ(f.value("severity", ""), "warning") << NotOk(run.doc);
  EXPECT_THAT(f.value("message", ""), HasSubstr("pid " + std::to_string(raw.pid()) + " ("));
  EXPECT_THAT(f.value("message", ""),
              ::testing::Not(HasSubstr("pid " + std::to_string(owner.pid()) + " ")));
  ASSERT_EQ(run.doc["instances"]["unprotected"].size(), 1u) << run.doc["instances"].dump();
  EXPECT_EQ(run.doc["instances"]["unprotected"][0]["pid"], raw.pid());

  raw.CloseStdin();
  EXPECT_EQ(raw.Wait(), 0);
  owner.CloseStdin();
  EXPECT_EQ(owner.Wait(), 0);
}

TEST(DoctorTest, FileOwnedByAnotherUserWarns) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  TempDir dir;
  const std::string path = CreateHealthyDatabase(dir);
  ASSERT_EQ(::chown((path + "-steward").c_str(), 12345, 12345), 0);

  DoctorRun run = RunDoctorJson(path);
  EXPECT_EQ(run.exit_code, 1) << NotOk(run.doc);
  json f = Finding(run.doc, "files.ownership");
  EXPECT_EQ(f.value("severity", ""), "warning");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_THAT(f.value("hint", ""),
              HasSubstr("chown " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) +
                        " '" + path + "-steward'"));
}

TEST(DoctorTest, UsageErrorsAreNotFindingExitCodes) {
  CliResult run = testing::RunCli(SQLSTEWARD_CLI, {"doctor"});
  EXPECT_GE(run.exit_code, 100) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("PATH"));
}

}  // namespace
}  // namespace sqlsteward
