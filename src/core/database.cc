// Database::Open prepares the files before SQLite sees them:
//   - the parent directory exists (created 0700 when allowed) and is a
//     directory;
//   - the database path is not a symbolic link, a directory or a file with
//     several hard links (another name would mean other -wal/-journal names
//     and locks that do not meet: sqlite.org/howtocorrupt.html);
//   - a new database file is created by us with O_EXCL, mode 0600, and the
//     directory is fsynced; SQLite then creates -wal/-shm/-journal with the
//     database's mode;
//   - existing files looser than 0600 are tightened (EPERM, as in a user
//     namespace, is a warning);
//   - the sidecar is opened, then the writer connection under the
//     cross-process write lock (so a journal-mode change never races another
//     sqlsteward writer); reader connections open lazily.
// After fork() the child's copy of a handle refuses every call and its
// destructor leaks the handle on purpose: closing SQLite connections or
// releasing OFD locks there would act on the parent's locks.
#include "sqlsteward/database.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "base/mutex.h"
#include "core/connection.h"
#include "core/database_access.h"
#include "base/metrics_recorder.h"
#include "posix/env.h"
#include "posix/fs.h"
#include "core/reader_pool.h"
#include "probe/probes.h"
#include "sidecar/registry.h"
#include "sidecar/sidecar_file.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/probe.h"
#include "core/write_queue.h"

namespace sqlsteward {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<std::uint64_t> g_fork_generation{0};

void InstallForkHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork(nullptr, nullptr,
                   [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
  });
}

// Serialises our own create-and-close of new database files within the
// process: close() drops every POSIX lock the process holds on the file, so
// no SQLite connection of ours may be using it meanwhile.
Mutex g_create_mu;

Clock::time_point DeadlineAfter(std::chrono::milliseconds timeout,
                                std::chrono::milliseconds fallback) {
  return Clock::now() + (timeout.count() > 0 ? timeout : fallback);
}

// Tightens an existing file to 0600; absent files are fine.
Status TightenMode(posix::Env* env, const std::string& path, const Options& options) {
  struct stat st;
  if (env->Lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status() : posix::ErrnoStatus(errno, "stat", path);
  }
  if (S_ISLNK(st.st_mode)) {
    return Status(StatusCode::kFailedPrecondition, path + " is a symbolic link",
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

Status PrepareDatabaseFile(posix::Env* env, const std::string& path, const Options& options) {
  std::string dir = posix::DirName(path);
  struct stat st;
  if (env->Stat(dir.c_str(), &st) != 0) {  // A link to a directory is fine.
    if (errno != ENOENT) return posix::ErrnoStatus(errno, "stat", dir);
    if (!options.create_if_missing) {
      return Status(StatusCode::kNotFound, "directory " + dir + " does not exist",
                    "create it, or open with Options::create_if_missing = true", 0, ENOENT);
    }
    SQLSTEWARD_RETURN_IF_ERROR(
        posix::MakeDirectories(env, dir, "choose a database path inside a directory"));
  } else if (!S_ISDIR(st.st_mode)) {
    return Status(StatusCode::kInvalidArgument, dir + " is not a directory",
                  "choose a database path inside a directory", 0, ENOTDIR);
  }

  if (env->Lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return posix::ErrnoStatus(errno, "stat", path);
    if (!options.create_if_missing) {
      return Status(StatusCode::kNotFound, path + " does not exist",
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
  if (S_ISLNK(st.st_mode)) {
    return Status(StatusCode::kFailedPrecondition, path + " is a symbolic link",
                  "open the file it points to directly: SQLite names its -wal and -journal "
                  "after the path, so two names for one database break locking");
  }
  if (S_ISDIR(st.st_mode)) {
    return Status(StatusCode::kInvalidArgument, path + " is a directory",
                  "give the path of a database file, e.g. " + path + "/app.db", 0, EISDIR);
  }
  if (!S_ISREG(st.st_mode)) {
    return Status(StatusCode::kInvalidArgument, path + " is not a regular file",
                  "give the path of a database file");
  }
  if (st.st_nlink > 1) {
    return Status(StatusCode::kFailedPrecondition,
                  path + " has " + std::to_string(st.st_nlink) + " hard links",
                  "remove the other links: SQLite keys its journal and locks by name, so a "
                  "second name can corrupt the database (sqlite.org/howtocorrupt.html)");
  }
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
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    SQLSTEWARD_RETURN_IF_ERROR(TightenMode(env, path + suffix, options));
  }
  return Status();
}

// Resolves Options::journal_mode against what the filesystem can be trusted
// with (see probe.h).
Result<JournalMode> ChooseJournalMode(posix::Env* env, const std::string& path,
                                      const Options& options) {
  auto report = probe_internal::ProbeDirectoryCached(env, posix::DirName(path));
  if (!report.has_value()) return std::move(report).error().WithContext("probe filesystem");
  JournalPolicy policy = ChoosePolicy(*report);
  JournalMode mode = options.journal_mode;
  if (mode == JournalMode::kAuto) mode = policy.allow_wal ? JournalMode::kWal : JournalMode::kDelete;
  if (options.unsafe_ignore_filesystem_probe) {
    if (!policy.allow_multi_process || (mode == JournalMode::kWal && !policy.allow_wal)) {
      options.on_warning("unsafe_ignore_filesystem_probe overrides: " + policy.reason);
    }
    return mode;
  }
  if (!policy.allow_multi_process) {
    return Status(StatusCode::kFailedPrecondition,
                  "sharing " + path + " is unsafe on this filesystem: " + policy.reason,
                  "move the database to a local disk (ext4, xfs, btrfs) that every process "
                  "reaches through the same mount");
  }
  if (mode == JournalMode::kWal && !policy.allow_wal) {
    return Status(StatusCode::kFailedPrecondition,
                  "WAL is unsafe for " + path + ": " + policy.reason,
                  "use JournalMode::kAuto (a rollback journal here), or move the database to a "
                  "local disk");
  }
  if (mode == JournalMode::kDelete && !policy.allow_rollback) {
    return Status(StatusCode::kFailedPrecondition,
                  "a rollback journal is unsafe for " + path + ": " + policy.reason,
                  "move the database to a local disk");
  }
  return mode;
}

// How long Open waits out a file of the database that this host's
// directory-entry cache still shows after another mount or host removed
// it (see OpenWriter). FUSE's default entry_timeout is 1 s.
constexpr auto kStaleEntryWait = std::chrono::seconds(5);
constexpr auto kStaleEntryRetry = std::chrono::milliseconds(50);

// The writer's connection, opened under the cross-process write lock (its
// first read may roll back a hot journal). On a filesystem whose clients
// cache directory entries (FUSE, virtiofs, network filesystems), a
// -journal just deleted through another mount can still look present
// here, and SQLite's open of it fails with ENOENT (kNotFound) until the
// cache expires: that is retried, the lock released in between, for up to
// kStaleEntryWait within the deadline.
Result<std::unique_ptr<internal::Connection>> OpenWriter(internal::WriteLock& write_lock,
                                                         posix::Env* env,
                                                         const std::string& path,
                                                         const Options& opts,
                                                         Clock::time_point deadline,
                                                         std::atomic<std::uint64_t>* busy) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up = std::min(deadline, start + kStaleEntryWait);
  for (int attempt = 1;; ++attempt) {
    SQLSTEWARD_RETURN_IF_ERROR(write_lock.Acquire(deadline).WithContext("open " + path));
    auto writer = internal::Connection::Open(path, internal::Role::kWriter, opts, deadline, busy);
    write_lock.Release();
    if (writer.has_value() || writer.error().code() != StatusCode::kNotFound) return writer;
    auto report = probe_internal::ProbeDirectoryCached(env, posix::DirName(path));
    if (!report.has_value() || report->kind == FsKind::kLocal ||
        report->kind == FsKind::kTmpfs || report->kind == FsKind::kOverlay) {
      return writer;
    }
    if (Clock::now() + kStaleEntryRetry >= give_up) {
      const Status& error = writer.error();
      return Status(StatusCode::kNotFound,
                    std::string(error.message()) + " (" + std::to_string(attempt) +
                        " attempts in " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           Clock::now() - start)
                                           .count()) +
                        " ms)",
                    "the database exists, but a file beside it (its -journal) could not be "
                    "opened: on " + std::string(FsKindName(report->kind)) +
                        " a file removed through another mount or host can stay listed in "
                        "this host's directory-entry cache; retry, or mount with a shorter "
                        "entry cache (FUSE entry_timeout, NFS actimeo)",
                    error.sqlite_code(), error.sys_errno());
    }
    std::this_thread::sleep_for(kStaleEntryRetry);
  }
}

Status ForkedStatus() {
  return Status(StatusCode::kFailedPrecondition,
                "this Database handle was opened by the parent process before fork()",
                "open a new handle in the child; an inherited handle would share the "
                "parent's locks and file descriptors");
}

Status ClosedStatus() {
  return Status(StatusCode::kUnavailable, "the database handle is closed", "open a new handle");
}

}  // namespace

class Database::Impl {
 public:
  std::string path;
  Options options;
  posix::Env* env = nullptr;
  std::uint64_t fork_generation = 0;
  internal::MetricsRecorder metrics;
  std::unique_ptr<internal::SidecarFile> sidecar;
  std::unique_ptr<internal::WriteLock> write_lock;
  std::unique_ptr<internal::Connection> writer;
  std::unique_ptr<internal::WriteQueue> queue;
  std::unique_ptr<internal::ReaderPool> readers;
  // Last in, first out: the registry's heartbeat thread calls StepDown.
  std::unique_ptr<internal::Registry> registry;
  JournalMode journal_mode = JournalMode::kWal;

  // Held across the handle's transitions: publishing the writer and queue
  // in Open, a step-down, Close. Outermost lock of the handle (docs/
  // design.md, "Lock order"): it may be held while waiting for the write
  // lock, never the other way round.
  Mutex close_mu;
  std::atomic<bool> closed{false};
  std::atomic<std::int32_t> handed_over_to{0};

  bool Forked() const {
    return g_fork_generation.load(std::memory_order_relaxed) != fork_generation;
  }
  Status Usable() const {
    if (Forked()) return ForkedStatus();
    if (std::int32_t to = handed_over_to.load(std::memory_order_acquire); to != 0) {
      return HandedOverStatus(to);
    }
    if (closed.load(std::memory_order_acquire)) return ClosedStatus();
    return Status();
  }
  static Status HandedOverStatus(std::int32_t successor) {
    return Status(StatusCode::kUnavailable,
                  "this instance handed the database over to pid " + std::to_string(successor),
                  "retry the request on the new instance (e.g. answer 503 and let the client "
                  "retry); nothing of this write was applied");
  }
  // Finishes the running batch; the queue checkpoints under the write lock
  // as it shuts down. REQUIRES: close_mu held.
  void DrainWrites(const Status& reason) REQUIRES(close_mu);
  void StepDown(std::int32_t successor) EXCLUDES(close_mu);
  Status Close() EXCLUDES(close_mu);
};

void Database::Impl::DrainWrites(const Status& reason) {
  if (queue) queue->Shutdown(reason);
}

void Database::Impl::StepDown(std::int32_t successor) {
  {
    MutexLock lock(&close_mu);
    if (closed.load(std::memory_order_acquire)) return;
    handed_over_to.store(successor, std::memory_order_release);
    DrainWrites(HandedOverStatus(successor));
  }
  if (options.on_handed_over) options.on_handed_over(successor);
  // The registry frees the slot when this returns: the successor proceeds.
}

Status Database::Impl::Close() {
  {
    MutexLock lock(&close_mu);
    if (closed.exchange(true, std::memory_order_acq_rel)) return Status();
    DrainWrites(Status());
    if (readers) readers->Close();
  }
  // Outside close_mu: joining the heartbeat thread waits for a StepDown in
  // progress, which takes close_mu.
  if (registry) registry->Release();
  registry.reset();
  queue.reset();
  writer.reset();
  write_lock.reset();
  sidecar.reset();
  return Status();
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                 const Options& options) {
  return internal::DatabaseAccess::OpenWithEnv(path, options, posix::Env::Default());
}

Result<std::unique_ptr<Database>> internal::DatabaseAccess::OpenWithEnv(const std::string& path,
                                                                        const Options& options,
                                                                        posix::Env* env) {
  InstallForkHandler();
  if (path.empty()) {
    return Status(StatusCode::kInvalidArgument, "empty database path",
                  "give the path of a database file");
  }
  if (options.reader_connections < 1 || options.max_batch_jobs < 1) {
    return Status(StatusCode::kInvalidArgument,
                  "reader_connections and max_batch_jobs must be at least 1",
                  "use the defaults unless measured otherwise");
  }
  auto impl = std::make_unique<Database::Impl>();
  impl->env = env;
  impl->path = path;
  impl->options = options;
  if (!impl->options.on_warning) {
    impl->options.on_warning = [](std::string_view message) {
      std::fprintf(stderr, "sqlsteward: warning: %.*s\n", static_cast<int>(message.size()),
                   message.data());
    };
  }
  impl->fork_generation = g_fork_generation.load(std::memory_order_relaxed);
  const Options& opts = impl->options;

  SQLSTEWARD_RETURN_IF_ERROR(PrepareDatabaseFile(impl->env, path, opts));
  auto mode = ChooseJournalMode(impl->env, path, opts);
  if (!mode.has_value()) return std::move(mode).error();
  impl->options.journal_mode = *mode;
  if (!opts.vfs.empty()) SQLSTEWARD_RETURN_IF_ERROR(internal::VerifyVfsLocks(path, opts.vfs));
  auto sidecar = internal::SidecarFile::Open(impl->env, path, opts.on_warning);
  if (!sidecar.has_value()) return std::move(sidecar).error();
  impl->sidecar = std::move(sidecar).value();
  auto write_lock = internal::WriteLock::Create(*impl->sidecar);
  if (!write_lock.has_value()) return std::move(write_lock).error();
  impl->write_lock = std::move(write_lock).value();

  auto deadline = DeadlineAfter(opts.write_timeout, std::chrono::milliseconds(30'000));
  internal::Registry::Config reg;
  reg.ownership = opts.ownership;
  reg.wait_for_owner = opts.wait_for_owner;
  reg.take_over = opts.take_over;
  reg.handover_timeout = opts.handover_timeout;
  reg.heartbeat_interval = opts.heartbeat_interval;
  reg.wal = opts.journal_mode == JournalMode::kWal;
  Database::Impl* raw = impl.get();
  reg.on_step_down = [raw](std::int32_t successor) { raw->StepDown(successor); };
  auto registry = internal::Registry::Register(impl->env, path, std::move(reg),
                                               std::max(deadline, Clock::now() +
                                                                      opts.wait_for_owner +
                                                                      opts.handover_timeout));
  if (!registry.has_value()) return std::move(registry).error();
  impl->registry = std::move(registry).value();

  // The registry's heartbeat thread may already call StepDown (a successor
  // asking us to hand over): it takes close_mu, so it sees either nothing
  // (and only marks the handle handed over) or the finished handle.
  {
    MutexLock publish(&impl->close_mu);
    auto writer = OpenWriter(*impl->write_lock, impl->env, path, opts, deadline,
                             impl->metrics.busy_counter());
    if (!writer.has_value()) return std::move(writer).error();
    impl->writer = std::move(writer).value();
    impl->journal_mode = impl->writer->journal_mode();
    // SQLite created -wal/-shm with the database's mode; tighten any that
    // predate us.
    for (const char* suffix : {"-wal", "-shm"}) {
      SQLSTEWARD_RETURN_IF_ERROR(TightenMode(impl->env, path + suffix, opts));
    }

    impl->queue = std::make_unique<internal::WriteQueue>(impl->writer.get(), impl->write_lock.get(),
                                                         opts, &impl->metrics);
    impl->readers = std::make_unique<internal::ReaderPool>(path, opts, &impl->metrics);
  }
  std::unique_ptr<Database> db(new Database(std::move(impl)));
  if (db->impl_->options.after_open) {
    SQLSTEWARD_RETURN_IF_ERROR(db->impl_->options.after_open(*db).WithContext("after_open"));
  }
  return db;
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Status internal::DatabaseAccess::WithWriterConnection(
    Database& db, const std::function<Status(Connection&)>& fn,
    std::chrono::steady_clock::time_point deadline, std::string_view purpose) {
  SQLSTEWARD_RETURN_IF_ERROR(db.impl_->Usable());
  return db.impl_->queue->SubmitRaw(fn, deadline, std::string(purpose));
}

const std::string& internal::DatabaseAccess::Vfs(const Database& db) {
  return db.impl_->options.vfs;
}

posix::Env* internal::DatabaseAccess::Env(const Database& db) { return db.impl_->env; }

void internal::DatabaseAccess::TraceWriter(Database& db,
                                           std::function<void(std::string_view)> trace) {
  db.impl_->writer->SetTrace(std::move(trace));
}

Status internal::DatabaseAccess::WriteExclusive(Database& db, const WriteFn& fn,
                                                std::chrono::steady_clock::time_point deadline,
                                                std::string_view purpose) {
  SQLSTEWARD_RETURN_IF_ERROR(db.impl_->Usable());
  return db.impl_->queue->SubmitExclusive(fn, deadline, std::string(purpose));
}

Database::~Database() {
  if (impl_ == nullptr) return;
  if (impl_->Forked()) {
    // See the comment at the top of this file: the child must not touch the
    // parent's connections, threads or locks.
    static_cast<void>(impl_.release());
    return;
  }
  impl_->Close().IgnoreError();
}

Status Database::Write(WriteFn fn, const WriteOptions& options) {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->Usable());
  return impl_->queue->Submit(
      fn, DeadlineAfter(options.timeout, impl_->options.write_timeout));
}

std::future<Status> Database::WriteAsync(WriteFn fn, const WriteOptions& options) {
  Status usable = impl_->Usable();
  if (!usable.ok()) {
    std::promise<Status> failed;
    failed.set_value(std::move(usable));
    return failed.get_future();
  }
  return impl_->queue->SubmitAsync(
      std::move(fn), DeadlineAfter(options.timeout, impl_->options.write_timeout));
}

Status Database::Read(ReadFn fn, const ReadOptions& options) {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->Usable());
  return impl_->readers->Run(fn, DeadlineAfter(options.timeout, impl_->options.read_timeout));
}

Status Database::Checkpoint() {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->Usable());
  return impl_->queue->Checkpoint(Clock::now() + impl_->options.write_timeout);
}

Status Database::Close() {
  if (impl_->Forked()) return ForkedStatus();
  return impl_->Close();
}

MetricsSnapshot Database::Metrics() const {
  return impl_->metrics.Snapshot();
}

const std::string& Database::path() const { return impl_->path; }
JournalMode Database::journal_mode() const { return impl_->journal_mode; }

}  // namespace sqlsteward
