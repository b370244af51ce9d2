#include "ext/vfs.h"

#include <chrono>
#include <cstring>
#include <new>
#include <utility>

#include "base/sqlite_vfs_forward.h"
#include "base/status_builders.h"
#include "ext/write_gate.h"

namespace sqlsteward::ext {
namespace {

// The VFS below ours (the default when we were registered).
sqlite3_vfs* g_sub = nullptr;
sqlite3_vfs g_vfs;

// What we keep of a main database file. The previous VFS's own file
// object follows StewardFile in the memory SQLite gives xOpen.
struct FileState {
  std::string path;
  bool read_only = false;
  bool sub_open = false;
  Status refusal;
  std::shared_ptr<SharedDatabase> db;
  std::shared_ptr<WriteGate> gate;  // Null when read-only or refused.
  int lock_level = SQLITE_LOCK_NONE;
};

struct StewardFile {
  sqlite3_file base;
  FileState* state;
};
static_assert(sizeof(StewardFile) % alignof(std::max_align_t) == 0 ||
              sizeof(StewardFile) % 8 == 0);

sqlite3_file* Sub(sqlite3_file* file) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(StewardFile));
}
FileState& State(sqlite3_file* file) { return *reinterpret_cast<StewardFile*>(file)->state; }
WriteGate* Gate(sqlite3_file* file) { return State(file).gate.get(); }

int ToSqlite(WriteGate::Outcome outcome) {
  switch (outcome) {
    case WriteGate::Outcome::kHeld:
      return SQLITE_OK;
    case WriteGate::Outcome::kBusy:
      return SQLITE_BUSY;
    case WriteGate::Outcome::kHandedOver:
      return SQLITE_READONLY;
    case WriteGate::Outcome::kError:
      break;
  }
  return SQLITE_IOERR_LOCK;
}

// ------------------------------------------------ methods of an open file

int Close(sqlite3_file* file) {
  auto* f = reinterpret_cast<StewardFile*>(file);
  WriteGate::NoteThreadActivity(f->state->gate.get());
  int rc = SQLITE_OK;
  if (f->state->sub_open) rc = Sub(file)->pMethods->xClose(Sub(file));
  delete f->state;  // Releases the write lock, and the registration with the last connection.
  f->state = nullptr;
  return rc;
}

int Read(sqlite3_file* file, void* buf, int amt, sqlite3_int64 off) {
  return Sub(file)->pMethods->xRead(Sub(file), buf, amt, off);
}
int Write(sqlite3_file* file, const void* buf, int amt, sqlite3_int64 off) {
  return Sub(file)->pMethods->xWrite(Sub(file), buf, amt, off);
}
int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  return Sub(file)->pMethods->xTruncate(Sub(file), size);
}
int Sync(sqlite3_file* file, int flags) { return Sub(file)->pMethods->xSync(Sub(file), flags); }
int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  return Sub(file)->pMethods->xFileSize(Sub(file), size);
}

// RESERVED or stronger (a rollback-journal write, a hot-journal rollback,
// the exclusive lock of a WAL connection's last close) is taken under the
// write lock, which is held until the level drops below RESERVED.
int Lock(sqlite3_file* file, int level) {
  FileState& st = State(file);
  WriteGate* gate = st.gate.get();
  WriteGate::NoteThreadActivity(gate);
  if (gate != nullptr && level >= SQLITE_LOCK_RESERVED) {
    const int taken = ToSqlite(gate->Take(WriteGate::kDatabaseLock));
    if (taken != SQLITE_OK) return taken;
  }
  const int rc = Sub(file)->pMethods->xLock(Sub(file), level);
  if (rc == SQLITE_OK) {
    st.lock_level = level;
  } else if (gate != nullptr && level >= SQLITE_LOCK_RESERVED &&
             st.lock_level < SQLITE_LOCK_RESERVED) {
    gate->Drop(WriteGate::kDatabaseLock);
  }
  return rc;
}

int Unlock(sqlite3_file* file, int level) {
  FileState& st = State(file);
  WriteGate* gate = st.gate.get();
  WriteGate::NoteThreadActivity(gate);
  const int rc = Sub(file)->pMethods->xUnlock(Sub(file), level);
  if (rc == SQLITE_OK) st.lock_level = level;
  if (gate != nullptr && st.lock_level < SQLITE_LOCK_RESERVED) {
    gate->Drop(WriteGate::kDatabaseLock);
    if (st.lock_level == SQLITE_LOCK_NONE) gate->DropPending();
  }
  return rc;
}

int CheckReservedLock(sqlite3_file* file, int* out) {
  return Sub(file)->pMethods->xCheckReservedLock(Sub(file), out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  const int rc = Sub(file)->pMethods->xFileControl(Sub(file), op, arg);
  if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK) {
    *static_cast<char**>(arg) =
        sqlite3_mprintf("%s/%z", kVfsName, *static_cast<char**>(arg));
  }
  return rc;
}

int SectorSize(sqlite3_file* file) { return Sub(file)->pMethods->xSectorSize(Sub(file)); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Sub(file)->pMethods->xDeviceCharacteristics(Sub(file));
}

int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return Sub(file)->pMethods->xShmMap(Sub(file), region, size, extend, out);
}

// SQLite's WAL lock slots (wal.c): 0 WRITE, 1 CHECKPOINTER, 2 RECOVER,
// 3.. the readers.
constexpr int kWalWriteSlot = 0;
constexpr int kWalCheckpointSlot = 1;
constexpr int kWalFirstReadSlot = 3;

bool Covers(int offset, int n, int slot) { return offset <= slot && slot < offset + n; }

int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  WriteGate* gate = Gate(file);
  WriteGate::NoteThreadActivity(gate);
  sqlite3_file* sub = Sub(file);
  if (gate == nullptr) return sub->pMethods->xShmLock(sub, offset, n, flags);
  const bool exclusive = (flags & SQLITE_SHM_LOCK) && (flags & SQLITE_SHM_EXCLUSIVE);
  unsigned took = 0;
  if (exclusive && Covers(offset, n, kWalWriteSlot)) {
    const int taken = ToSqlite(gate->Take(WriteGate::kWalWrite));
    if (taken != SQLITE_OK) return taken;
    took = WriteGate::kWalWrite;
  } else if (exclusive && Covers(offset, n, kWalCheckpointSlot)) {
    const int taken = ToSqlite(gate->TakeForCheckpoint());
    if (taken != SQLITE_OK) return taken;
    took = WriteGate::kCheckpoint;
  }
  const int rc = sub->pMethods->xShmLock(sub, offset, n, flags);
  if (took != 0 && rc != SQLITE_OK) gate->Drop(static_cast<WriteGate::Reason>(took));
  if (flags & SQLITE_SHM_UNLOCK) {
    if (Covers(offset, n, kWalWriteSlot)) gate->Drop(WriteGate::kWalWrite);
    if (Covers(offset, n, kWalCheckpointSlot)) gate->Drop(WriteGate::kCheckpoint);
    // A reader let go: SQLite gave up the attempt a granted lock was for.
    if (offset >= kWalFirstReadSlot) gate->DropPending();
  }
  return rc;
}

void ShmBarrier(sqlite3_file* file) { Sub(file)->pMethods->xShmBarrier(Sub(file)); }
int ShmUnmap(sqlite3_file* file, int del) {
  return Sub(file)->pMethods->xShmUnmap(Sub(file), del);
}
int Fetch(sqlite3_file* file, sqlite3_int64 off, int amt, void** out) {
  return Sub(file)->pMethods->xFetch(Sub(file), off, amt, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 off, void* p) {
  return Sub(file)->pMethods->xUnfetch(Sub(file), off, p);
}

// Where WAL is safe: every method, shared memory included.
constexpr sqlite3_io_methods kMethods = {
    3,      Close,    Read,    Write,         Truncate,  Sync,
    FileSize, Lock,   Unlock,  CheckReservedLock, FileControl, SectorSize,
    DeviceCharacteristics, ShmMap, ShmLock, ShmBarrier, ShmUnmap, Fetch,
    Unfetch};
// Where it is not: no shared memory and no memory mapping, so SQLite
// keeps the database in a rollback journal (sqlite3PagerWalSupported).
constexpr sqlite3_io_methods kMethodsNoShm = {
    1,      Close,    Read,    Write,         Truncate,  Sync,
    FileSize, Lock,   Unlock,  CheckReservedLock, FileControl, SectorSize,
    DeviceCharacteristics, nullptr, nullptr, nullptr, nullptr, nullptr,
    nullptr};

// A refused open: nothing is open below. SQLite's open reads the header
// (an empty file, here) and asks for the sector size; the auto-extension
// then fails the open with the refusal. Should it not run, every lock
// fails, so nothing is ever read or written.
int RefusedRead(sqlite3_file*, void* buf, int amt, sqlite3_int64) {
  std::memset(buf, 0, static_cast<std::size_t>(amt));
  return SQLITE_IOERR_SHORT_READ;
}
int RefusedWrite(sqlite3_file*, const void*, int, sqlite3_int64) { return SQLITE_CANTOPEN; }
int RefusedTruncate(sqlite3_file*, sqlite3_int64) { return SQLITE_CANTOPEN; }
int RefusedSync(sqlite3_file*, int) { return SQLITE_CANTOPEN; }
int RefusedFileSize(sqlite3_file*, sqlite3_int64* size) {
  *size = 0;
  return SQLITE_OK;
}
int RefusedLock(sqlite3_file*, int) { return SQLITE_CANTOPEN; }
int RefusedUnlock(sqlite3_file*, int) { return SQLITE_OK; }
int RefusedCheckReserved(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int RefusedFileControl(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int RefusedSectorSize(sqlite3_file*) { return 4096; }
int RefusedDeviceCharacteristics(sqlite3_file*) { return 0; }

constexpr sqlite3_io_methods kRefusedMethods = {
    1,
    Close,
    RefusedRead,
    RefusedWrite,
    RefusedTruncate,
    RefusedSync,
    RefusedFileSize,
    RefusedLock,
    RefusedUnlock,
    RefusedCheckReserved,
    RefusedFileControl,
    RefusedSectorSize,
    RefusedDeviceCharacteristics,
    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};

bool IsOurs(const sqlite3_file* file) {
  return file != nullptr && (file->pMethods == &kMethods || file->pMethods == &kMethodsNoShm ||
                             file->pMethods == &kRefusedMethods);
}

// ------------------------------------------------------------ VFS methods

// The database's header says WAL (file format version bytes 18, 19 = 2).
bool HeaderSaysWal(sqlite3_file* sub) {
  unsigned char header[20] = {};
  const int rc = sub->pMethods->xRead(sub, header, sizeof header, 0);
  if (rc != SQLITE_OK) return false;  // Empty or short: a new database.
  return header[18] == 2 || header[19] == 2;
}

// The checks and the registration; the refusal when they fail.
Status Prepare(FileState& st, const char* name, int flags) {
  auto uri = [name](const char* key) { return sqlite3_uri_parameter(name, key); };
  auto db = SharedDatabase::Acquire(st.path, (flags & SQLITE_OPEN_CREATE) != 0, uri);
  if (!db.has_value()) return std::move(db).error();
  if ((*db)->handed_over_to() != 0) return (*db)->HandedOver();
  auto gate = WriteGate::Open(*db);
  if (!gate.has_value()) return std::move(gate).error();
  st.db = std::move(db).value();
  st.gate = std::move(gate).value();
  return Status();
}

std::string Refusal(const std::string& path, const Status& why) {
  std::string text = "sqlsteward refused to open " + path + ": " + std::string(why.message());
  if (!why.hint().empty()) text += " (what to do: " + std::string(why.hint()) + ")";
  return text;
}

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  if (name == nullptr || (flags & SQLITE_OPEN_MAIN_DB) == 0) {
    return g_sub->xOpen(g_sub, name, file, flags, out_flags);
  }
  auto* f = reinterpret_cast<StewardFile*>(file);
  f->base.pMethods = nullptr;
  f->state = new (std::nothrow) FileState;
  if (f->state == nullptr) return SQLITE_NOMEM;
  FileState& st = *f->state;
  st.path = name;
  st.read_only = (flags & SQLITE_OPEN_READONLY) != 0;
  WriteGate::NoteThreadActivity(nullptr);
  if (!st.read_only) st.refusal = Prepare(st, name, flags);
  if (st.refusal.ok()) {
    const int rc = g_sub->xOpen(g_sub, name, Sub(file), flags, out_flags);
    if (rc != SQLITE_OK) {
      delete f->state;
      f->state = nullptr;
      return rc;
    }
    st.sub_open = true;
    if (st.db != nullptr && !st.db->allow_wal() && HeaderSaysWal(Sub(file))) {
      st.refusal = FailedPrecondition(
          "the database is in WAL mode, which is unsafe here: " + st.db->policy_reason(),
          "convert it to a rollback journal where WAL is safe (`PRAGMA journal_mode=DELETE` "
          "on the machine whose disk holds it), or move it to a local disk");
    }
  }
  if (!st.refusal.ok()) {
    f->base.pMethods = &kRefusedMethods;
    if (out_flags != nullptr) *out_flags = flags;
    return SQLITE_OK;
  }
  f->base.pMethods = st.db == nullptr || st.db->allow_wal() ? &kMethods : &kMethodsNoShm;
  return SQLITE_OK;
}

// The busy handler's sleep (sqlite3_busy_timeout's, among others): spent
// queued for the write lock when this thread was just told SQLITE_BUSY
// for it.
int Sleep(sqlite3_vfs*, int microseconds) {
  if (microseconds > 0 &&
      WriteGate::SleepOnBehalfOfThread(std::chrono::microseconds(microseconds))) {
    return microseconds;
  }
  return g_sub->xSleep(g_sub, microseconds);
}

}  // namespace

int RegisterVfs() {
  if (sqlite3_vfs_find(kVfsName) != nullptr) return SQLITE_OK;
  g_sub = sqlite3_vfs_find(nullptr);
  if (g_sub == nullptr) return SQLITE_ERROR;
  g_vfs = internal::ForwardingVfs<&g_sub>::Make(kVfsName, 3, static_cast<int>(sizeof(StewardFile)));
  g_vfs.xOpen = Open;
  g_vfs.xSleep = Sleep;
  return sqlite3_vfs_register(&g_vfs, 1);
}

std::unique_ptr<MainFileView> ViewMainFile(sqlite3_file* file) {
  if (!IsOurs(file)) return nullptr;
  const FileState& st = State(file);
  auto view = std::make_unique<MainFileView>();
  view->path = st.path;
  view->read_only = st.read_only;
  if (!st.refusal.ok()) {
    view->refusal = Status(st.refusal.code(), Refusal(st.path, st.refusal),
                           std::string(st.refusal.hint()), st.refusal.sqlite_code(),
                           st.refusal.sys_errno());
  }
  view->database = st.db;
  return view;
}

}  // namespace sqlsteward::ext
