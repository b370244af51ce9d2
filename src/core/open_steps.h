// The steps Database::Open takes around SQLite that only the library
// needs; the checks of the database's files, which the extension shares,
// are in sidecar/database_files.h. The sidecar is opened, then the writer
// connection under the cross-process write lock (so a journal-mode change
// never races another sqlsteward writer); reader connections open lazily.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_CORE_OPEN_STEPS_H_
#define SQLSTEWARD_CORE_OPEN_STEPS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/connection.h"
#include "posix/env.h"
#include "sidecar/database_files.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// The writer's connection, opened under the cross-process write lock (its
// first read may roll back a hot journal), waiting out a stale directory
// entry on filesystems that cache them (core/stale_entry.h).
Result<std::unique_ptr<Connection>> OpenWriter(WriteLock& write_lock, posix::Env* env,
                                               const std::string& path, const Options& opts,
                                               std::chrono::steady_clock::time_point deadline,
                                               std::atomic<std::uint64_t>* busy);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_OPEN_STEPS_H_
