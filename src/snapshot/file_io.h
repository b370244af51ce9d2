// Whole-buffer reads and writes and directory listings through posix::Env,
// with errors as Status, for the files the snapshotter reads and writes
// itself (manifests, the bytes it hashes, the copy's header) rather than
// through SQLite.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_SNAPSHOT_FILE_IO_H_
#define SQLSTEWARD_SNAPSHOT_FILE_IO_H_

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// Writes all of `data` at offset 0 of `fd`; a write of nothing is ENOSPC.
Status WriteAll(posix::Env* env, int fd, std::string_view data, const std::string& path);

// Reads up to `len` bytes at `offset` into `buf`; *got is less than `len`
// only at the end of the file.
Status ReadAt(posix::Env* env, int fd, void* buf, std::size_t len, off_t offset,
              const std::string& path, std::size_t* got);

// The names in `dir` but "." and "..".
Result<std::vector<std::string>> ListNames(posix::Env* env, const std::string& dir);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_FILE_IO_H_
