// A VFS for the snapshotter's destination file only: SQLite's default VFS,
// with sequential writes gathered into large ones.
//
// The backup API hands the destination pager one page at a time and the
// pager writes each page with its own pwrite: 262,144 system calls for a
// 1 GiB database of 4 KiB pages, most of the copy's time (the kernel's
// per-call and per-page-cache-folio work, measured with perf). Here writes
// that continue the previous one are appended to a buffer of kBufferBytes
// and written together. Anything that could observe the file (a read that
// overlaps the buffer, truncate, sync, file size, close, a memory map) first
// writes the buffer out, so SQLite sees exactly what it wrote.
//
// A buffered write reports success before it reaches the kernel; its error,
// if any (ENOSPC), comes back from the next write, read, sync or from
// kFlushFileControl, which the snapshotter calls after the backup so that no
// error is left for xClose (whose result SQLite ignores).
//
// Only the snapshotter opens files through this VFS, only its private
// temporary file, with journal_mode=OFF and locking_mode=EXCLUSIVE.
#include "snapshot/writer_vfs.h"

#include <sqlite3.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "base/sqlite_vfs_forward.h"

namespace sqlsteward::internal {
namespace {

// SQLite's unix VFS writes at most 0x1ffff bytes per call (it masks the
// length to 17 bits: a 1 MiB write would write nothing and report
// SQLITE_FULL), so the buffer stays below 128 KiB. 64 KiB already cuts the
// system calls 16-fold for 4 KiB pages.
constexpr std::size_t kBufferBytes = 64 << 10;

sqlite3_vfs* g_real = nullptr;

struct File {
  sqlite3_file base;   // pMethods = &kMethods; must come first.
  sqlite3_file* real;  // The default VFS's file, allocated right after us.
  char* buffer;
  sqlite3_int64 buffer_offset;
  std::size_t buffer_len;
  int deferred_error;  // A failed flush not reported yet.
};

File* AsFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }

int Flush(File* f) {
  if (f->buffer_len == 0) return SQLITE_OK;
  int rc = f->real->pMethods->xWrite(f->real, f->buffer, static_cast<int>(f->buffer_len),
                                     f->buffer_offset);
  f->buffer_len = 0;
  return rc;
}

// Flushes, and returns an error from this flush or an earlier one.
int FlushAll(File* f) {
  int rc = Flush(f);
  if (rc == SQLITE_OK && f->deferred_error != SQLITE_OK) rc = f->deferred_error;
  f->deferred_error = SQLITE_OK;
  return rc;
}

int Close(sqlite3_file* file) {
  File* f = AsFile(file);
  int rc = FlushAll(f);
  int close_rc = f->real->pMethods->xClose(f->real);
  std::free(f->buffer);
  f->buffer = nullptr;
  return rc != SQLITE_OK ? rc : close_rc;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  File* f = AsFile(file);
  const auto buffer_end = f->buffer_offset + static_cast<sqlite3_int64>(f->buffer_len);
  if (f->buffer_len > 0 && offset < buffer_end && offset + amount > f->buffer_offset) {
    int rc = FlushAll(f);
    if (rc != SQLITE_OK) return rc;
  }
  return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = AsFile(file);
  if (f->deferred_error != SQLITE_OK) return FlushAll(f);
  const auto size = static_cast<std::size_t>(amount);
  if (f->buffer == nullptr) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  const bool continues =
      f->buffer_len > 0 && offset == f->buffer_offset + static_cast<sqlite3_int64>(f->buffer_len);
  if (continues && f->buffer_len + size <= kBufferBytes) {
    std::memcpy(f->buffer + f->buffer_len, data, size);
    f->buffer_len += size;
    return SQLITE_OK;
  }
  int rc = Flush(f);
  if (rc != SQLITE_OK) return rc;
  if (size >= kBufferBytes) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  std::memcpy(f->buffer, data, size);
  f->buffer_offset = offset;
  f->buffer_len = size;
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = AsFile(file);
  int rc = FlushAll(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  File* f = AsFile(file);
  int rc = FlushAll(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  File* f = AsFile(file);
  int rc = FlushAll(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) {
  return AsFile(file)->real->pMethods->xLock(AsFile(file)->real, level);
}
int Unlock(sqlite3_file* file, int level) {
  return AsFile(file)->real->pMethods->xUnlock(AsFile(file)->real, level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return AsFile(file)->real->pMethods->xCheckReservedLock(AsFile(file)->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  File* f = AsFile(file);
  if (op == kFlushFileControl) return FlushAll(f);
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int SectorSize(sqlite3_file* file) {
  return AsFile(file)->real->pMethods->xSectorSize(AsFile(file)->real);
}
int DeviceCharacteristics(sqlite3_file* file) {
  return AsFile(file)->real->pMethods->xDeviceCharacteristics(AsFile(file)->real);
}

// Shared memory (WAL only; our file is never in WAL mode) and memory maps
// (mmap_size is 0) exist for completeness.
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  sqlite3_file* real = AsFile(file)->real;
  if (real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return real->pMethods->xShmMap(real, region, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  sqlite3_file* real = AsFile(file)->real;
  if (real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return real->pMethods->xShmLock(real, offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) {
  sqlite3_file* real = AsFile(file)->real;
  if (real->pMethods->iVersion >= 2) real->pMethods->xShmBarrier(real);
}
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  sqlite3_file* real = AsFile(file)->real;
  if (real->pMethods->iVersion < 2) return SQLITE_OK;
  return real->pMethods->xShmUnmap(real, delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  File* f = AsFile(file);
  *out = nullptr;
  int rc = FlushAll(f);
  if (rc != SQLITE_OK || f->real->pMethods->iVersion < 3) return rc;
  return f->real->pMethods->xFetch(f->real, offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  sqlite3_file* real = AsFile(file)->real;
  if (real->pMethods->iVersion < 3) return SQLITE_OK;
  return real->pMethods->xUnfetch(real, offset, p);
}

const sqlite3_io_methods kMethods = {3,
                                     Close,
                                     Read,
                                     Write,
                                     Truncate,
                                     Sync,
                                     FileSize,
                                     Lock,
                                     Unlock,
                                     CheckReservedLock,
                                     FileControl,
                                     SectorSize,
                                     DeviceCharacteristics,
                                     ShmMap,
                                     ShmLock,
                                     ShmBarrier,
                                     ShmUnmap,
                                     Fetch,
                                     Unfetch};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = AsFile(file);
  std::memset(f, 0, sizeof(File));
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(File));
  int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    file->pMethods = nullptr;  // SQLite then does not call xClose.
    return rc;
  }
  if ((flags & SQLITE_OPEN_MAIN_DB) != 0) {
    f->buffer = static_cast<char*>(std::malloc(kBufferBytes));
    if (f->buffer == nullptr) {
      f->real->pMethods->xClose(f->real);
      file->pMethods = nullptr;
      return SQLITE_NOMEM;
    }
  }
  file->pMethods = &kMethods;
  return SQLITE_OK;
}

sqlite3_vfs g_vfs;

}  // namespace

const char* RegisterSnapshotWriterVfs() {
  static std::once_flag once;
  static int rc = SQLITE_OK;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (g_real == nullptr || g_real->iVersion < 2 || g_real->xCurrentTimeInt64 == nullptr) {
      rc = SQLITE_ERROR;
      return;
    }
    g_vfs = ForwardingVfs<&g_real>::Make(kSnapshotWriterVfs, 2, static_cast<int>(sizeof(File)));
    g_vfs.xOpen = Open;
    rc = sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  });
  return rc == SQLITE_OK ? kSnapshotWriterVfs : nullptr;
}

}  // namespace sqlsteward::internal
