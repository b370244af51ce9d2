// The environment probe: what a directory's filesystem can be trusted with
// before a journal mode is chosen for a database in it.
//
// It answers three questions, each by observation where one is possible:
//   1. Which filesystem is this? (longest-prefix match in
//      /proc/self/mountinfo; statfs(2) magic as a fallback and a cross-check)
//   2. Does another process see our POSIX and OFD byte-range locks?
//   3. Do two processes that map one file MAP_SHARED see each other's stores?
// and turns the answers into a JournalPolicy.
//
// The probe runs on this host only. It cannot see a second lock domain (a
// second FUSE mount of the same directory, another VM on a shared folder,
// another NFS client); the policy therefore trusts WAL only on filesystems
// that cannot be shared with another kernel or mount, and the instance
// registry watches for foreign lock domains at run time.
//
// Thread safety: every function here is safe for concurrent use.
// ProbeDirectory forks a short-lived child; it is safe to call from a
// multithreaded process (the child makes only async-signal-safe calls).
#ifndef SQLSTEWARD_PROBE_H_
#define SQLSTEWARD_PROBE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/status.h"

namespace sqlsteward {

// One line of /proc/self/mountinfo, unescaped ("\040" -> ' ').
struct MountInfo {
  std::string mount_point;    // "/data"; empty when found by statfs only
  std::string fs_type;        // "ext4", "fuse" (for "fuse.bindfs"), "nfs4"
  std::string fs_subtype;     // "bindfs" for "fuse.bindfs"; else empty
  std::string source;         // "/dev/vda1", "server:/export", "grpcfuse"
  std::string mount_options;  // per-mount: "rw,relatime"
  std::string super_options;  // per-superblock: "rw,vers=4.2,local_lock=none"
  std::string root;           // the mount's root inside its filesystem
  std::string device;         // "major:minor" of the filesystem
};

// Finds the mount that holds `path` in the text of /proc/<pid>/mountinfo:
// the entry with the longest mount point that is `path` or a parent of it
// at a component boundary ("/data" holds "/data/x", not "/database"). When
// several entries share that mount point (mounts stacked on one
// directory), the last one, the visible one, wins.
//
// `path` must be absolute and should be canonical (no symlinks, "." or
// ".."); a trailing '/' is ignored.
// Errors: kInvalidArgument for a relative path or a line that does not
// parse; kNotFound when no entry holds the path.
Result<MountInfo> FindMount(std::string_view mountinfo_text, std::string_view path);

enum class FsKind {
  kLocal,     // ext2, ext3, ext4, xfs, btrfs, zfs, f2fs: a block device
  kTmpfs,     // tmpfs: memory of this kernel
  kOverlay,   // overlay: container root filesystems (Docker, Podman)
  kFuse,      // fuse.*, fuseblk: a user-space daemon decides (bindfs,
              // grpcfuse of Docker Desktop, sshfs, ntfs-3g, ...)
  kVirtiofs,  // virtiofs: a host directory shared into a VM
  kNineP,     // 9p: a host directory shared into a VM or WSL
  kNfs,       // nfs, nfs4
  kCifs,      // cifs, smb3
  kUnknown,
};

// "local", "tmpfs", "overlay", "fuse", "virtiofs", "9p", "nfs", "cifs",
// "unknown".
std::string_view FsKindName(FsKind kind);

// Classifies a mountinfo type; `fs_type` is "fuse" for "fuse.X".
FsKind ClassifyFsType(std::string_view fs_type);

// Classifies statfs(2) f_type. FUSE and virtiofs share one magic, so a
// virtiofs mount comes back as kFuse.
FsKind ClassifyStatfsMagic(std::int64_t f_type);

// The value of `key=` in a comma-separated option list ("local_lock" in
// "rw,vers=4.2,local_lock=none" -> "none"); empty when absent.
std::string_view MountOptionValue(std::string_view options, std::string_view key);

// True when the comma-separated option list contains the bare flag `flag`
// ("nobrl" in "rw,nobrl,vers=3.0").
bool HasMountOption(std::string_view options, std::string_view flag);

struct ProbeReport {
  // The canonical directory that was probed.
  std::string directory;
  MountInfo mount;
  FsKind kind = FsKind::kUnknown;
  // nfs only: local_lock= from the mount options ("none", "all", "posix",
  // "flock"); empty otherwise. "all" and "posix" keep POSIX locks on this
  // client: processes on other hosts do not see them.
  std::string nfs_local_lock;
  // A write lock that a child process held on the probe file was visible to
  // this process through F_GETLK / F_OFD_GETLK.
  bool posix_locks_visible = false;
  bool ofd_locks_visible = false;
  // Values stored by a child through its MAP_SHARED mapping were read back
  // through ours, and the other way round.
  bool shared_memory_coherent = false;
  // The disk was full (ENOSPC, EDQUOT) or mounted read-only (EROFS) so
  // the probe file could not be written, and the filesystem is one only this kernel serves (local,
  // tmpfs, overlay): the three answers above are taken from its kind, not
  // observed. Such a report is not cached.
  bool inferred = false;
  // One sentence per conclusion, saying how it was reached.
  std::vector<std::string> reasons;
};

// Probes `dir` (which must exist and be writable: a probe file
// ".sqlsteward-probe-<pid>-<random>" is created in it and removed again).
// Forks twice; about 1 ms on a local disk, 1.5 ms through FUSE; fork's
// cost grows with the caller's address space.
// On a full or read-only local disk the probe file cannot be written: the report is
// then inferred from the filesystem's kind (ProbeReport::inferred), so
// that a full disk fails writes, not every open.
// Errors: kNotFound (no such directory), kInvalidArgument (not a
// directory), kPermissionDenied (cannot create the probe file, including a
// read-only filesystem), kResourceExhausted (a full disk that is not
// local), kTimeout (a child did not answer within 5 s: the
// filesystem may be hung), kResourceExhausted, kIOError.
Result<ProbeReport> ProbeDirectory(const std::string& dir);

// As ProbeDirectory, but the first successful report for a directory is
// kept for the life of the process and returned again (a warm call costs an
// open and an fstat). The key is the directory's device and inode, so a
// directory that gets a new filesystem mounted over it is probed afresh.
// Errors are not cached. Concurrent cold calls for one directory may each
// probe; the first report stored wins.
Result<ProbeReport> ProbeDirectoryCached(const std::string& dir);

// Forgets every cached report (tests; after remounting).
void ClearProbeCache();

struct JournalPolicy {
  // WAL is safe for the sharing allowed below.
  bool allow_wal = false;
  // A rollback journal (DELETE) is safe for the sharing allowed below.
  bool allow_rollback = false;
  // More than one process may open the database. When false, only one
  // process (an exclusive instance) may use it.
  bool allow_multi_process = false;
  // Why, in sentences an operator can act on.
  std::string reason;
};

// WAL only where shared memory is coherent, locks are visible and the
// filesystem cannot be shared with another kernel or FUSE mount (network,
// VM-shared and FUSE filesystems are refused WAL even when the probe
// passed, since the probe sees this host only); a rollback journal where
// locks work; one process only where locks are not visible.
JournalPolicy ChoosePolicy(const ProbeReport& report);

}  // namespace sqlsteward

#endif  // SQLSTEWARD_PROBE_H_
