// ProbeDirectory: what a directory's filesystem can be trusted with, by
// observation where one is possible (see sqlsteward/probe.h for the three
// questions). Which filesystem it is comes from mounts.h; whether locks
// and shared memory reach another process, from the lock and
// shared-memory probes (probes.h), each run with a forked child (child.h)
// on a short-lived probe file.
//
// Why two probes. Lock probe: SQLite keeps processes apart with POSIX byte-range locks;
//   our write queue and registry use OFD locks. Both only help if a lock
//   taken by one process is seen by another. A FUSE daemon, an NFS client
//   without lockd or an SMB mount with nobrl can accept a lock and keep it
//   to itself. So a child process takes a POSIX lock on one byte and an OFD
//   lock on another byte of a probe file, through its own open(), and waits;
//   we ask F_GETLK / F_OFD_GETLK through our own descriptor. The child holds
//   the locks until we tell it to go, so no sleep decides the outcome.
//
// Shared-memory probe: WAL's index (<db>-shm) is a file mapped MAP_SHARED
//   by every process; if their mappings are not one memory, readers and
//   writers work from different indexes and the database is corrupted while
//   every commit "succeeds". A child maps the probe file and stores a nonce;
//   we wait for it to show in our own mapping, then store another nonce for
//   the child to see. A value that arrives answers at once; one that never
//   arrives is only known after a deadline (1 s). A child whose view of the
//   file is shorter than ours (stale FUSE attributes) would die of SIGBUS
//   on touching the mapping: it checks the size first, and a SIGBUS death is
//   a negative answer too. Through two bindfs mounts of one directory both
//   probes answer no (probe_test measures it).
//
// A full disk or a read-only mount. The probe file is the one thing the
//   probe writes, and on a full disk it cannot be: a page for the
//   shared-memory probe fails with ENOSPC (EDQUOT over quota); on a
//   read-only mount (EROFS) not even the file can be created. Failing the open there would fail every
//   command, reads and snapshots to another disk included, over a question
//   the filesystem's kind already answers where only this kernel serves it
//   (local, tmpfs, overlay: locks and shared memory always work). There the
//   report is inferred from the kind, and not cached, so the next open with
//   space probes for real; elsewhere the failure is the error. Writes still
//   fail, later, with their own typed error (full disk, read-only mount).
//
// A successful report is cached per directory (device and inode) for the
// life of the process.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>

#include "base/mutex.h"
#include "base/status_builders.h"
#include "probe/mounts.h"
#include "probe/probes.h"

namespace sqlsteward {
namespace probe_internal {
namespace {

Result<posix::UniqueFd> OpenDirectory(posix::Env* env, const std::string& dir) {
  int fd = env->Open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (fd >= 0) return posix::UniqueFd(env, fd);
  int err = errno;
  if (err == ENOTDIR) {
    return InvalidArgument("probe: " + dir + " is not a directory", {}, 0, err);
  }
  if (err == ENOENT) {
    return posix::ErrnoStatus(err, "open", dir,
                              "create the directory before opening a database in it");
  }
  return posix::ErrnoStatus(err, "open", dir);
}

struct CacheKey {
  dev_t dev;
  ino_t ino;
  auto operator<=>(const CacheKey&) const = default;
};

struct ProbeCache {
  Mutex mu;
  std::map<CacheKey, ProbeReport> reports GUARDED_BY(mu);
};

ProbeCache& Cache() {
  static ProbeCache* cache = new ProbeCache;  // never destroyed: no exit-order hazards
  return *cache;
}

// The probe file could not be written for want of space, or at all: the
// filesystem is mounted read-only (nothing writes through this mount, and
// a read must not fail over the probe).
bool CannotWrite(const Status& status) {
  const int err = status.sys_errno();
  return err == ENOSPC || err == EDQUOT || err == EROFS;
}

// The answers every single-domain filesystem gives, for a probe that could
// not write its file.
ProbeReport InferFromKind(ProbeReport report, const Status& failed) {
  report.inferred = true;
  report.posix_locks_visible = true;
  report.ofd_locks_visible = true;
  report.shared_memory_coherent = true;
  const char* why = failed.sys_errno() == EROFS ? "the filesystem is mounted read-only"
                                                : "the disk is full";
  report.reasons.push_back("the probe could not write its file (" +
                           std::string(failed.message()) + "): " + why +
                           ", so locks and shared memory were not observed but assumed from "
                           "the filesystem's kind (" +
                           std::string(FsKindName(report.kind)) +
                           "), where they always work; probed again once there is space");
  return report;
}

Result<CacheKey> DirectoryKey(posix::Env* env, const std::string& dir) {
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd fd, OpenDirectory(env, dir));
  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return posix::ErrnoStatus(errno, "fstat", dir);
  return CacheKey{st.st_dev, st.st_ino};
}

}  // namespace

Result<ProbeReport> ProbeDirectory(posix::Env* env, const std::string& dir) {
  if (dir.empty()) return InvalidArgument("probe: empty directory path");
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd dir_fd, OpenDirectory(env, dir));
  ProbeReport report;
  if (env->RealPath(dir.c_str(), &report.directory) != 0) {
    return posix::ErrnoStatus(errno, "realpath", dir);
  }
  IdentifyFilesystem(env, dir_fd.get(), &report);

  const bool may_infer = SingleDomainFilesystem(report.kind);
  auto file = ProbeFile::Create(env, report.directory);
  if (!file.has_value()) {
    if (may_infer && CannotWrite(file.error())) return InferFromKind(std::move(report), file.error());
    return std::move(file).error();
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(LockProbeResult locks, RunLockProbe(env, *file));
  report.posix_locks_visible = locks.posix_visible;
  report.ofd_locks_visible = locks.ofd_visible;
  report.reasons.push_back(std::move(locks.detail));

  auto shm = RunMmapProbe(env, *file);
  if (!shm.has_value()) {
    if (may_infer && CannotWrite(shm.error())) return InferFromKind(std::move(report), shm.error());
    return std::move(shm).error();
  }
  report.shared_memory_coherent = shm->coherent;
  report.reasons.push_back(std::move(shm->detail));
  return report;
}

Result<ProbeReport> ProbeDirectoryCached(posix::Env* env, const std::string& dir) {
  if (dir.empty()) return InvalidArgument("probe: empty directory path");
  SQLSTEWARD_ASSIGN_OR_RETURN(CacheKey key, DirectoryKey(env, dir));
  ProbeCache& cache = Cache();
  {
    MutexLock lock(&cache.mu);
    auto it = cache.reports.find(key);
    if (it != cache.reports.end()) return it->second;
  }
  // Probe without the lock: a hung mount must not stall probes elsewhere.
  SQLSTEWARD_ASSIGN_OR_RETURN(ProbeReport report, ProbeDirectory(env, dir));
  if (report.inferred) return report;
  MutexLock lock(&cache.mu);
  return cache.reports.try_emplace(key, std::move(report)).first->second;
}

}  // namespace probe_internal

Result<ProbeReport> ProbeDirectory(const std::string& dir) {
  return probe_internal::ProbeDirectory(posix::Env::Default(), dir);
}

Result<ProbeReport> ProbeDirectoryCached(const std::string& dir) {
  return probe_internal::ProbeDirectoryCached(posix::Env::Default(), dir);
}

void ClearProbeCache() {
  probe_internal::ProbeCache& cache = probe_internal::Cache();
  MutexLock lock(&cache.mu);
  cache.reports.clear();
}

}  // namespace sqlsteward
