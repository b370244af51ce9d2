#include "support/stale_entry_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string_view>

#include "base/sqlite_vfs_forward.h"

namespace sqlsteward::testing {
namespace {

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;
std::atomic<int> g_opens_left{0};  // Negative: every one.
std::atomic<int> g_failures{0};
// The failed open's errno, for SQLite's xGetLastError on the same thread
// (sqlite3_system_errno, which the library turns into kNotFound).
thread_local bool t_failed_open = false;

bool IsJournal(const char* name) {
  return name != nullptr && std::string_view(name).ends_with("-journal");
}

// Takes one stale open if any is left.
bool TakeStaleOpen() {
  int left = g_opens_left.load();
  while (left != 0) {
    if (left < 0) return true;
    if (g_opens_left.compare_exchange_weak(left, left - 1)) return true;
  }
  return false;
}

int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  if (flags == SQLITE_ACCESS_EXISTS && IsJournal(name) && g_opens_left.load() != 0) {
    *out = 1;
    return SQLITE_OK;
  }
  return g_real->xAccess(g_real, name, flags, out);
}

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  if ((flags & SQLITE_OPEN_MAIN_JOURNAL) != 0 && IsJournal(name) && TakeStaleOpen()) {
    g_failures.fetch_add(1);
    t_failed_open = true;
    file->pMethods = nullptr;  // SQLite then does not call xClose.
    errno = ENOENT;
    return SQLITE_CANTOPEN;
  }
  t_failed_open = false;
  return g_real->xOpen(g_real, name, file, flags, out_flags);
}

int GetLastError(sqlite3_vfs*, int size, char* out) {
  if (t_failed_open) return ENOENT;
  return g_real->xGetLastError != nullptr ? g_real->xGetLastError(g_real, size, out) : 0;
}

}  // namespace

bool RegisterStaleEntryVfs() {
  static std::once_flag once;
  static int rc = SQLITE_ERROR;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (g_real == nullptr) return;
    g_vfs = internal::ForwardingVfs<&g_real>::Make(kStaleEntryVfs, g_real->iVersion, 0);
    g_vfs.xOpen = Open;
    g_vfs.xAccess = Access;
    g_vfs.xGetLastError = GetLastError;
    rc = sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  });
  return rc == SQLITE_OK;
}

void SetStaleJournalOpens(int opens) { g_opens_left.store(opens); }

int StaleJournalFailures() { return g_failures.load(); }

}  // namespace sqlsteward::testing
