#include "support/power_loss.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "base/sqlite_vfs_forward.h"
#include "posix/fs.h"

namespace sqlsteward::testing {
namespace {

constexpr off_t kSector = 512;

// pwrite/pread of all of `len`, or nothing more to do: the crash path
// cannot report errors, and a short write here is a test harness failure
// that the checks after the crash will show.
void WriteAll(int fd, const char* data, std::size_t len, off_t offset) {
  while (len > 0) {
    ssize_t n = ::pwrite(fd, data, len, offset);
    if (n <= 0) return;
    data += n;
    len -= static_cast<std::size_t>(n);
    offset += n;
  }
}

std::string ReadRange(int fd, off_t offset, off_t len) {
  std::string out(static_cast<std::size_t>(std::max<off_t>(len, 0)), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                        offset + static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace

PowerLoss& PowerLoss::Get() {
  static PowerLoss* model = new PowerLoss();
  return *model;
}

void PowerLoss::Arm(int nth, PowerLossMode mode, std::uint64_t seed, std::string aside_dir) {
  std::lock_guard lock(mu_);
  crash_at_ = nth;
  mode_ = mode;
  rng_ = seed;
  aside_dir_ = std::move(aside_dir);
}

int PowerLoss::SyncPoints() {
  std::lock_guard lock(mu_);
  return syncs_;
}

void PowerLoss::Crash() {
  mu_.lock();  // Never released: the process ends here.
  CrashLocked();
}

std::uint64_t PowerLoss::Random() {  // splitmix64
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

PowerLoss::PreImage PowerLoss::Look(const std::string& path, int fd, off_t offset,
                                    std::size_t len) {
  PreImage pre;
  struct stat st;
  if ((fd >= 0 ? ::fstat(fd, &st) : ::stat(path.c_str(), &st)) != 0 || !S_ISREG(st.st_mode)) {
    return pre;
  }
  pre.dev = st.st_dev;
  pre.ino = st.st_ino;
  pre.tracked = true;
  pre.offset = offset;
  pre.old_size = st.st_size;
  Tracked* file = Track(pre, path, fd);
  if (file == nullptr) {
    pre.tracked = false;
    return pre;
  }
  const off_t end = std::min<off_t>(st.st_size, offset + static_cast<off_t>(len));
  pre.bytes = ReadRange(file->fd, offset, end - offset);
  return pre;
}

PowerLoss::Tracked* PowerLoss::Track(const PreImage& pre, const std::string& path, int fd) {
  Tracked& file = files_[{pre.dev, pre.ino}];
  if (file.fd < 0) {
    // Through /proc, the descriptor's file whatever its name is now.
    std::string name = fd >= 0 ? "/proc/self/fd/" + std::to_string(fd) : path;
    file.fd = ::open(name.c_str(), O_RDWR | O_CLOEXEC);
    if (file.fd < 0) {
      files_.erase({pre.dev, pre.ino});
      return nullptr;
    }
  }
  return &file;
}

PowerLoss::PreImage PowerLoss::BeforeWrite(const std::string& path, int fd, off_t offset,
                                           std::size_t len) {
  return Look(path, fd, offset, len);
}

void PowerLoss::AfterWrite(const PreImage& pre, const void* data, std::size_t len) {
  if (!pre.tracked) return;
  files_[{pre.dev, pre.ino}].ops.push_back(
      FileOp{pre, std::string(static_cast<const char*>(data), len), -1});
}

PowerLoss::PreImage PowerLoss::BeforeResize(const std::string& path, int fd, off_t new_size) {
  PreImage pre = Look(path, fd, 0, 0);
  if (pre.tracked && new_size < pre.old_size) {
    pre.offset = new_size;
    pre.bytes = ReadRange(files_[{pre.dev, pre.ino}].fd, new_size, pre.old_size - new_size);
  }
  return pre;
}

void PowerLoss::AfterResize(const PreImage& pre, off_t new_size) {
  if (!pre.tracked) return;
  files_[{pre.dev, pre.ino}].ops.push_back(FileOp{pre, std::string(), new_size});
}

void PowerLoss::SyncPoint() {
  ++syncs_;
  if (syncs_ == crash_at_) CrashLocked();
}

void PowerLoss::FileSynced(const std::string& path, int fd) {
  struct stat st;
  if ((fd >= 0 ? ::fstat(fd, &st) : ::stat(path.c_str(), &st)) != 0) return;
  auto it = files_.find({st.st_dev, st.st_ino});
  if (it == files_.end()) return;
  ::close(it->second.fd);
  files_.erase(it);
}

void PowerLoss::DirectorySynced(const std::string& dir) {
  auto synced = [&](const DirOp& op) {
    return posix::DirName(op.path) == dir || (!op.to.empty() && posix::DirName(op.to) == dir);
  };
  for (const DirOp& op : dir_ops_) {
    if (synced(op) && !op.aside.empty()) ::unlink(op.aside.c_str());
  }
  std::erase_if(dir_ops_, synced);
}

bool PowerLoss::Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

void PowerLoss::Created(const std::string& path, bool directory) {
  dir_ops_.push_back(DirOp{directory ? DirOp::kMkdir : DirOp::kCreate, path, {}, {}});
}

std::string PowerLoss::SetAside(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  std::string aside = aside_dir_ + "/" + std::to_string(++asides_);
  if (aside_dir_.empty() || ::link(path.c_str(), aside.c_str()) != 0) {
    std::fprintf(stderr, "power loss model: cannot set %s aside in '%s'\n", path.c_str(),
                 aside_dir_.c_str());
    std::abort();
  }
  return aside;
}

void PowerLoss::Unlinked(const std::string& path, std::string aside) {
  dir_ops_.push_back(DirOp{DirOp::kUnlink, path, {}, std::move(aside)});
}

void PowerLoss::Renamed(const std::string& from, const std::string& to, std::string aside_of_to) {
  dir_ops_.push_back(DirOp{DirOp::kRename, from, to, std::move(aside_of_to)});
}

void PowerLoss::Discard(const std::string& aside) {
  if (!aside.empty()) ::unlink(aside.c_str());
}

void PowerLoss::Rewind(const Tracked& file) {
  for (auto op = file.ops.rbegin(); op != file.ops.rend(); ++op) {
    WriteAll(file.fd, op->pre.bytes.data(), op->pre.bytes.size(), op->pre.offset);
    if (::ftruncate(file.fd, op->pre.old_size) != 0) return;
  }
}

void PowerLoss::Replay(const Tracked& file) {
  for (const FileOp& op : file.ops) {
    const std::uint64_t choice = Random() % 3;
    if (op.new_size >= 0) {
      if (choice != 0 && ::ftruncate(file.fd, op.new_size) != 0) return;
      continue;
    }
    if (choice == 0) continue;  // Lost.
    if (choice == 1) {          // Whole.
      WriteAll(file.fd, op.data.data(), op.data.size(), op.pre.offset);
      continue;
    }
    // Torn: each sector of it on its own.
    for (off_t at = 0; at < static_cast<off_t>(op.data.size()); at += kSector) {
      if (Random() % 2 == 0) continue;
      const off_t n = std::min<off_t>(kSector, static_cast<off_t>(op.data.size()) - at);
      WriteAll(file.fd, op.data.data() + at, static_cast<std::size_t>(n), op.pre.offset + at);
    }
  }
}

void PowerLoss::Undo(const DirOp& op) {
  switch (op.kind) {
    case DirOp::kCreate:
      ::unlink(op.path.c_str());
      break;
    case DirOp::kMkdir:
      ::rmdir(op.path.c_str());
      break;
    case DirOp::kUnlink:
      if (!op.aside.empty()) ::rename(op.aside.c_str(), op.path.c_str());
      break;
    case DirOp::kRename:
      ::rename(op.to.c_str(), op.path.c_str());
      if (!op.aside.empty()) ::rename(op.aside.c_str(), op.to.c_str());
      break;
  }
}

void PowerLoss::CrashLocked() {
  for (const auto& [id, file] : files_) {
    Rewind(file);
    if (mode_ == PowerLossMode::kRandom) Replay(file);
  }
  std::size_t keep = 0;
  if (mode_ == PowerLossMode::kRandom) keep = Random() % (dir_ops_.size() + 1);
  for (std::size_t i = dir_ops_.size(); i > keep; --i) Undo(dir_ops_[i - 1]);
  ::raise(SIGKILL);
  ::_exit(137);
}

// The VFS: SQLite's default one, every change and sync reported.
namespace {

sqlite3_vfs* g_below = nullptr;
using Forward = internal::ForwardingVfs<&g_below>;

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // The lower VFS's file, allocated right after us.
  std::string* path;   // Null for SQLite's nameless temporary files.
  bool dir_sync;       // The unix VFS syncs the directory at the first xSync.
};

File* AsFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return AsFile(f)->real; }

int Close(sqlite3_file* f) {
  int rc = Real(f)->pMethods->xClose(Real(f));
  delete AsFile(f)->path;
  AsFile(f)->path = nullptr;
  return rc;
}
int Read(sqlite3_file* f, void* out, int n, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), out, n, off);
}
int Write(sqlite3_file* f, const void* data, int n, sqlite3_int64 off) {
  File* file = AsFile(f);
  if (file->path == nullptr) return Real(f)->pMethods->xWrite(Real(f), data, n, off);
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  auto pre = model.BeforeWrite(*file->path, -1, off, static_cast<std::size_t>(n));
  int rc = Real(f)->pMethods->xWrite(Real(f), data, n, off);
  if (rc == SQLITE_OK) model.AfterWrite(pre, data, static_cast<std::size_t>(n));
  return rc;
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  File* file = AsFile(f);
  if (file->path == nullptr) return Real(f)->pMethods->xTruncate(Real(f), size);
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  auto pre = model.BeforeResize(*file->path, -1, size);
  int rc = Real(f)->pMethods->xTruncate(Real(f), size);
  if (rc == SQLITE_OK) model.AfterResize(pre, size);
  return rc;
}
int Sync(sqlite3_file* f, int flags) {
  File* file = AsFile(f);
  if (file->path == nullptr) return Real(f)->pMethods->xSync(Real(f), flags);
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  model.SyncPoint();
  int rc = Real(f)->pMethods->xSync(Real(f), flags);
  if (rc == SQLITE_OK) {
    model.FileSynced(*file->path, -1);
    if (file->dir_sync) model.DirectorySynced(posix::DirName(*file->path));
    file->dir_sync = false;
  }
  return rc;
}
int FileSize(sqlite3_file* f, sqlite3_int64* out) {
  return Real(f)->pMethods->xFileSize(Real(f), out);
}
int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), off, n, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), off, p);
}

const sqlite3_io_methods kMethods = {
    3,        Close,   Read,   Write,      Truncate, Sync,     FileSize, Lock,
    Unlock,   CheckReservedLock, FileControl, SectorSize, DeviceCharacteristics,
    ShmMap,   ShmLock, ShmBarrier, ShmUnmap, Fetch,    Unfetch,
};

int Open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  File* file = AsFile(f);
  file->base.pMethods = nullptr;
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->path = nullptr;
  file->dir_sync = false;
  const bool create = name != nullptr && (flags & SQLITE_OPEN_CREATE) != 0;
  PowerLoss& model = PowerLoss::Get();
  std::unique_lock<std::mutex> lock;
  bool existed = true;
  if (create) {
    lock = model.Hold();
    existed = model.Exists(name);
  }
  int rc = g_below->xOpen(g_below, name, file->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  if (create && !existed) model.Created(name, false);
  if (name != nullptr) file->path = new std::string(name);
  file->dir_sync = create && (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL |
                                       SQLITE_OPEN_WAL)) != 0;
  file->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  std::string aside = model.SetAside(name);
  int rc = g_below->xDelete(g_below, name, sync_dir);
  if (rc != SQLITE_OK) {
    model.Discard(aside);
    return rc;
  }
  if (aside.empty()) return rc;
  model.Unlinked(name, std::move(aside));
  if (sync_dir) {
    model.SyncPoint();
    model.DirectorySynced(posix::DirName(name));
  }
  return rc;
}

sqlite3_vfs g_vfs;

}  // namespace

void PowerLoss::InstallVfs() {
  g_below = sqlite3_vfs_find(nullptr);
  g_vfs = Forward::Make("powerloss", 3, static_cast<int>(sizeof(File)));
  g_vfs.xOpen = ::sqlsteward::testing::Open;
  g_vfs.xDelete = ::sqlsteward::testing::Delete;
  if (sqlite3_vfs_register(&g_vfs, /*makeDflt=*/1) != SQLITE_OK) {
    std::fprintf(stderr, "cannot register the powerloss VFS\n");
    std::abort();
  }
}

// PowerLossEnv.

std::string PowerLossEnv::PathOf(int fd) {
  std::lock_guard lock(mu_);
  auto it = fd_paths_.find(fd);
  return it == fd_paths_.end() ? std::string() : it->second;
}

int PowerLossEnv::DoOpen(const char* path, int flags, mode_t mode) {
  PowerLoss& model = PowerLoss::Get();
  int fd;
  {
    auto lock = model.Hold();
    const bool existed = model.Exists(path);
    const bool truncates = existed && (flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY;
    PowerLoss::PreImage pre;
    if (truncates) pre = model.BeforeResize(path, -1, 0);
    fd = posix::Env::DoOpen(path, flags, mode);
    if (fd >= 0 && !existed && (flags & O_CREAT) != 0) model.Created(path, false);
    if (fd >= 0 && truncates) model.AfterResize(pre, 0);
  }
  if (fd >= 0) {
    std::lock_guard lock(mu_);
    fd_paths_[fd] = path;
  }
  return fd;
}

int PowerLossEnv::Close(int fd) {
  {
    std::lock_guard lock(mu_);
    fd_paths_.erase(fd);
  }
  return posix::Env::Close(fd);
}

ssize_t PowerLossEnv::DoPwrite(int fd, const void* buf, std::size_t len, off_t offset) {
  PowerLoss& model = PowerLoss::Get();
  const std::string path = PathOf(fd);
  auto lock = model.Hold();
  auto pre = model.BeforeWrite(path, fd, offset, len);
  ssize_t n = posix::Env::DoPwrite(fd, buf, len, offset);
  if (n > 0) model.AfterWrite(pre, buf, static_cast<std::size_t>(n));
  return n;
}

int PowerLossEnv::DoFsync(int fd) {
  PowerLoss& model = PowerLoss::Get();
  const std::string path = PathOf(fd);
  struct stat st;
  const bool directory = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  auto lock = model.Hold();
  model.SyncPoint();
  int rc = posix::Env::DoFsync(fd);
  if (rc != 0) return rc;
  if (directory) {
    model.DirectorySynced(path);
  } else {
    model.FileSynced(path, fd);
  }
  return rc;
}

int PowerLossEnv::DoFtruncate(int fd, off_t length) {
  PowerLoss& model = PowerLoss::Get();
  const std::string path = PathOf(fd);
  auto lock = model.Hold();
  auto pre = model.BeforeResize(path, fd, length);
  int rc = posix::Env::DoFtruncate(fd, length);
  if (rc == 0) model.AfterResize(pre, length);
  return rc;
}

int PowerLossEnv::DoFallocate(int fd, int mode, off_t offset, off_t len) {
  if ((mode & FALLOC_FL_KEEP_SIZE) != 0) return posix::Env::DoFallocate(fd, mode, offset, len);
  PowerLoss& model = PowerLoss::Get();
  const std::string path = PathOf(fd);
  auto lock = model.Hold();
  auto pre = model.BeforeResize(path, fd, offset + len);
  int rc = posix::Env::DoFallocate(fd, mode, offset, len);
  if (rc == 0) model.AfterResize(pre, std::max(pre.old_size, offset + len));
  return rc;
}

int PowerLossEnv::Mkdir(const char* path, mode_t mode) {
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  int rc = posix::Env::Mkdir(path, mode);
  if (rc == 0) model.Created(path, true);
  return rc;
}

int PowerLossEnv::Rename(const char* from, const char* to) {
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  std::string aside = model.SetAside(to);
  int rc = posix::Env::Rename(from, to);
  if (rc == 0) {
    model.Renamed(from, to, std::move(aside));
  } else {
    model.Discard(aside);
  }
  return rc;
}

int PowerLossEnv::RenameNoReplace(const char* from, const char* to) {
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  int rc = posix::Env::RenameNoReplace(from, to);
  if (rc == 0) model.Renamed(from, to, {});
  return rc;
}

int PowerLossEnv::Unlink(const char* path) {
  PowerLoss& model = PowerLoss::Get();
  auto lock = model.Hold();
  std::string aside = model.SetAside(path);
  int rc = posix::Env::Unlink(path);
  if (rc == 0 && !aside.empty()) {
    model.Unlinked(path, std::move(aside));
  } else {
    model.Discard(aside);
  }
  return rc;
}

}  // namespace sqlsteward::testing
