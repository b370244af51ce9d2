// A VFS stacked on the database's own, for the snapshot's read connection
// only. Every call passes through unchanged; two are also watched:
//   xShmMap of region 0: where the wal-index (the -shm file) is mapped;
//   xShmLock of a WAL read slot: when the connection takes WAL_READ_LOCK(i)
//     shared (offset 3 + i, SQLITE_SHM_NLOCK = 8, so i is 0..4), the
//     wal-index header is copied at once, with the slot's read mark.
//
// Why that copy is the header of the connection's snapshot: SQLite's
// reader (walTryBeginRead in wal.c) copies the header, then takes the read
// slot, then compares the header in shared memory with its copy and starts
// over (releasing the slot) if they differ. Our copy is taken between the
// two, so when SQLite keeps the slot, the header in shared memory was the
// same at its copy, at ours and at its check. Every commit changes the
// header (iChange grows; the header is never written back to an earlier
// value), so ours equals the reader's snapshot. We copy it as SQLite does:
// both copies equal, initialised, its checksum right; otherwise the state
// says "no header" and the snapshot takes the backup API instead.
//
// A release of the slot forgets the state; taking another slot replaces it.
#include "snapshot/source_vfs.h"

#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "base/status_builders.h"

namespace sqlsteward::internal {
namespace {

constexpr int kFirstReadLock = 3;  // WAL_READ_LOCK(0) in wal.c.
constexpr int kReaders = 5;        // WAL_NREADER.
constexpr std::size_t kHeaderBytes = 48;
constexpr std::size_t kBackfillAt = 2 * kHeaderBytes;  // WalCkptInfo.nBackfill.
constexpr std::size_t kReadMarksAt = kBackfillAt + 4;  // WalCkptInfo.aReadMark.

struct File {
  sqlite3_file base;                  // pMethods = &kMethods; must come first.
  sqlite3_file* real;                 // The lower VFS's file, allocated right after us.
  const volatile unsigned char* shm;  // Region 0 of the wal-index, once mapped.
  ReadSlot held;
  bool header_ok;
  bool shm_read_only;  // An xShmMap said SQLITE_READONLY: SQLite's "unreliable" reader.
};

File* AsFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return AsFile(f)->real; }

std::uint32_t Load32(const volatile unsigned char* p) {
  std::uint32_t v = 0;
  unsigned char bytes[4] = {p[0], p[1], p[2], p[3]};
  std::memcpy(&v, bytes, 4);
  return v;
}

// walChecksumBytes of wal.c, native byte order, over the first 40 bytes.
std::array<std::uint32_t, 2> HeaderChecksum(const unsigned char* h) {
  std::uint32_t s1 = 0;
  std::uint32_t s2 = 0;
  for (std::size_t i = 0; i < 40; i += 8) {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    std::memcpy(&a, h + i, 4);
    std::memcpy(&b, h + i + 4, 4);
    s1 += a + s2;
    s2 += b + s1;
  }
  return {s1, s2};
}

// Copies the header as walIndexTryHdr does; false when it is not
// consistent at this moment.
bool CopyHeader(File* f, sqlite3_file* real, WalIndexHeader* out) {
  if (f->shm == nullptr) return false;
  unsigned char first[kHeaderBytes];
  unsigned char second[kHeaderBytes];
  for (std::size_t i = 0; i < kHeaderBytes; ++i) first[i] = f->shm[i];
  real->pMethods->xShmBarrier(real);
  for (std::size_t i = 0; i < kHeaderBytes; ++i) second[i] = f->shm[kHeaderBytes + i];
  if (std::memcmp(first, second, kHeaderBytes) != 0 || first[12] == 0) return false;
  const auto sum = HeaderChecksum(first);
  std::uint32_t stored[2];
  std::memcpy(stored, first + 40, 8);
  if (sum[0] != stored[0] || sum[1] != stored[1]) return false;
  std::uint16_t size = 0;
  std::memcpy(&out->version, first, 4);
  std::memcpy(&out->change, first + 8, 4);
  out->big_endian_checksum = first[13] != 0;
  std::memcpy(&size, first + 14, 2);
  out->page_size = (size & 0xfe00u) + ((size & 0x0001u) << 16);
  std::memcpy(&out->max_frame, first + 16, 4);
  std::memcpy(&out->page_count, first + 20, 4);
  std::memcpy(out->frame_checksum.data(), first + 24, 8);
  std::memcpy(out->salt.data(), first + 32, 8);
  return true;
}

int Close(sqlite3_file* file) { return Real(file)->pMethods->xClose(Real(file)); }
int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  return Real(file)->pMethods->xRead(Real(file), out, amount, offset);
}
int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  return Real(file)->pMethods->xWrite(Real(file), data, amount, offset);
}
int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  return Real(file)->pMethods->xTruncate(Real(file), size);
}
int Sync(sqlite3_file* file, int flags) { return Real(file)->pMethods->xSync(Real(file), flags); }
int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  return Real(file)->pMethods->xFileSize(Real(file), size);
}
int Lock(sqlite3_file* file, int level) { return Real(file)->pMethods->xLock(Real(file), level); }
int Unlock(sqlite3_file* file, int level) {
  return Real(file)->pMethods->xUnlock(Real(file), level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  return Real(file)->pMethods->xFileControl(Real(file), op, arg);
}
int SectorSize(sqlite3_file* file) { return Real(file)->pMethods->xSectorSize(Real(file)); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
}

int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  File* f = AsFile(file);
  if (f->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  int rc = f->real->pMethods->xShmMap(f->real, region, size, extend, out);
  if ((rc & 0xff) == SQLITE_READONLY) f->shm_read_only = true;
  if (rc == SQLITE_OK && region == 0 && *out != nullptr) {
    f->shm = static_cast<const volatile unsigned char*>(*out);
  }
  return rc;
}

int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = AsFile(file);
  if (f->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  int rc = f->real->pMethods->xShmLock(f->real, offset, n, flags);
  if (rc != SQLITE_OK || (flags & SQLITE_SHM_SHARED) == 0) return rc;
  if ((flags & SQLITE_SHM_UNLOCK) != 0) {
    if (f->held.slot >= 0 && offset <= kFirstReadLock + f->held.slot &&
        kFirstReadLock + f->held.slot < offset + n) {
      f->held = ReadSlot();
      f->header_ok = false;
    }
    return rc;
  }
  if (n == 1 && offset >= kFirstReadLock && offset < kFirstReadLock + kReaders) {
    f->held = ReadSlot();
    f->held.slot = offset - kFirstReadLock;
    f->header_ok = CopyHeader(f, f->real, &f->held.header);
    if (f->header_ok) {
      f->held.backfilled = Load32(f->shm + kBackfillAt);
      if (f->held.slot > 0) {
        f->held.read_mark =
            Load32(f->shm + kReadMarksAt + 4 * static_cast<std::size_t>(f->held.slot));
      }
    }
  }
  return rc;
}

void ShmBarrier(sqlite3_file* file) {
  if (Real(file)->pMethods->iVersion >= 2) Real(file)->pMethods->xShmBarrier(Real(file));
}
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  File* f = AsFile(file);
  f->shm = nullptr;
  if (f->real->pMethods->iVersion < 2) return SQLITE_OK;
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}
int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  *out = nullptr;
  if (Real(file)->pMethods->iVersion < 3) return SQLITE_OK;
  return Real(file)->pMethods->xFetch(Real(file), offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  if (Real(file)->pMethods->iVersion < 3) return SQLITE_OK;
  return Real(file)->pMethods->xUnfetch(Real(file), offset, p);
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

// The VFS object's own methods go to the lower VFS, kept in pAppData.
sqlite3_vfs* Lower(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = AsFile(file);
  std::memset(static_cast<void*>(f), 0, sizeof(File));
  f->held = ReadSlot();
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(File));
  int rc = Lower(vfs)->xOpen(Lower(vfs), name, f->real, flags, out_flags);
  if (rc != SQLITE_OK || f->real->pMethods == nullptr) {
    if (rc == SQLITE_OK) rc = SQLITE_CANTOPEN;
    file->pMethods = nullptr;  // SQLite then does not call xClose.
    return rc;
  }
  file->pMethods = &kMethods;
  return SQLITE_OK;
}
int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return Lower(vfs)->xDelete(Lower(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Lower(vfs)->xAccess(Lower(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return Lower(vfs)->xFullPathname(Lower(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs* vfs, const char* name) { return Lower(vfs)->xDlOpen(Lower(vfs), name); }
void DlError(sqlite3_vfs* vfs, int size, char* out) { Lower(vfs)->xDlError(Lower(vfs), size, out); }
void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return Lower(vfs)->xDlSym(Lower(vfs), handle, symbol);
}
void DlClose(sqlite3_vfs* vfs, void* handle) { Lower(vfs)->xDlClose(Lower(vfs), handle); }
int Randomness(sqlite3_vfs* vfs, int size, char* out) {
  return Lower(vfs)->xRandomness(Lower(vfs), size, out);
}
int SleepFor(sqlite3_vfs* vfs, int micros) { return Lower(vfs)->xSleep(Lower(vfs), micros); }
int CurrentTime(sqlite3_vfs* vfs, double* out) { return Lower(vfs)->xCurrentTime(Lower(vfs), out); }
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return Lower(vfs)->xGetLastError != nullptr ? Lower(vfs)->xGetLastError(Lower(vfs), size, out)
                                              : 0;
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Lower(vfs)->xCurrentTimeInt64(Lower(vfs), out);
}

struct Registered {
  std::string name;
  sqlite3_vfs vfs{};
};

File* SourceFileOf(sqlite3* db, int op) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", op, &file) != SQLITE_OK || file == nullptr ||
      file->pMethods != &kMethods) {
    return nullptr;
  }
  return AsFile(file);
}

}  // namespace

Result<std::string> RegisterSnapshotSourceVfs(const std::string& lower_vfs) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Registered>>* shims =
      new std::map<std::string,
                   std::unique_ptr<Registered>>();  // Never destroyed: SQLite keeps it.
  std::lock_guard<std::mutex> lock(mu);
  auto it = shims->find(lower_vfs);
  if (it != shims->end()) return it->second->name;
  sqlite3_vfs* lower = sqlite3_vfs_find(lower_vfs.empty() ? nullptr : lower_vfs.c_str());
  if (lower == nullptr || lower->iVersion < 2 || lower->xCurrentTimeInt64 == nullptr) {
    return FailedPrecondition("the VFS \"" + lower_vfs + "\" cannot carry the snapshot's reader",
                              "the snapshot uses SQLite's backup API instead");
  }
  auto shim = std::make_unique<Registered>();
  shim->name = std::string("sqlsteward-snapshot-source-") + lower->zName;
  sqlite3_vfs& v = shim->vfs;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(sizeof(File)) + lower->szOsFile;
  v.mxPathname = lower->mxPathname;
  v.zName = shim->name.c_str();
  v.pAppData = lower;
  v.xOpen = Open;
  v.xDelete = Delete;
  v.xAccess = Access;
  v.xFullPathname = FullPathname;
  v.xDlOpen = DlOpen;
  v.xDlError = DlError;
  v.xDlSym = DlSym;
  v.xDlClose = DlClose;
  v.xRandomness = Randomness;
  v.xSleep = SleepFor;
  v.xCurrentTime = CurrentTime;
  v.xGetLastError = GetLastError;
  v.xCurrentTimeInt64 = CurrentTimeInt64;
  if (sqlite3_vfs_register(&v, /*makeDflt=*/0) != SQLITE_OK) {
    return Internal("could not register the snapshot's source VFS",
                    "this is a bug in sqlsteward; please report it");
  }
  std::string name = shim->name;
  shims->emplace(lower_vfs, std::move(shim));
  return name;
}

Result<ReadSlot> ReadSlotOf(sqlite3* db) {
  File* f = SourceFileOf(db, SQLITE_FCNTL_FILE_POINTER);
  if (f == nullptr) {
    return FailedPrecondition("the snapshot's reader is not on its own VFS",
                              "the snapshot uses SQLite's backup API instead");
  }
  if (f->held.slot < 0) {
    return FailedPrecondition("the snapshot's reader holds no WAL read slot",
                              "the snapshot uses SQLite's backup API instead");
  }
  if (f->shm_read_only) {
    return FailedPrecondition("the wal-index (-shm file) is read-only for the snapshot's reader",
                              "the snapshot uses SQLite's backup API instead");
  }
  if (!f->header_ok) {
    return FailedPrecondition("the wal-index header changed while the read slot was taken",
                              "the snapshot uses SQLite's backup API instead");
  }
  return f->held;
}

Result<SourceFiles> SourceFilesOf(sqlite3* db) {
  File* main = SourceFileOf(db, SQLITE_FCNTL_FILE_POINTER);
  if (main == nullptr) {
    return FailedPrecondition("the snapshot's reader is not on its own VFS",
                              "the snapshot uses SQLite's backup API instead");
  }
  SourceFiles files;
  files.database = main->real;
  File* wal = SourceFileOf(db, SQLITE_FCNTL_JOURNAL_POINTER);
  if (wal != nullptr) files.wal = wal->real;
  return files;
}

}  // namespace sqlsteward::internal
