#include "sidecar/database_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/mutex.h"
#include "base/status_builders.h"
#include "posix/fs.h"
#include "probe/probes.h"
#include "sqlsteward/probe.h"

namespace sqlsteward::internal {
namespace {

// Serialises our own create-and-close of new database files within the
// process: close() drops every POSIX lock the process holds on the file, so
// no SQLite connection of ours may be using it meanwhile.
Mutex g_create_mu;

}  // namespace

// Tightens an existing file to 0600; absent files are fine.
Status TightenMode(posix::Env* env, const std::string& path, const Options& options) {
  struct stat st;
  if (env->Lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status() : posix::ErrnoStatus(errno, "stat", path);
  }
  if (S_ISLNK(st.st_mode)) {
    return FailedPrecondition(
        path + " is a symbolic link",
        "sqlsteward never follows links for the database's own files; replace the "
        "link with the file");
  }
  if ((st.st_mode & 0077) == 0) return Status();
  if (env->ChmodNoFollow(path.c_str(), 0600) != 0) {
    if (errno == ENOENT) return Status();  // Removed meanwhile (a -journal at commit).
    if (errno != EPERM) return posix::ErrnoStatus(errno, "chmod", path);
    if (options.on_warning) {
      options.on_warning("cannot chmod " + path + " to 0600 (EPERM, likely a user namespace)");
    }
    return Status();
  }
  if (options.on_warning) options.on_warning("tightened " + path + " to mode 0600");
  return Status();
}

Status CheckDatabaseStat(const std::string& path, const struct stat& st) {
  if (S_ISLNK(st.st_mode)) {
    return FailedPrecondition(
        path + " is a symbolic link",
        "open the file it points to directly: SQLite names its -wal and -journal "
        "after the path, so two names for one database break locking");
  }
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgument(path + " is a directory",
                           "give the path of a database file, e.g. " + path + "/app.db", 0, EISDIR);
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path + " is not a regular file", "give the path of a database file");
  }
  if (st.st_nlink > 1) {
    return FailedPrecondition(
        path + " has " + std::to_string(st.st_nlink) + " hard links",
        "remove the other links: SQLite keys its journal and locks by name, so a "
        "second name can corrupt the database (sqlite.org/howtocorrupt.html)");
  }
  return Status();
}

Status CheckDatabaseForReading(posix::Env* env, const std::string& path) {
  struct stat st;
  if (env->Lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return NotFound(path + " does not exist",
                      "check the path; a read-only open never creates a database", 0, ENOENT);
    }
    return posix::ErrnoStatus(errno, "stat", path);
  }
  SQLSTEWARD_RETURN_IF_ERROR(CheckDatabaseStat(path, st));
  if (env->Access(path.c_str(), R_OK) != 0) {
    return posix::ErrnoStatus(errno, "access", path,
                              "the database must be readable by this process; fix its owner "
                              "or mode, or run as its owner");
  }
  return Status();
}

Result<std::string> ResolveDatabasePath(posix::Env* env, const std::string& path,
                                        const Options& options) {
  const std::size_t slash = path.rfind('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return InvalidArgument("\"" + path + "\" names a directory, not a database file",
                           "give the path of a database file, e.g. " + path + "/app.db", 0,
                           EISDIR);
  }
  std::string dir = posix::DirName(path);
  struct stat st;
  if (env->Stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return posix::ErrnoStatus(errno, "stat", dir);
    if (!options.create_if_missing || options.read_only) {
      return NotFound("directory " + dir + " does not exist",
                      options.read_only
                          ? "check the path; a read-only open never creates anything"
                          : "create it, or open with Options::create_if_missing = true",
                      0, ENOENT);
    }
    SQLSTEWARD_RETURN_IF_ERROR(
        posix::MakeDirectories(env, dir, "choose a database path inside a directory"));
  } else if (!S_ISDIR(st.st_mode)) {
    return InvalidArgument(dir + " is not a directory", "choose a database path inside a directory",
                           0, ENOTDIR);
  }
  std::string canonical;
  if (env->RealPath(dir.c_str(), &canonical) != 0) {
    return posix::ErrnoStatus(errno, "realpath", dir);
  }
  if (canonical.back() != '/') canonical += '/';
  return canonical + name;
}

Result<FileOwner> PrepareDatabaseFile(posix::Env* env, const std::string& path,
                                      const Options& options) {
  const std::string dir = posix::DirName(path);
  struct stat st;
  if (env->Lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return posix::ErrnoStatus(errno, "stat", path);
    if (!options.create_if_missing) {
      return NotFound(path + " does not exist",
                      "check the path, or open with Options::create_if_missing = true", 0, ENOENT);
    }
    MutexLock lock(&g_create_mu);
    int fd = env->Open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST) {
      return posix::ErrnoStatus(errno, "create", path,
                                "the directory must be writable by this process");
    }
    if (fd >= 0) {
      // fchmod: the umask may have cleared bits we asked for, never added any;
      // this keeps the mode exactly 0600.
      env->Fchmod(fd, 0600);
      env->Close(fd);
      SQLSTEWARD_RETURN_IF_ERROR(posix::SyncDirectory(env, dir));
    }
    if (env->Lstat(path.c_str(), &st) != 0) return posix::ErrnoStatus(errno, "stat", path);
  }
  SQLSTEWARD_RETURN_IF_ERROR(CheckDatabaseStat(path, st));
  SQLSTEWARD_RETURN_IF_ERROR(CheckDatabaseOwner(path, st));
  const FileOwner owner = FileOwner::Of(st);
  if (env->Access(path.c_str(), R_OK | W_OK) != 0) {
    return posix::ErrnoStatus(errno, "access", path,
                              "the database must be readable and writable by this process; "
                              "fix its owner or mode");
  }
  if (env->Access(dir.c_str(), W_OK | X_OK) != 0) {
    return posix::ErrnoStatus(errno, "access", dir,
                              "SQLite creates -wal, -shm and -journal files beside the "
                              "database: the directory must be writable");
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string companion = path + suffix;
    struct stat cst;
    if (env->Lstat(companion.c_str(), &cst) == 0) {
      SQLSTEWARD_RETURN_IF_ERROR(CheckCompanionOwner("file", companion, cst, owner));
    } else if (errno != ENOENT) {
      return posix::ErrnoStatus(errno, "stat", companion);
    }
  }
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    SQLSTEWARD_RETURN_IF_ERROR(TightenMode(env, path + suffix, options));
  }
  return owner;
}

// Resolves Options::journal_mode against what the filesystem can be trusted
// with (see probe.h).
Result<JournalMode> ChooseJournalMode(posix::Env* env, const std::string& path,
                                      const Options& options, ProbeReport* probed) {
  auto report = probe_internal::ProbeDirectoryCached(env, posix::DirName(path));
  if (!report.has_value()) return std::move(report).error().WithContext("probe filesystem");
  if (probed != nullptr) *probed = *report;
  JournalPolicy policy = ChoosePolicy(*report);
  JournalMode mode = options.journal_mode;
  if (mode == JournalMode::kAuto)
    mode = policy.allow_wal ? JournalMode::kWal : JournalMode::kDelete;
  if (options.unsafe_ignore_filesystem_probe) {
    if (!policy.allow_multi_process || (mode == JournalMode::kWal && !policy.allow_wal)) {
      options.on_warning("unsafe_ignore_filesystem_probe overrides: " + policy.reason);
    }
    return mode;
  }
  if (!policy.allow_multi_process) {
    return FailedPrecondition(
        "sharing " + path + " is unsafe on this filesystem: " + policy.reason,
        "move the database to a local disk (ext4, xfs, btrfs) that every process "
        "reaches through the same mount");
  }
  if (mode == JournalMode::kWal && !policy.allow_wal) {
    return FailedPrecondition(
        "WAL is unsafe for " + path + ": " + policy.reason,
        "use JournalMode::kAuto (a rollback journal here), or move the database to a "
        "local disk");
  }
  if (mode == JournalMode::kDelete && !policy.allow_rollback) {
    return FailedPrecondition("a rollback journal is unsafe for " + path + ": " + policy.reason,
                              "move the database to a local disk");
  }
  return mode;
}

}  // namespace sqlsteward::internal
