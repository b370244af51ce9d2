// Directory helpers built on Env: paths, creation, durability of entries.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_POSIX_FS_H_
#define SQLSTEWARD_POSIX_FS_H_

#include <string>
#include <string_view>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::posix {

// fsyncs the directory `dir` so that entries created or renamed in it survive
// power loss.
Status SyncDirectory(Env* env, const std::string& dir);

// Creates `dir` and its missing parents, each 0700. A link to a directory
// counts as one. kInvalidArgument with `not_a_directory_hint` when `dir`
// (or a parent) exists and is not a directory.
Status MakeDirectories(Env* env, const std::string& dir, std::string_view not_a_directory_hint);

// "/a/b/c.db" -> "/a/b"; "c.db" -> ".".
std::string DirName(const std::string& path);

}  // namespace sqlsteward::posix

#endif  // SQLSTEWARD_POSIX_FS_H_
