// The directory `sqlsteward torture` runs in, and its one database there:
// checks that turn a wrong DIR (or two paths that are not one directory)
// into a typed error before anything runs, and the guarantee that it never
// touches a file it did not create.
#ifndef SQLSTEWARD_TOOLS_TORTURE_FILES_H_
#define SQLSTEWARD_TOOLS_TORTURE_FILES_H_

#include <string>
#include <vector>

#include "sqlsteward/status.h"

namespace sqlsteward::cli::torture {

// DIR exists (kNotFound), is a directory (kInvalidArgument), and a file can
// be created in it (the errno's code: kPermissionDenied, ...): a marker
// file is created and removed.
Status CheckDirectory(const std::string& dir);

// A and B are two paths to one directory: not the same path, and a marker
// file created through A is seen through B. kInvalidArgument otherwise.
Status CheckSameDirectory(const std::string& a, const std::string& b);

// Makes way for a new run at `db_path`: a file there that torture did not
// create (not empty, and not a SQLite database with torture's
// application_id) is refused with kFailedPrecondition and left alone;
// torture's own, with its -wal, -shm, -journal and sidecar, is deleted.
// Returns the names it deleted.
Result<std::vector<std::string>> RemovePreviousRun(const std::string& db_path);

// Creates the database and its table; returns its journal mode.
Result<std::string> CreateDatabase(const std::string& db_path);

}  // namespace sqlsteward::cli::torture

#endif  // SQLSTEWARD_TOOLS_TORTURE_FILES_H_
