// The `sqlsteward` VFS: a shim over the process's previous default VFS
// (SQLite's ext/misc/cksumvfs.c pattern), registered as the new default,
// that brings the sidecar protocol to every database opened after it.
//
// For a main database file opened read-write:
//   - before SQLite opens it: the file checks, the filesystem probe and
//     the registry (ext/shared_database.h); a refusal does not fail xOpen
//     (SQLite would replace its message with "unable to open database
//     file") but opens nothing and is handed to the auto-extension, which
//     fails the open with the refusal's own message (RefusalOf);
//   - a database already in WAL on a filesystem whose shared memory is not
//     coherent is refused the same way; on such a filesystem the file has
//     no shared-memory methods, so `PRAGMA journal_mode=WAL` leaves the
//     rollback journal in place and says so;
//   - SQLite's write locks and checkpoints go through the connection's
//     WriteGate (ext/write_gate.h): the cross-process write lock first;
//   - after a handover a write fails with SQLITE_READONLY.
// A read-only open (SQLITE_OPEN_READONLY) registers and creates nothing;
// its locks and sleeps pass through. Every other file (journals, WAL,
// temporary files) is the previous VFS's own.
//
// Thread safety: as SQLite requires of a VFS.
#ifndef SQLSTEWARD_EXT_VFS_H_
#define SQLSTEWARD_EXT_VFS_H_

#include <memory>
#include <string>

#include "ext/api.h"
#include "ext/shared_database.h"
#include "sqlsteward/status.h"

namespace sqlsteward::ext {

inline constexpr const char* kVfsName = "sqlsteward";

// Registers the VFS over the current default and makes it the default.
// Idempotent. Returns an SQLite result code.
int RegisterVfs();

// What a main database file opened through the VFS knows. nullptr when
// `file` is not one of ours.
struct MainFileView {
  std::string path;
  bool read_only = false;
  Status refusal;                        // Not OK: the open must fail with it.
  std::shared_ptr<SharedDatabase> database;  // Null when read-only or refused.
};
std::unique_ptr<MainFileView> ViewMainFile(sqlite3_file* file);

}  // namespace sqlsteward::ext

#endif  // SQLSTEWARD_EXT_VFS_H_
