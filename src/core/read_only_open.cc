#include "core/read_only_open.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/status_builders.h"

namespace sqlsteward::internal {

Result<DatabaseHeader> ReadDatabaseHeader(const std::string& path, const std::string& vfs_name) {
  sqlite3_vfs* vfs = sqlite3_vfs_find(vfs_name.empty() ? nullptr : vfs_name.c_str());
  if (vfs == nullptr) {
    return InvalidArgument("no SQLite VFS named \"" + vfs_name + "\"",
                           "leave Options::vfs empty, or register the VFS first");
  }
  std::unique_ptr<char[]> storage(new char[static_cast<std::size_t>(vfs->szOsFile)]);
  auto* file = reinterpret_cast<sqlite3_file*>(storage.get());
  std::memset(file, 0, static_cast<std::size_t>(vfs->szOsFile));
  int out_flags = 0;
  int rc = vfs->xOpen(vfs, path.c_str(), file, SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READONLY,
                      &out_flags);
  if (rc != SQLITE_OK) {
    // xOpen sets no pMethods on failure; nothing to close.
    return IOError("cannot open " + path + " to read its header: " + sqlite3_errstr(rc),
                   "check that the file exists and is readable by this process", rc, errno);
  }
  DatabaseHeader header;
  sqlite3_int64 size = 0;
  unsigned char head[100] = {};
  rc = file->pMethods->xFileSize(file, &size);
  if (rc == SQLITE_OK) {
    header.size = size;
    rc = file->pMethods->xRead(file, head, sizeof head, 0);
  }
  // The VFS keeps the descriptor open while connections of this process
  // hold locks on the file, so its close drops none of them.
  file->pMethods->xClose(file);
  if (rc == SQLITE_IOERR_SHORT_READ) return header;  // Shorter than a header.
  if (rc != SQLITE_OK) {
    return IOError("cannot read the header of " + path + ": " + sqlite3_errstr(rc),
                   "check the disk and the file's permissions", rc);
  }
  header.magic_ok = std::memcmp(head, "SQLite format 3", 16) == 0;
  header.read_version = head[19];
  return header;
}

ReadOnlyOpen PlanReadOnlyOpen(posix::Env* env, const std::string& path,
                              const DatabaseHeader& header) {
  struct stat st;
  const bool wal = env->Lstat((path + "-wal").c_str(), &st) == 0;
  const bool shm = env->Lstat((path + "-shm").c_str(), &st) == 0;
  ReadOnlyOpen plan;
  using Why = ReadOnlyOpen::Why;
  if (wal && !shm) {
    plan.why = Why::kWalWithoutShm;
    plan.reason =
        "the -wal file exists without its -shm; a normal read-only open would "
        "create -shm, so the WAL's contents were not examined";
  } else if (header.read_version == 2 && !wal) {
    plan.why = Why::kClosedWal;
    plan.reason =
        "the database is in WAL mode and closed (no -wal file), so there is no "
        "WAL to read; a normal read-only open would create -wal and -shm";
  } else if (header.size == 0 && wal) {
    plan.why = Why::kEmptyBesideWal;
    plan.reason =
        "the database file is empty but a -wal exists, which a normal open would "
        "delete; the WAL's contents were not examined";
  }
  plan.uri = SqliteFileUri(path, plan.immutable() ? "mode=ro&immutable=1" : "mode=ro&readonly_shm=1");
  return plan;
}

std::string SqliteFileUri(std::string_view path, std::string_view query) {
  std::string out = "file:";
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    bool keep = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                c == '/' || c == '-' || c == '_' || c == '.' || c == '~';
    if (keep) {
      out += c;
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", u);
      out += hex;
    }
  }
  out += '?';
  out += query;
  return out;
}

}  // namespace sqlsteward::internal
