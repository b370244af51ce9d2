// The files of a database, as the protocol requires them before SQLite
// opens anything: the one place that decides, for the library's
// Database::Open and for the loadable extension alike,
//   - the parent directory exists (created 0700 when allowed) and is a
//     directory, named by its canonical path;
//   - the database path is not a symbolic link, a directory or a file with
//     several hard links (another name would mean other -wal/-journal names
//     and locks that do not meet: sqlite.org/howtocorrupt.html);
//   - a new database file is created by us with O_EXCL, mode 0600, and the
//     directory is fsynced; SQLite then creates -wal/-shm/-journal with the
//     database's mode;
//   - the database is ours, or we are root, and its existing -wal, -shm
//     and -journal are ours, its owner's or root's (file_owner.h);
//   - existing files looser than 0600 are tightened (EPERM, as in a user
//     namespace, is a warning);
//   - the journal mode is one the filesystem can be trusted with
//     (sqlsteward/probe.h).
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_SIDECAR_DATABASE_FILES_H_
#define SQLSTEWARD_SIDECAR_DATABASE_FILES_H_

#include <sys/stat.h>

#include <string>

#include "posix/env.h"
#include "sidecar/file_owner.h"
#include "sqlsteward/options.h"
#include "sqlsteward/probe.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// Tightens an existing file to 0600; absent files are fine. EPERM (a user
// namespace) is a warning through options.on_warning.
Status TightenMode(posix::Env* env, const std::string& path, const Options& options);

// The path every file of the database is named after: its directory made
// canonical (a directory reached through a symbolic link is a normal
// deployment; SQLite's NOFOLLOW open refuses a link anywhere in the path,
// and two names for one directory would mean two names for the -wal), the
// file name kept. Creates the directory (0700) when it is missing and
// options allow it.
Result<std::string> ResolveDatabasePath(posix::Env* env, const std::string& path,
                                        const Options& options);

// A path's lstat as a database: not a link, a directory, anything but a
// regular file, nor a file with several hard links.
Status CheckDatabaseStat(const std::string& path, const struct stat& st);

// What a read-only open checks: the file exists, passes CheckDatabaseStat
// and is readable. Creates, changes and tightens nothing.
Status CheckDatabaseForReading(posix::Env* env, const std::string& path);

// The directory, the database file and its companions, as the list above
// says, before SQLite opens anything. Returns the database's owner, whom
// the files we create beside it are given to (sidecar/file_owner.h): the
// database must be ours unless we are root, and an existing -wal, -shm or
// -journal ours, the database owner's or root's (a planted -journal would
// be rolled back into the database), else kPermissionDenied.
Result<FileOwner> PrepareDatabaseFile(posix::Env* env, const std::string& path,
                                      const Options& options);

// Resolves Options::journal_mode against what the filesystem can be trusted
// with (sqlsteward/probe.h). The (cached) probe it judged by goes to
// *probed when given, for the rest of Open to use without looking again.
Result<JournalMode> ChooseJournalMode(posix::Env* env, const std::string& path,
                                      const Options& options, ProbeReport* probed = nullptr);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_DATABASE_FILES_H_
