// A VFS stacked on another one: every method of the VFS object itself
// passes to the VFS below, except those the shim sets for itself (xOpen,
// always; xSleep, in the extension). The snapshot writer's VFS
// (snapshot/writer_vfs.cc) and the extension's (ext/vfs.cc) are both such
// shims.
//
// Header-only over <sqlite3.h>'s types: it calls only through the lower
// VFS's own function pointers, never the sqlite3_* API, so it serves the
// library (linked to SQLite) and the extension (which reaches SQLite only
// through sqlite3ext.h) alike. `Below` is the address of the pointer to
// the lower VFS, set before the shim is registered.
#ifndef SQLSTEWARD_BASE_SQLITE_VFS_FORWARD_H_
#define SQLSTEWARD_BASE_SQLITE_VFS_FORWARD_H_

#include <sqlite3.h>

namespace sqlsteward::internal {

template <sqlite3_vfs** Below>
struct ForwardingVfs {
  static sqlite3_vfs* below() { return *Below; }

  static int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
    return below()->xDelete(below(), name, sync_dir);
  }
  static int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return below()->xAccess(below(), name, flags, out);
  }
  static int FullPathname(sqlite3_vfs*, const char* name, int size, char* out) {
    return below()->xFullPathname(below(), name, size, out);
  }
  static void* DlOpen(sqlite3_vfs*, const char* name) { return below()->xDlOpen(below(), name); }
  static void DlError(sqlite3_vfs*, int size, char* out) { below()->xDlError(below(), size, out); }
  static void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
    return below()->xDlSym(below(), handle, symbol);
  }
  static void DlClose(sqlite3_vfs*, void* handle) { below()->xDlClose(below(), handle); }
  static int Randomness(sqlite3_vfs*, int size, char* out) {
    return below()->xRandomness(below(), size, out);
  }
  static int Sleep(sqlite3_vfs*, int micros) { return below()->xSleep(below(), micros); }
  static int CurrentTime(sqlite3_vfs*, double* out) { return below()->xCurrentTime(below(), out); }
  static int GetLastError(sqlite3_vfs*, int size, char* out) {
    return below()->xGetLastError != nullptr ? below()->xGetLastError(below(), size, out) : 0;
  }
  static int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
    return below()->xCurrentTimeInt64(below(), out);
  }
  static int SetSystemCall(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr call) {
    return below()->xSetSystemCall(below(), name, call);
  }
  static sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs*, const char* name) {
    return below()->xGetSystemCall(below(), name);
  }
  static const char* NextSystemCall(sqlite3_vfs*, const char* name) {
    return below()->xNextSystemCall(below(), name);
  }

  // The shim's VFS object: named `name`, of structure version `version`
  // (at most the lower one's), whose file objects hold `own_file_bytes`
  // before the lower VFS's own; every method but xOpen forwarded.
  static sqlite3_vfs Make(const char* name, int version, int own_file_bytes) {
    sqlite3_vfs vfs{};
    vfs.iVersion = version < below()->iVersion ? version : below()->iVersion;
    vfs.szOsFile = own_file_bytes + below()->szOsFile;
    vfs.mxPathname = below()->mxPathname;
    vfs.zName = name;
    vfs.xDelete = Delete;
    vfs.xAccess = Access;
    vfs.xFullPathname = FullPathname;
    vfs.xDlOpen = DlOpen;
    vfs.xDlError = DlError;
    vfs.xDlSym = DlSym;
    vfs.xDlClose = DlClose;
    vfs.xRandomness = Randomness;
    vfs.xSleep = Sleep;
    vfs.xCurrentTime = CurrentTime;
    vfs.xGetLastError = GetLastError;
    if (vfs.iVersion >= 2) vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    if (vfs.iVersion >= 3) {
      vfs.xSetSystemCall = SetSystemCall;
      vfs.xGetSystemCall = GetSystemCall;
      vfs.xNextSystemCall = NextSystemCall;
    }
    return vfs;
  }
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_BASE_SQLITE_VFS_FORWARD_H_
