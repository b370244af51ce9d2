#include "core/open_steps.h"

#include <unistd.h>

#include "core/stale_entry.h"
#include "posix/fs.h"
#include "probe/probes.h"
#include "sqlsteward/probe.h"

namespace sqlsteward::internal {

// The writer's connection, opened under the cross-process write lock (its
// first read may roll back a hot journal). A -journal that this host's
// directory-entry cache still lists is waited out (core/stale_entry.h).
Result<std::unique_ptr<Connection>> OpenWriter(WriteLock& write_lock, posix::Env* env,
                                               const std::string& path, const Options& opts,
                                               std::chrono::steady_clock::time_point deadline,
                                               std::atomic<std::uint64_t>* busy) {
  StaleEntryWait stale;
  while (true) {
    SQLSTEWARD_RETURN_IF_ERROR(write_lock.Acquire(deadline).WithContext("open " + path));
    auto writer = Connection::Open(env, path, Role::kWriter, opts, deadline, busy);
    write_lock.Release();
    if (writer.has_value() || writer.error().code() != StatusCode::kNotFound) return writer;
    auto report = probe_internal::ProbeDirectoryCached(env, posix::DirName(path));
    if (!report.has_value()) return writer;
    Status error = std::move(writer).error();
    if (!stale.Retry(report->kind, "open " + path, deadline, &error)) return error;
  }
}

}  // namespace sqlsteward::internal
