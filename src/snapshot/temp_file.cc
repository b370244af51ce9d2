#include "snapshot/temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include "base/status_builders.h"
#include "core/connection.h"
#include "snapshot/file_io.h"
#include "snapshot/names.h"
#include "snapshot/writer_vfs.h"

namespace sqlsteward::internal {
namespace {

std::string RandomHex() {
  static std::atomic<std::uint64_t> counter{0};
  std::random_device device;
  std::uint64_t value = (std::uint64_t{device()} << 32) ^ std::uint64_t{device()} ^
                        (counter.fetch_add(1) * 0x9e3779b97f4a7c15ULL);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = kDigits[(value >> (4 * i)) & 0xf];
  return out;
}

// F_OFD_SETLK on byte 0: `type` F_WRLCK or F_UNLCK. Returns 0 or -1/errno.
int LockByteZero(posix::Env* env, int fd, short type) {
  struct flock lock = {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 1;
  return env->FcntlLock(fd, F_OFD_SETLK, &lock);
}

// Whether `path` is a regular file (not followed if a link) of our
// effective uid: a cleaner removes only temporaries it could have made.
bool IsOwnRegularFile(posix::Env* env, const std::string& path) {
  struct stat st;
  return env->Lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid();
}

// Removes the snapshot temporary `name` and its manifest temporary when no
// live writer holds its lock and both are our own regular files. Returns
// whether the snapshot temporary went.
bool RemoveIfStale(posix::Env* env, const std::string& dir, const std::string& name) {
  const std::string hex =
      name.substr(kTempPrefix.size(), name.size() - kTempPrefix.size() - kTempSuffix.size());
  const std::string path = JoinPath(dir, name);
  // O_NONBLOCK: a FIFO of that name is judged by fstat, never waited on.
  int fd = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0) return false;  // Gone meanwhile, or not ours to judge.
  posix::UniqueFd guard(env, fd);
  struct stat st;
  if (env->Fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) return false;
  if (LockByteZero(env, fd, F_WRLCK) != 0) return false;  // Its writer is alive.
  const std::string manifest = JoinPath(dir, ManifestTempName(hex));
  if (IsOwnRegularFile(env, manifest)) env->Unlink(manifest.c_str());
  return env->Unlink(path.c_str()) == 0;
}

}  // namespace

Result<std::unique_ptr<TempSnapshot>> TempSnapshot::Create(posix::Env* env,
                                                           const std::string& dir) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string hex = RandomHex();
    const std::string path = JoinPath(dir, TempName(hex));
    int fd = env->Open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return posix::ErrnoStatus(
          errno, "create", path,
          errno == ENOSPC ? ""
                          : "check the owner and mode of " + dir +
                                ": this process must be able to create files in it");
    }
    std::unique_ptr<TempSnapshot> temp(new TempSnapshot(env, dir, hex, path, fd));
    // The mode must not depend on the umask.
    if (env->Fchmod(fd, 0600) != 0) return posix::ErrnoStatus(errno, "chmod", path);
    if (LockByteZero(env, fd, F_WRLCK) != 0) return posix::ErrnoStatus(errno, "lock", path);
    // A cleaner may have removed the name between our create and our lock.
    struct stat by_fd;
    struct stat by_name;
    if (env->Fstat(fd, &by_fd) != 0) return posix::ErrnoStatus(errno, "stat", path);
    if (env->Lstat(path.c_str(), &by_name) != 0 || by_name.st_ino != by_fd.st_ino ||
        by_name.st_dev != by_fd.st_dev) {
      temp->path_.clear();  // Not ours any more: do not unlink.
      continue;
    }
    return temp;
  }
  return Internal("could not create a temporary file in " + dir,
                  "this is a bug in sqlsteward; please report it");
}

TempSnapshot::~TempSnapshot() {
  conn_.reset();
  if (!published_) {
    if (!manifest_path_.empty()) env_->Unlink(manifest_path_.c_str());
    if (!path_.empty()) env_->Unlink(path_.c_str());
  }
}

Result<sqlite3*> TempSnapshot::Connection() {
  if (conn_ != nullptr) return conn_.get();
  SQLSTEWARD_ASSIGN_OR_RETURN(conn_, OpenSqlite(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
                                                path_, RegisterSnapshotWriterVfs()));
  // No journal beside the temporary file, no fsync per step (one fsync of
  // the whole file comes later), no process-wide locking dance, no mmap.
  SQLSTEWARD_RETURN_IF_ERROR(
      Exec(conn_.get(),
           "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE; "
           "PRAGMA mmap_size=0; PRAGMA cache_size=-8192",
           "configure " + path_));
  return conn_.get();
}

Status TempSnapshot::CloseConnection() {
  sqlite3* db = conn_.release();
  if (db == nullptr) return Status();
  // xClose's errors are ignored by SQLite: write out the VFS's buffer
  // first and take its error here.
  int rc = sqlite3_file_control(db, "main", kFlushFileControl, nullptr);
  if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND) {
    Status st = SqliteStatus(rc, db, "write " + path_);
    sqlite3_close_v2(db);
    return st;
  }
  rc = sqlite3_close(db);
  if (rc != SQLITE_OK) {
    Status st = SqliteStatus(rc, db, "close " + path_);
    sqlite3_close_v2(db);
    return st;
  }
  return Status();
}

void TempSnapshot::StartWriteback() {
  struct stat st;
  if (env_->Fstat(fd_.get(), &st) != 0 || st.st_size - writeback_from_ < kWritebackBytes) return;
  env_->SyncFileRange(fd_.get(), writeback_from_, st.st_size - writeback_from_,
                      SYNC_FILE_RANGE_WRITE);
  if (writeback_from_ > inflight_from_) {
    env_->SyncFileRange(
        fd_.get(), inflight_from_, writeback_from_ - inflight_from_,
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  }
  inflight_from_ = writeback_from_;
  writeback_from_ = st.st_size;
}

Status TempSnapshot::Preallocate(std::int64_t bytes) {
  if (bytes <= 0) return Status();
  if (env_->Fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) == 0) {
    return Status();
  }
  if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) return Status();
  return posix::ErrnoStatus(errno, "reserve space for", path_);
}

Status TempSnapshot::WriteAt(const void* data, std::size_t len, off_t offset) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  while (len > 0) {
    const ssize_t n = env_->Pwrite(fd_.get(), bytes, len, offset);
    if (n < 0) return posix::ErrnoStatus(errno, "write", path_);
    if (n == 0) return posix::ErrnoStatus(ENOSPC, "write", path_);
    bytes += n;
    len -= static_cast<std::size_t>(n);
    offset += n;
  }
  return Status();
}

Status TempSnapshot::Reset() {
  writeback_from_ = 0;
  inflight_from_ = 0;
  conn_.reset();
  if (env_->Ftruncate(fd_.get(), 0) != 0) return posix::ErrnoStatus(errno, "truncate", path_);
  return Status();
}

Status TempSnapshot::ResetWalHeader() {
  unsigned char header[100];
  std::size_t got = 0;
  SQLSTEWARD_RETURN_IF_ERROR(ReadAt(env_, fd_.get(), header, sizeof header, 0, path_, &got));
  if (got == 0) return Status();  // An empty database.
  if (got < sizeof header || std::memcmp(header, "SQLite format 3", 16) != 0) {
    return Internal("the copy in " + path_ + " has no SQLite header",
                    "this is a bug in sqlsteward; please report it");
  }
  if (header[18] != 2 && header[19] != 2) return Status();
  const unsigned char legacy[2] = {1, 1};
  if (env_->Pwrite(fd_.get(), legacy, sizeof legacy, 18) != 2) {
    return posix::ErrnoStatus(errno, "write", path_);
  }
  return Status();
}

Status TempSnapshot::Sync() {
  if (env_->Fsync(fd_.get()) != 0) return posix::ErrnoStatus(errno, "fsync", path_);
  return Status();
}

Result<std::int64_t> TempSnapshot::Size() {
  struct stat st;
  if (env_->Fstat(fd_.get(), &st) != 0) return posix::ErrnoStatus(errno, "stat", path_);
  return std::int64_t{st.st_size};
}

Status TempSnapshot::WriteManifest(const std::string& json) {
  manifest_path_ = JoinPath(dir_, ManifestTempName(hex_));
  int fd = env_->Open(manifest_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd < 0) {
    Status st = posix::ErrnoStatus(errno, "create", manifest_path_);
    manifest_path_.clear();
    return st;
  }
  posix::UniqueFd guard(env_, fd);
  if (env_->Fchmod(fd, 0600) != 0) return posix::ErrnoStatus(errno, "chmod", manifest_path_);
  SQLSTEWARD_RETURN_IF_ERROR(WriteAll(env_, fd, json, manifest_path_));
  if (env_->Fsync(fd) != 0) return posix::ErrnoStatus(errno, "fsync", manifest_path_);
  if (env_->Close(guard.Release()) != 0) {
    return posix::ErrnoStatus(errno, "close", manifest_path_);
  }
  return Status();
}

Status TempSnapshot::Publish(const std::string& snapshot_path, const std::string& manifest_path) {
  if (env_->Rename(manifest_path_.c_str(), manifest_path.c_str()) != 0) {
    return posix::ErrnoStatus(errno, "rename", manifest_path_);
  }
  manifest_path_.clear();
  if (env_->Rename(path_.c_str(), snapshot_path.c_str()) != 0) {
    Status st = posix::ErrnoStatus(errno, "rename", path_);
    env_->Unlink(manifest_path.c_str());
    return st;
  }
  published_ = true;
  return Status();
}

Result<std::vector<std::string>> RemoveStaleTemporaries(posix::Env* env, const std::string& dir) {
  std::vector<std::string> removed;
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(env, dir));
  std::sort(names.begin(), names.end());
  bool publishing = false;  // A snapshotter holds its temporary: it may be mid-publish.
  for (const std::string& name : names) {
    if (!name.starts_with(kTempPrefix) || !name.ends_with(kTempSuffix) ||
        name.ends_with(kManifestTempSuffix)) {
      continue;
    }
    if (RemoveIfStale(env, dir, name)) {
      removed.push_back(JoinPath(dir, name));
    } else {
      publishing = true;
    }
  }
  // Manifest temporaries whose snapshot temporary is gone (a crash between
  // removing the two).
  for (const std::string& name : names) {
    if (!name.starts_with(kTempPrefix) || !name.ends_with(kManifestTempSuffix)) continue;
    const std::string hex = name.substr(
        kTempPrefix.size(), name.size() - kTempPrefix.size() - kManifestTempSuffix.size());
    struct stat st;
    if (env->Lstat(JoinPath(dir, TempName(hex)).c_str(), &st) == 0) continue;
    const std::string path = JoinPath(dir, name);
    if (IsOwnRegularFile(env, path) && env->Unlink(path.c_str()) == 0) removed.push_back(path);
  }
  // Published manifests whose snapshot is missing: a crash between the two
  // renames of Publish (the manifest goes first). A publisher between its
  // renames still holds its temporary, which this listing would show, so
  // none is touched while any temporary is held.
  if (publishing) return removed;
  for (const std::string& name : names) {
    if (name.starts_with(kTempPrefix) || !name.ends_with(kManifestSuffix)) continue;
    std::string snapshot = name.substr(0, name.size() - kManifestSuffix.size());
    snapshot += ".db";
    // Only a name this library publishes: <prefix>-<yyyymmddThhmmssZ>-<seq>.
    const std::size_t seq_dash = snapshot.rfind('-');
    if (seq_dash == std::string::npos || seq_dash < 17 ||
        !ParseSnapshotFileName(snapshot, std::string_view(snapshot).substr(0, seq_dash - 17))) {
      continue;
    }
    struct stat st;
    if (env->Lstat(JoinPath(dir, snapshot).c_str(), &st) == 0 || errno != ENOENT) continue;
    const std::string path = JoinPath(dir, name);
    if (IsOwnRegularFile(env, path) && env->Unlink(path.c_str()) == 0) removed.push_back(path);
  }
  return removed;
}

}  // namespace sqlsteward::internal
