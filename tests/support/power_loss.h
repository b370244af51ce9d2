// PowerLoss: a simulated loss of power at a chosen sync point, for helper
// processes that a test runs once per crash point.
//
// A process crash keeps everything the kernel was given. A power loss
// keeps only what was synced: every write since a file's last fsync may be
// lost, torn (some of its sectors written, others not) or reordered, and a
// directory operation (create, unlink, rename, mkdir) not followed by an
// fsync of its directory may be undone. This model holds both of the
// process's I/O paths:
//
//   - SQLite's files, through the "powerloss" VFS (InstallVfs()): SQLite's
//     default VFS with every write, truncate, sync, create and delete
//     reported here. It mirrors the unix VFS's own directory syncs: the
//     first sync of a journal or WAL it created, and a delete asked to
//     sync the directory.
//   - sqlsteward's own files (sidecar, snapshots, manifests, temporaries,
//     directory entries), through PowerLossEnv, handed to the code under
//     test like FaultEnv.
//
// Writes go through to the real files, so everything reads back as usual;
// what each changed is recorded (the bytes it replaced, the size before)
// until its file is synced, and directory operations until their
// directory is. Every fsync (of a file or a directory, from either path)
// is a sync point, counted in one sequence. At the armed point, before that
// sync runs, Crash() rewinds each file to its state at its last sync, then
// (kRandom) replays each unsynced write whole, torn by 512-byte sector, or
// not at all, chosen by the seed; undoes every pending directory operation
// (kDropAll), or keeps a random prefix of them (kRandom: a journalling
// filesystem commits metadata in order); and kills the process with
// SIGKILL. Crash() can also be called directly, for a crash after the
// workload's last write.
//
// Directory entries that an unlink or a replacing rename removed are kept
// as hard links in the set-aside directory given to Arm() (on the same
// filesystem), so that undoing the operation can bring the file back.
//
// Thread safety: one process-wide model (SQLite's VFS is process-wide);
// every recorded operation and the system call it records run under one
// mutex, so a crash never interleaves with a write.
#ifndef SQLSTEWARD_TESTS_SUPPORT_POWER_LOSS_H_
#define SQLSTEWARD_TESTS_SUPPORT_POWER_LOSS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "posix/env.h"

namespace sqlsteward::testing {

enum class PowerLossMode {
  kDropAll,  // Every unsynced write and directory operation is lost.
  kRandom,   // Each write kept, torn or lost; a prefix of directory ops kept.
};

class PowerLoss {
 public:
  static PowerLoss& Get();

  // Registers the "powerloss" VFS over SQLite's default VFS and makes it
  // the default. Call before the first connection is opened.
  static void InstallVfs();

  // Crash just before sync point `nth` (1: the first; 0: never), keeping
  // set-aside entries in `aside_dir`.
  void Arm(int nth, PowerLossMode mode, std::uint64_t seed, std::string aside_dir);
  // Sync points passed so far.
  int SyncPoints();
  // Loses power now.
  [[noreturn]] void Crash();

  // For the VFS and PowerLossEnv. Hold() takes the model's lock; the caller
  // keeps it while it asks Before*, makes the system call and reports the
  // outcome with the matching call below. A file is named by `fd` when it
  // is open (its identity survives renames), else by `path`.
  std::unique_lock<std::mutex> Hold() { return std::unique_lock<std::mutex>(mu_); }
  struct PreImage {
    dev_t dev = 0;
    ino_t ino = 0;
    bool tracked = false;  // False when the file could not be looked at.
    off_t offset = 0;
    std::string bytes;  // What [offset, offset + len) held, within the old size.
    off_t old_size = 0;
  };
  PreImage BeforeWrite(const std::string& path, int fd, off_t offset, std::size_t len);
  void AfterWrite(const PreImage& pre, const void* data, std::size_t len);
  PreImage BeforeResize(const std::string& path, int fd, off_t new_size);
  void AfterResize(const PreImage& pre, off_t new_size);
  // A sync point: crashes here when armed for it.
  void SyncPoint();
  void FileSynced(const std::string& path, int fd);
  void DirectorySynced(const std::string& dir);
  bool Exists(const std::string& path);
  void Created(const std::string& path, bool directory);
  // Keeps the entry about to be removed as a hard link; "" if none.
  std::string SetAside(const std::string& path);
  void Unlinked(const std::string& path, std::string aside);
  void Renamed(const std::string& from, const std::string& to, std::string aside_of_to);
  // Removes a set-aside link whose operation failed.
  void Discard(const std::string& aside);

 private:
  struct FileOp {
    PreImage pre;
    std::string data;     // Written; empty for a resize.
    off_t new_size = -1;  // A resize's; -1 for a write.
  };
  struct Tracked {
    int fd = -1;  // Read-write, opened through /proc/self/fd or the path.
    std::vector<FileOp> ops;
  };
  struct DirOp {
    enum Kind { kCreate, kMkdir, kUnlink, kRename } kind;
    std::string path;   // Created or removed; for a rename, the old name.
    std::string to;     // A rename's new name.
    std::string aside;  // The removed entry, set aside.
  };
  PreImage Look(const std::string& path, int fd, off_t offset, std::size_t len);
  Tracked* Track(const PreImage& pre, const std::string& path, int fd);
  std::uint64_t Random();
  [[noreturn]] void CrashLocked();
  void Rewind(const Tracked& file);
  void Replay(const Tracked& file);
  void Undo(const DirOp& op);

  std::mutex mu_;
  int crash_at_ = 0;
  int syncs_ = 0;
  PowerLossMode mode_ = PowerLossMode::kDropAll;
  std::uint64_t rng_ = 0;
  std::string aside_dir_;
  int asides_ = 0;
  std::map<std::pair<dev_t, ino_t>, Tracked> files_;  // With unsynced writes.
  std::vector<DirOp> dir_ops_;                        // Unsynced, in order.
};

// posix::Env's real system calls, each reported to PowerLoss::Get().
class PowerLossEnv : public posix::Env {
 public:
  int Close(int fd) override;
  int Mkdir(const char* path, mode_t mode) override;
  int Rename(const char* from, const char* to) override;
  int RenameNoReplace(const char* from, const char* to) override;
  int Unlink(const char* path) override;

 protected:
  int DoOpen(const char* path, int flags, mode_t mode) override;
  ssize_t DoPwrite(int fd, const void* buf, std::size_t len, off_t offset) override;
  int DoFsync(int fd) override;
  int DoFtruncate(int fd, off_t length) override;
  int DoFallocate(int fd, int mode, off_t offset, off_t len) override;

 private:
  std::string PathOf(int fd);

  std::mutex mu_;
  std::map<int, std::string> fd_paths_;
};

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_POWER_LOSS_H_
