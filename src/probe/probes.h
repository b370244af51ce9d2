// The probe's internal entry points: ProbeDirectory with the Env to use (the
// public functions pass Env::Default()), and the two multi-process probes
// behind it, exposed for tests.
#ifndef SQLSTEWARD_PROBE_PROBES_H_
#define SQLSTEWARD_PROBE_PROBES_H_

#include <chrono>
#include <string>
#include <utility>

#include "posix/env.h"
#include "sqlsteward/probe.h"
#include "sqlsteward/status.h"

namespace sqlsteward::probe_internal {

// As sqlsteward::ProbeDirectory and ProbeDirectoryCached (probe.h), through
// `env`; the forked children make raw calls, since they stand in for
// another process.
Result<ProbeReport> ProbeDirectory(posix::Env* env, const std::string& dir);
Result<ProbeReport> ProbeDirectoryCached(posix::Env* env, const std::string& dir);

// A file ".sqlsteward-probe-<pid>-<random>" created O_CREAT|O_EXCL|
// O_NOFOLLOW, 0600, in a directory; unlinked and closed on destruction.
// Not thread-safe; one owner.
class ProbeFile {
 public:
  static Result<ProbeFile> Create(posix::Env* env, const std::string& dir);

  ProbeFile(ProbeFile&& other) noexcept;
  ProbeFile& operator=(ProbeFile&&) = delete;
  ProbeFile(const ProbeFile&) = delete;
  ProbeFile& operator=(const ProbeFile&) = delete;
  ~ProbeFile();

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

 private:
  ProbeFile(posix::Env* env, std::string path, posix::UniqueFd fd)
      : env_(env), path_(std::move(path)), fd_(std::move(fd)) {}

  posix::Env* env_;
  std::string path_;  // empty once moved from
  posix::UniqueFd fd_;
};

struct LockProbeResult {
  bool posix_visible = false;
  bool ofd_visible = false;
  // A sentence on what was seen (or which call failed in the child).
  std::string detail;
};

// A child opens `file` by path and takes a POSIX write lock on one byte and
// an OFD write lock on another; this process, through its own descriptor,
// asks F_GETLK / F_OFD_GETLK whether it sees them while the child holds
// them. The child cannot release them before we looked: it waits for us.
// `child_path`, when not empty, is where the child opens the file instead
// of file.path() (tests: the same file through a second mount).
// Errors: kTimeout when the child does not answer within `child_timeout`;
// kInternal/kIOError when the child could not be started or died.
Result<LockProbeResult> RunLockProbe(
    posix::Env* env, const ProbeFile& file, const std::string& child_path = {},
    std::chrono::milliseconds child_timeout = std::chrono::seconds(5));

struct MmapProbeResult {
  bool coherent = false;
  std::string detail;
};

// This process and a child each map the first page of `file` MAP_SHARED
// through their own descriptor. The child stores a nonce and says so; we
// wait up to `value_deadline` for it to appear in our mapping, then store
// another nonce and the child waits for that one. A mapping that cannot be
// created (ENODEV on a direct_io FUSE mount) is a negative result, not an
// error. `child_path` and errors as for RunLockProbe.
Result<MmapProbeResult> RunMmapProbe(
    posix::Env* env, const ProbeFile& file, const std::string& child_path = {},
    std::chrono::milliseconds value_deadline = std::chrono::seconds(1),
    std::chrono::milliseconds child_timeout = std::chrono::seconds(5));

}  // namespace sqlsteward::probe_internal

#endif  // SQLSTEWARD_PROBE_PROBES_H_
