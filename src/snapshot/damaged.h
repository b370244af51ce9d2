// A damaged live database, as restore meets it: `doctor` says "restore it
// from a snapshot", and restore's usual first step, copying the current
// content aside through SQLite, cannot read a file that is not a database,
// has corrupted pages or was truncated. So restore looks first (read-only,
// once no other instance has the file open); a damaged database is moved
// aside whole — the file, its -wal, -shm and -journal, renamed, never
// copied, so their bytes are kept as they were — and the snapshot is
// restored into the free path. A failed restore moves them back.
//
// Names: `<name>.damaged-<yyyymmddThhmmssZ>` and the same with "-wal",
// "-shm", "-journal" appended, so SQLite still finds the set together;
// "-2", "-3", ... after the timestamp when that second is taken. Never
// replaces a file (RENAME_NOREPLACE).
//
// Thread safety: the functions are safe for concurrent use on different
// databases; restore calls them with no other instance on the database.
#ifndef SQLSTEWARD_SNAPSHOT_DAMAGED_H_
#define SQLSTEWARD_SNAPSHOT_DAMAGED_H_

#include <string>
#include <vector>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// What a read-only look at the database at `path` found. `damaged` only on
// a definite sign (no SQLite header, SQLITE_CORRUPT or SQLITE_NOTADB, a
// quick_check that is not "ok"); a file that is missing, empty or cannot be
// looked at for another reason (a hot journal a read-only open cannot roll
// back) is left to the usual restore.
struct DamageReport {
  bool damaged = false;
  std::string why;  // A sentence when damaged.
};
DamageReport ExamineDatabase(posix::Env* env, const std::string& path);

// The files of one database moved aside: pairs of where each was and where
// it is now.
struct MovedAside {
  std::vector<std::string> from;
  std::vector<std::string> to;
};

// Renames `path` and those of its -wal, -shm and -journal that exist to the
// names above, each made 0600. On a failure, what was moved is moved back.
// Errors: the failed rename's errno as a Status (kPermissionDenied on a
// read-only filesystem, ...).
Result<MovedAside> MoveDamagedAside(posix::Env* env, const std::string& path,
                                    std::int64_t unix_ms);

// Removes what a failed restore created at the database's path (the file
// and its companions), then renames the damaged files back.
Status PutDamagedBack(posix::Env* env, const std::string& path, const MovedAside& moved);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_DAMAGED_H_
