// The temporary file a snapshot is copied into before it is published, and
// the cleaning up of temporaries that crashed snapshotters left behind.
//
// `.snapshot-<hex>.tmp` (names.h) is created O_CREAT|O_EXCL|O_NOFOLLOW,
// 0600, in the destination directory (so that the final rename is atomic),
// and the creator takes an OFD write lock on its byte 0 (SQLite's own locks
// on a database file live at 1 GiB and above, so they never meet it). The
// lock is the "in use" mark: a cleaner removes a temporary only when it can
// take that lock. The creator re-checks after locking that the name still
// refers to its file, which closes the window between create and lock.
// The manifest's temporary `.snapshot-<hex>.manifest.tmp` shares the hex
// and goes with it.
//
// Thread safety: a TempSnapshot is used by one thread at a time, except
// that once the copy is closed, Sync(), fd() and path() may be called
// concurrently (the fsync, the checksum and the integrity check run side by
// side). RemoveStaleTemporaries is safe for concurrent use, also with other
// processes' snapshotters.
#ifndef SQLSTEWARD_SNAPSHOT_TEMP_FILE_H_
#define SQLSTEWARD_SNAPSHOT_TEMP_FILE_H_

#include <sqlite3.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "posix/env.h"
#include "snapshot/sqlite_util.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// The temporary snapshot file and the SQLite connection that writes it.
// Removes both temporaries at destruction unless Publish()ed.
class TempSnapshot {
 public:
  // Creates and locks a new temporary in `dir`.
  static Result<std::unique_ptr<TempSnapshot>> Create(posix::Env* env, const std::string& dir);

  TempSnapshot(const TempSnapshot&) = delete;
  TempSnapshot& operator=(const TempSnapshot&) = delete;
  ~TempSnapshot();

  // The destination connection, opened on first use, through the VFS that
  // gathers page writes (writer_vfs.h).
  Result<sqlite3*> Connection();

  // Closes the connection; SQLite has then written everything to the file.
  Status CloseConnection();

  // Starts writeback of what the copy has written so far, once more than
  // kWritebackBytes are new. A snapshot of 1 GiB would otherwise reach its
  // fsync with 1 GiB dirty in the page cache, and flushing it in one go
  // delays everyone's fsyncs on the same disk (the writers' commits);
  // written back as it goes, the final fsync has little left to do.
  // At most two ranges are in flight: the copy waits for the previous one
  // before going on, so the disk's queue never holds more than about
  // 2 * kWritebackBytes of ours ahead of a writer's fsync.
  // Advisory: errors are ignored (fsync reports them).
  void StartWriteback();

  // Reserves the copy's blocks up front, beyond the end of the (empty)
  // file. On ext4 in data=ordered mode, blocks allocated as the copy is
  // written back join the journal transaction that a writer's fdatasync
  // commits, and that commit first waits for their data: reserved
  // beforehand, the copy's writeback no longer holds up the application's
  // commits. A full disk is reported now, before anything is copied.
  // Filesystems without fallocate are fine.
  Status Preallocate(std::int64_t bytes);

  // Writes all of `data` at `offset` of the file, through the Env (the
  // file copy's writes; the backup API writes through SQLite's VFS).
  Status WriteAt(const void* data, std::size_t len, off_t offset);

  // Empties the file for a fresh copy.
  Status Reset();

  // A copy of a WAL database says "WAL" in header bytes 18-19; a snapshot
  // is a single rollback-journal file.
  Status ResetWalHeader();

  Status Sync();
  Result<std::int64_t> Size();

  // Writes the manifest temporary (0600, fsynced).
  Status WriteManifest(const std::string& json);

  // Renames the manifest, then the snapshot, to their final names. The
  // caller fsyncs the directory.
  Status Publish(const std::string& snapshot_path, const std::string& manifest_path);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  TempSnapshot(posix::Env* env, std::string dir, std::string hex, std::string path, int fd)
      : env_(env),
        dir_(std::move(dir)),
        hex_(std::move(hex)),
        path_(std::move(path)),
        fd_(env, fd) {}

  static constexpr off_t kWritebackBytes = 4 << 20;

  posix::Env* env_;
  std::string dir_;
  std::string hex_;
  std::string path_;
  std::string manifest_path_;

  posix::UniqueFd fd_;  // Holds the OFD lock that marks the file in use.
  SqliteHandle conn_;
  off_t writeback_from_ = 0;  // Writeback not started from here on.
  off_t inflight_from_ = 0;   // Started, not waited for, from here to writeback_from_.
  bool published_ = false;
};

// Removes `.snapshot-*.tmp` files in `dir` whose writer is gone (their lock
// is free), with their manifest temporaries, and, when no writer holds a
// temporary, published manifests whose snapshot is missing (a crash between
// the two renames of Publish); only regular files owned by our effective
// uid, never a link, a FIFO or another user's file. Returns the paths
// removed.
Result<std::vector<std::string>> RemoveStaleTemporaries(posix::Env* env, const std::string& dir);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_TEMP_FILE_H_
