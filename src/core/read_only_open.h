// Opening a database so that reading it writes nothing, to it or beside it:
// the read-only handle (Options::read_only), and the tools that inspect
// files they must not change.
//
// A plain SQLITE_OPEN_READONLY ("mode=ro") open is not enough: on a WAL
// database whose -wal and -shm are absent (closed cleanly) it creates both
// and leaves them (measured, 3.40.1), owned by whoever opened it, and a
// read-only reader writes its read marks into -shm. So:
//   - -wal and -shm both exist: `readonly_shm=1`: -shm is mapped read-only
//     and the WAL is read (with a live writer, through its locks);
//   - the header says WAL and there is no -wal: `immutable=1`: there is no
//     WAL to read;
//   - a -wal without its -shm, or an empty database file beside a -wal:
//     `immutable=1`, and the WAL's contents are not read (a caveat says so:
//     recent commits may be missing from what is read);
//   - otherwise (a rollback journal): `mode=ro` (`readonly_shm` is moot),
//     which takes SQLite's shared lock per read and creates nothing.
// The header is read through SQLite's VFS, never by an open()/close() of our
// own: close() of any descriptor of the file drops every POSIX lock this
// process's SQLite connections hold on it.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_CORE_READ_ONLY_OPEN_H_
#define SQLSTEWARD_CORE_READ_ONLY_OPEN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

struct DatabaseHeader {
  std::int64_t size = 0;  // Of the database file, bytes.
  bool magic_ok = false;  // "SQLite format 3\0"
  int read_version = 0;   // Byte 19: 1 rollback journal, 2 WAL.
};

// The first 100 bytes of `path` through SQLite's VFS `vfs` (empty: the
// default). A file shorter than that has magic_ok false.
Result<DatabaseHeader> ReadDatabaseHeader(const std::string& path, const std::string& vfs);

struct ReadOnlyOpen {
  // Why the open is immutable, if it is.
  enum class Why {
    kNotImmutable,
    kClosedWal,       // WAL mode, no -wal: nothing is left unread.
    kWalWithoutShm,   // The WAL is not read.
    kEmptyBesideWal,  // The WAL is not read.
  };
  std::string uri;  // For sqlite3_open_v2 with SQLITE_OPEN_READONLY | SQLITE_OPEN_URI.
  Why why = Why::kNotImmutable;
  std::string reason;  // `why` in a sentence; empty when not immutable.

  bool immutable() const { return why != Why::kNotImmutable; }
  // Commits in the -wal are not seen by this open.
  bool wal_unread() const { return why == Why::kWalWithoutShm || why == Why::kEmptyBesideWal; }
};
ReadOnlyOpen PlanReadOnlyOpen(posix::Env* env, const std::string& path,
                              const DatabaseHeader& header);

// `file:` URI for sqlite3_open_v2: everything but unreserved characters and
// '/' percent-encoded, so '?', '#' and '%' in a path stay part of it.
std::string SqliteFileUri(std::string_view path, std::string_view query);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_READ_ONLY_OPEN_H_
