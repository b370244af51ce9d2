// Which filesystem holds a directory, and how far it can be trusted.
//
// The environment probe.
//
// Why each probe exists:
//
// * Mount table. The filesystem type decides what can be trusted beyond
//   what a test on this host can show. A FUSE, virtiofs, 9p, NFS or SMB
//   directory can be reached at the same time through another mount, VM or
//   host whose locks and page cache never meet ours (opencode #14194: Docker
//   Desktop's grpcfuse), and no test run here can see that other side. We
//   take the longest mount point in /proc/self/mountinfo that holds the
//   canonical directory, because statfs(2) alone cannot tell virtiofs from
//   any other FUSE filesystem. statfs is the fallback when mountinfo is
//   unreadable, and a cross-check: it describes the very inode we opened,
//   so when the two disagree (a mount hidden under a later one) statfs wins.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_PROBE_MOUNTS_H_
#define SQLSTEWARD_PROBE_MOUNTS_H_

#include <cstdint>
#include <string>

#include "posix/env.h"
#include "sqlsteward/probe.h"
#include "sqlsteward/status.h"

namespace sqlsteward::probe_internal {

// "fuse.bindfs", "ext4": the type as mountinfo spells it.
std::string FullMountType(const MountInfo& mount);

// The name of a statfs(2) magic ("tmpfs"), "unknown" when not known.
const char* StatfsMagicName(std::int64_t f_type);

// Fills report->mount, kind, nfs_local_lock and the reasons for them, for
// the directory open as `dir_fd` whose canonical path is report->directory.
void IdentifyFilesystem(posix::Env* env, int dir_fd, ProbeReport* report);

// True where every process that can open the directory runs on this
// kernel and goes through this mount's page cache and lock table, so that
// what the probe saw holds for all of them.
bool SingleDomainFilesystem(FsKind kind);

}  // namespace sqlsteward::probe_internal

#endif  // SQLSTEWARD_PROBE_MOUNTS_H_
