// The checks of `sqlsteward doctor`, one file per section of the report
// (filesystem.cc, sqlite_library.cc, database.cc, files.cc, sidecar.cc,
// instances.cc and unprotected.cc, schema.cc), and what they share: the database's files as
// lstat(2) saw them, and the filesystem probe's result. doctor.cc runs them
// in the order below; each adds its findings and facts to the Report.
//
// None of them changes anything; the rules that keep it so are at the top
// of doctor.cc.
#ifndef SQLSTEWARD_TOOLS_DOCTOR_CHECKS_H_
#define SQLSTEWARD_TOOLS_DOCTOR_CHECKS_H_

#include <sys/stat.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "doctor/report.h"
#include "sqlsteward/probe.h"

struct sqlite3;

namespace sqlsteward::cli::doctor {

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

FileState StatFile(std::string role, std::string path);
// The "files" entry of the JSON report.
nlohmann::json FileJson(const FileState& f);
// "file", "directory", "symlink", "other".
std::string FileTypeName(const struct stat& st);

// The database's files by name; the directory is stat'ed through links (a
// link to a directory is a normal deployment choice).
struct DbFiles {
  FileState db, wal, shm, journal, sidecar, dir;

  static DbFiles Stat(const std::string& path, const std::string& dir);
  std::vector<const FileState*> Owned() const { return {&db, &wal, &shm, &journal, &sidecar}; }
};

// What the filesystem probe found; empty when it could not run.
struct FsFacts {
  std::optional<ProbeReport> probe;
  std::optional<JournalPolicy> policy;
  std::string mount_point = "/";
};

// filesystem.probe. The probe forks: run it before this process has a
// SQLite handle.
FsFacts ProbeFilesystem(Report& r);
// files.*
void CheckFiles(Report& r, const DbFiles& files, const FsFacts& fs);
// database.*; learns whether the database is in WAL mode (nullopt: unknown).
void CheckDatabase(Report& r, bool skip_quick_check, const DbFiles& files,
                   std::optional<bool>* db_is_wal);
// sidecar.*; true when the database is managed by sqlsteward: a sidecar is
// present and the library would not refuse it.
bool CheckSidecar(Report& r, const FileState& sidecar);
// filesystem.locks, filesystem.shared_memory, filesystem.policy.
void CheckFilesystem(Report& r, const FsFacts& fs, std::optional<bool> db_is_wal);
// sqlite.*
void CheckSqlite(Report& r, std::optional<bool> db_is_wal, bool managed);
// instances.registered
void CheckInstances(Report& r);
// instances.unprotected: processes holding POSIX locks on the database or
// its -shm that are not registered instances; after CheckInstances (it adds
// "unprotected" to r.instances). Left out when the database is not a
// regular file.
void CheckUnprotected(Report& r);
// The schema facts into r.schema (while CheckDatabase has the handle open),
// then schema.version from them.
void ReadSchemaFacts(sqlite3* db, Report& r);
void CheckSchema(Report& r);

}  // namespace sqlsteward::cli::doctor

#endif  // SQLSTEWARD_TOOLS_DOCTOR_CHECKS_H_
