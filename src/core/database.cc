// The Database handle: Open ties the layers together (the file checks and
// the journal policy of open_steps.h, the sidecar's write lock and
// registry, the writer connection, the write queue and the reader pool);
// every call checks that the handle is usable, then goes to the queue or
// the pool.
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

#include "base/metrics_recorder.h"
#include "base/mutex.h"
#include "base/status_builders.h"
#include "core/connection.h"
#include "core/database_access.h"
#include "core/engine.h"
#include "core/open_steps.h"
#include "core/read_only_open.h"
#include "core/reader_pool.h"
#include "core/write_queue.h"
#include "posix/env.h"
#include "posix/fs.h"
#include "probe/probes.h"
#include "sidecar/registry.h"
#include "sidecar/sidecar_file.h"
#include "sidecar/write_lock.h"

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

Clock::time_point DeadlineAfter(std::chrono::milliseconds timeout,
                                std::chrono::milliseconds fallback) {
  return Clock::now() + (timeout.count() > 0 ? timeout : fallback);
}

Status ForkedStatus() {
  return FailedPrecondition("this Database handle was opened by the parent process before fork()",
                            "open a new handle in the child; an inherited handle would share the "
                            "parent's locks and file descriptors");
}

Status ReadOnlyStatus(const std::string& what) {
  return FailedPrecondition(what + " on a read-only handle (Options::read_only)",
                            "open the database without read_only to write; a read-only handle "
                            "writes nothing, to the database or beside it");
}

Status ClosedStatus() { return Unavailable("the database handle is closed", "open a new handle"); }

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
  // Set instead of the sidecar, writer, queue and readers when the database
  // is not a local file (core/engine.h).
  std::unique_ptr<internal::Engine> engine;
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
    return Unavailable("this instance handed the database over to pid " + std::to_string(successor),
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
    if (engine) engine->Close().IgnoreError();
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

Result<std::unique_ptr<Database::Impl>> internal::DatabaseAccess::NewImpl(const Options& options, posix::Env* env) {
  if (options.reader_connections < 1 || options.max_batch_jobs < 1) {
    return InvalidArgument("reader_connections and max_batch_jobs must be at least 1",
                           "use the defaults unless measured otherwise");
  }
  auto impl = std::make_unique<Database::Impl>();
  impl->env = env;
  impl->options = options;
  if (!impl->options.on_warning) {
    impl->options.on_warning = [](std::string_view message) {
      std::fprintf(stderr, "sqlsteward: warning: %.*s\n", static_cast<int>(message.size()),
                   message.data());
    };
  }
  impl->fork_generation = g_fork_generation.load(std::memory_order_relaxed);
  return impl;
}

Result<std::unique_ptr<Database>> internal::DatabaseAccess::OpenWithEnv(
    const std::string& given_path, const Options& options, posix::Env* env) {
  InstallForkHandler();
  if (given_path.empty()) {
    return InvalidArgument("empty database path", "give the path of a database file");
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(auto impl, NewImpl(options, env));
  const Options& opts = impl->options;
  SQLSTEWARD_ASSIGN_OR_RETURN(impl->path, ResolveDatabasePath(env, given_path, opts));
  const std::string& path = impl->path;

  if (opts.read_only) return OpenReadOnly(std::move(impl));
  SQLSTEWARD_ASSIGN_OR_RETURN(const internal::FileOwner owner,
                              PrepareDatabaseFile(impl->env, path, opts));
  ProbeReport probed;
  auto mode = ChooseJournalMode(impl->env, path, opts, &probed);
  if (!mode.has_value()) return std::move(mode).error();
  impl->options.journal_mode = *mode;
  if (!opts.vfs.empty()) SQLSTEWARD_RETURN_IF_ERROR(internal::VerifyVfsLocks(path, opts.vfs));
  auto sidecar = internal::SidecarFile::Open(impl->env, path, owner, opts.on_warning);
  if (!sidecar.has_value()) return std::move(sidecar).error();
  impl->sidecar = std::move(sidecar).value();
  auto write_lock = internal::WriteLock::Create(*impl->sidecar, probed.shared_memory_coherent);
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
  reg.database_owner = owner;
  Database::Impl* raw = impl.get();
  reg.on_step_down = [raw](std::int32_t successor) { raw->StepDown(successor); };
  auto registry = internal::Registry::Register(
      impl->env, path, std::move(reg),
      std::max(deadline, Clock::now() + opts.wait_for_owner + opts.handover_timeout));
  if (!registry.has_value()) return std::move(registry).error();
  impl->registry = std::move(registry).value();
  impl->write_lock->set_owner_slot(impl->registry->slot());

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

    // Writes wait out stale directory entries where the filesystem may
    // show them.
    impl->queue = std::make_unique<internal::WriteQueue>(
        impl->writer.get(), impl->write_lock.get(), opts, &impl->metrics, probed.kind);
    impl->readers = std::make_unique<internal::ReaderPool>(impl->env, path, internal::Role::kReader,
                                                           opts, &impl->metrics);
  }
  std::unique_ptr<Database> db(new Database(std::move(impl)));
  if (db->impl_->options.after_open) {
    SQLSTEWARD_RETURN_IF_ERROR(db->impl_->options.after_open(*db).WithContext("after_open"));
  }
  return db;
}

// A read-only handle: the checks, then reader connections that write
// nothing (core/read_only_open.h); no sidecar, registry, writer or queue.
Result<std::unique_ptr<Database>> internal::DatabaseAccess::OpenReadOnly(
    std::unique_ptr<Database::Impl> impl) {
  const std::string& path = impl->path;
  const Options& opts = impl->options;
  SQLSTEWARD_RETURN_IF_ERROR(CheckDatabaseForReading(impl->env, path));
  SQLSTEWARD_ASSIGN_OR_RETURN(DatabaseHeader header, ReadDatabaseHeader(path, opts.vfs));
  if (header.size > 0 && !header.magic_ok) {
    return Corruption(path + " is not an SQLite database (its header is not \"SQLite format 3\")",
                      "check the path; if it is the database, its first page is damaged: run "
                      "`sqlsteward doctor`, then restore from a snapshot",
                      SQLITE_NOTADB);
  }
  const ReadOnlyOpen plan = PlanReadOnlyOpen(impl->env, path, header);
  if (plan.wal_unread()) opts.on_warning(path + ": " + plan.reason);
  impl->journal_mode = header.read_version == 2 ? JournalMode::kWal : JournalMode::kDelete;
  impl->options.journal_mode = impl->journal_mode;
  impl->readers = std::make_unique<internal::ReaderPool>(impl->env, path, internal::Role::kReadOnly,
                                                         impl->options, &impl->metrics);
  std::unique_ptr<Database> db(new Database(std::move(impl)));
  // The first read: a file SQLite cannot read fails the open, not a later Read.
  SQLSTEWARD_RETURN_IF_ERROR(db->Read([](ReadTransaction& tx) {
    return tx.QueryInt64("SELECT count(*) FROM sqlite_master").status();
  }));
  return db;
}

Result<std::unique_ptr<Database>> internal::DatabaseAccess::OpenOnEngine(
    const std::string& address, const Options& options, const EngineFactory& factory) {
  InstallForkHandler();
  SQLSTEWARD_ASSIGN_OR_RETURN(auto impl, NewImpl(options, posix::Env::Default()));
  impl->path = address;
  impl->journal_mode = JournalMode::kWal;
  impl->options.journal_mode = JournalMode::kWal;
  SQLSTEWARD_ASSIGN_OR_RETURN(impl->engine, factory(impl->options, &impl->metrics));
  std::unique_ptr<Database> db(new Database(std::move(impl)));
  if (db->impl_->options.after_open) {
    SQLSTEWARD_RETURN_IF_ERROR(db->impl_->options.after_open(*db).WithContext("after_open"));
  }
  return db;
}

internal::Engine* internal::DatabaseAccess::EngineOf(Database& db) {
  return db.impl_->engine.get();
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Status internal::DatabaseAccess::WithWriterConnection(
    Database& db, const std::function<Status(Connection&)>& fn,
    std::chrono::steady_clock::time_point deadline, std::string_view purpose) {
  SQLSTEWARD_RETURN_IF_ERROR(db.impl_->Usable());
  if (db.impl_->engine != nullptr) {
    return FailedPrecondition(std::string(purpose) + " needs a local database file; " +
                                  db.impl_->path + " is a cluster",
                              "restore the snapshot into a local file, or load its rows into "
                              "the cluster through Write() (docs/cluster.md)");
  }
  if (db.impl_->queue == nullptr) return ReadOnlyStatus(std::string(purpose));
  return db.impl_->queue->SubmitRaw(fn, deadline, std::string(purpose));
}

const std::string& internal::DatabaseAccess::Vfs(const Database& db) {
  return db.impl_->options.vfs;
}

posix::Env* internal::DatabaseAccess::Env(const Database& db) { return db.impl_->env; }

void internal::DatabaseAccess::TraceWriter(Database& db,
                                           std::function<void(std::string_view)> trace) {
  if (db.impl_->writer != nullptr) db.impl_->writer->SetTrace(std::move(trace));
}

Status internal::DatabaseAccess::WriteExclusive(Database& db, const WriteFn& fn,
                                                std::chrono::steady_clock::time_point deadline,
                                                std::string_view purpose) {
  SQLSTEWARD_RETURN_IF_ERROR(db.impl_->Usable());
  if (db.impl_->engine != nullptr) {
    if (db.impl_->options.read_only) return ReadOnlyStatus(std::string(purpose));
    return db.impl_->engine->WriteExclusive(fn, deadline, purpose);
  }
  if (db.impl_->queue == nullptr) return ReadOnlyStatus(std::string(purpose));
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
  if (impl_->engine != nullptr) [[unlikely]] {
    if (impl_->options.read_only) return ReadOnlyStatus("Write");
    return impl_->engine->Write(fn, DeadlineAfter(options.timeout, impl_->options.write_timeout));
  }
  if (impl_->queue == nullptr) return ReadOnlyStatus("Write");
  return impl_->queue->Submit(fn, DeadlineAfter(options.timeout, impl_->options.write_timeout));
}

std::future<Status> Database::WriteAsync(WriteFn fn, const WriteOptions& options) {
  Status usable = impl_->Usable();
  if (usable.ok() && impl_->engine != nullptr && impl_->options.read_only) {
    usable = ReadOnlyStatus("WriteAsync");
  }
  if (usable.ok() && impl_->engine != nullptr) [[unlikely]] {
    return impl_->engine->WriteAsync(std::move(fn),
                                     DeadlineAfter(options.timeout, impl_->options.write_timeout));
  }
  if (usable.ok() && impl_->queue == nullptr) usable = ReadOnlyStatus("WriteAsync");
  if (!usable.ok()) {
    std::promise<Status> failed;
    failed.set_value(std::move(usable));
    return failed.get_future();
  }
  return impl_->queue->SubmitAsync(std::move(fn),
                                   DeadlineAfter(options.timeout, impl_->options.write_timeout));
}

Status Database::Read(ReadFn fn, const ReadOptions& options) {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->Usable());
  if (impl_->engine != nullptr) [[unlikely]] {
    return impl_->engine->Read(fn, DeadlineAfter(options.timeout, impl_->options.read_timeout));
  }
  return impl_->readers->Run(fn, DeadlineAfter(options.timeout, impl_->options.read_timeout));
}

Status Database::Checkpoint() {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->Usable());
  // dqlite checkpoints its own WAL on every node.
  if (impl_->engine != nullptr) return Status();
  if (impl_->queue == nullptr) return ReadOnlyStatus("Checkpoint");
  return impl_->queue->Checkpoint(Clock::now() + impl_->options.write_timeout);
}

Status Database::Close() {
  if (impl_->Forked()) return ForkedStatus();
  return impl_->Close();
}

MetricsSnapshot Database::Metrics() const { return impl_->metrics.Snapshot(); }

const std::string& Database::path() const { return impl_->path; }
JournalMode Database::journal_mode() const { return impl_->journal_mode; }

}  // namespace sqlsteward
