#include "core/open_steps.h"

#include <unistd.h>

#include <cerrno>
#include <thread>

#include "base/status_builders.h"
#include "posix/fs.h"
#include "probe/probes.h"
#include "sqlsteward/probe.h"

namespace sqlsteward::internal {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// How long Open waits out a file of the database that this host's
// directory-entry cache still shows after another mount or host removed
// it (see OpenWriter). FUSE's default entry_timeout is 1 s.
constexpr auto kStaleEntryWait = std::chrono::seconds(5);
constexpr auto kStaleEntryRetry = std::chrono::milliseconds(50);

// The writer's connection, opened under the cross-process write lock (its
// first read may roll back a hot journal). On a filesystem whose clients
// cache directory entries (FUSE, virtiofs, network filesystems), a
// -journal just deleted through another mount can still look present
// here, and SQLite's open of it fails with ENOENT (kNotFound) until the
// cache expires: that is retried, the lock released in between, for up to
// kStaleEntryWait within the deadline.
Result<std::unique_ptr<Connection>> OpenWriter(WriteLock& write_lock, posix::Env* env,
                                               const std::string& path, const Options& opts,
                                               Clock::time_point deadline,
                                               std::atomic<std::uint64_t>* busy) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up = std::min(deadline, start + kStaleEntryWait);
  for (int attempt = 1;; ++attempt) {
    SQLSTEWARD_RETURN_IF_ERROR(write_lock.Acquire(deadline).WithContext("open " + path));
    auto writer = Connection::Open(env, path, Role::kWriter, opts, deadline, busy);
    write_lock.Release();
    if (writer.has_value() || writer.error().code() != StatusCode::kNotFound) return writer;
    auto report = probe_internal::ProbeDirectoryCached(env, posix::DirName(path));
    if (!report.has_value() || report->kind == FsKind::kLocal || report->kind == FsKind::kTmpfs ||
        report->kind == FsKind::kOverlay) {
      return writer;
    }
    if (Clock::now() + kStaleEntryRetry >= give_up) {
      const Status& error = writer.error();
      return NotFound(
          std::string(error.message()) + " (" + std::to_string(attempt) + " attempts in " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)
                      .count()) +
              " ms)",
          "the database exists, but a file beside it (its -journal) could not be "
          "opened: on " +
              std::string(FsKindName(report->kind)) +
              " a file removed through another mount or host can stay listed in "
              "this host's directory-entry cache; retry, or mount with a shorter "
              "entry cache (FUSE entry_timeout, NFS actimeo)",
          error.sqlite_code(), error.sys_errno());
    }
    std::this_thread::sleep_for(kStaleEntryRetry);
  }
}

}  // namespace sqlsteward::internal
