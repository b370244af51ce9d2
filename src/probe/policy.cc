// ChoosePolicy (sqlsteward/probe.h): locks not visible -> one process only;
// shared memory not coherent, or a filesystem that another kernel or mount
// can share -> rollback journal; otherwise WAL.
#include "probe/mounts.h"
#include "sqlsteward/probe.h"

namespace sqlsteward {

using probe_internal::FullMountType;
using probe_internal::SingleDomainFilesystem;

JournalPolicy ChoosePolicy(const ProbeReport& report) {
  JournalPolicy policy;
  std::string where = report.directory.empty() ? std::string("this directory") : report.directory;
  std::string fs = FullMountType(report.mount);
  if (fs.empty()) fs = std::string(FsKindName(report.kind));
  where += " (" + fs + ")";

  if (!report.posix_locks_visible || !report.ofd_locks_visible) {
    policy.allow_multi_process = false;
    policy.allow_rollback = true;
    policy.allow_wal = false;
    std::string which = !report.posix_locks_visible && !report.ofd_locks_visible
                            ? "POSIX and OFD locks"
                        : !report.posix_locks_visible ? "POSIX locks"
                                                      : "OFD locks";
    policy.reason = which + " taken by one process are not visible to another on " + where +
                    ", so nothing keeps two processes from writing at once: only one process may "
                    "use a database here (exclusive mode, rollback journal). To share it, move it "
                    "to a local filesystem (for a container: a named volume, not a bind mount).";
    return policy;
  }

  policy.allow_multi_process = true;
  policy.allow_rollback = true;
  if (!report.shared_memory_coherent) {
    policy.allow_wal = false;
    policy.reason = "Locks work on " + where +
                    ", but two processes mapping one file MAP_SHARED did not see each other's "
                    "writes, so WAL's shared-memory index would diverge: use a rollback journal.";
  } else if (!SingleDomainFilesystem(report.kind)) {
    policy.allow_wal = false;
    std::string what = report.kind == FsKind::kUnknown
                           ? "filesystems of a type sqlsteward does not know"
                           : std::string(FsKindName(report.kind)) + " filesystems";
    policy.reason = "Locks and shared memory passed the probe on " + where + ", but " + what +
                    " can be reached through another mount, VM or host that a probe run here "
                    "cannot see, and WAL's shared memory is only shared within one kernel and "
                    "mount: use a rollback journal. Share the database only among processes that "
                    "use this same mount on this host.";
  } else {
    policy.allow_wal = true;
    policy.reason = "Locks and shared memory work between processes on " + where +
                    ", a filesystem only this kernel serves: WAL is safe.";
  }
  if (report.nfs_local_lock == "all" || report.nfs_local_lock == "posix") {
    policy.reason += " nfs local_lock=" + report.nfs_local_lock +
                     " keeps locks on this client: processes on other hosts must not open the "
                     "database.";
  }
  if (report.kind == FsKind::kCifs && (HasMountOption(report.mount.super_options, "nobrl") ||
                                       HasMountOption(report.mount.mount_options, "nobrl"))) {
    policy.reason +=
        " cifs nobrl keeps locks on this client: other SMB clients must not open the "
        "database.";
  }
  return policy;
}

}  // namespace sqlsteward
