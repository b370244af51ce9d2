#include "ext/shared_database.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <utility>

#include "base/mutex.h"
#include "base/status_builders.h"
#include "base/time.h"
#include "posix/fs.h"
#include "probe/probes.h"
#include "sidecar/database_files.h"
#include "sqlsteward/probe.h"

namespace sqlsteward::ext {

void Warn(std::string_view message) {
  std::fprintf(stderr, "sqlsteward: %.*s\n", static_cast<int>(message.size()), message.data());
}

void Counters::RecordWait(std::chrono::microseconds waited) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, waited.count()));
  wait_us_total.fetch_add(us, std::memory_order_relaxed);
  std::uint64_t max = wait_us_max.load(std::memory_order_relaxed);
  while (us > max && !wait_us_max.compare_exchange_weak(max, us, std::memory_order_relaxed)) {
  }
}

namespace {

// The library's hints name Options fields; an extension user sets
// environment variables instead.
Status ForExtension(Status st) {
  if (st.ok()) return st;
  std::string hint(st.hint());
  if (st.code() == StatusCode::kUnavailable) {
    hint =
        "wait for it to exit (SQLSTEWARD_WAIT_FOR_OWNER_MS), or take over from it "
        "(SQLSTEWARD_OWNERSHIP=exclusive SQLSTEWARD_TAKE_OVER=1, or `sqlsteward handover`)";
  } else if (hint.find("create_if_missing") != std::string::npos) {
    hint = "check the path; the client opened it without SQLITE_OPEN_CREATE";
  } else if (hint.find("Options::") != std::string::npos ||
             hint.find("JournalMode::") != std::string::npos) {
    hint = "see docs/extension.md";
  }
  return Status(st.code(), std::string(st.message()), std::move(hint), st.sqlite_code(),
                st.sys_errno());
}

}  // namespace

// The process's registrations by path. Leaked on purpose: heartbeat
// threads may still run while the process exits, and no static destructor
// may pull the map from under them.
struct Registrations {
  Mutex mu;
  std::map<std::string, std::weak_ptr<SharedDatabase>> by_path GUARDED_BY(mu);

  static Registrations& Get() {
    static Registrations* r = new Registrations;
    return *r;
  }

  std::shared_ptr<SharedDatabase> Find(const std::string& path) REQUIRES(mu) {
    auto it = by_path.find(path);
    if (it == by_path.end()) return nullptr;
    auto db = it->second.lock();
    if (db == nullptr || db->pid_ != getpid()) return nullptr;
    return db;
  }
};

std::shared_ptr<SharedDatabase> FindRegistration(const std::string& path) {
  Registrations& r = Registrations::Get();
  MutexLock lock(&r.mu);
  return r.Find(path);
}

Result<std::shared_ptr<SharedDatabase>> SharedDatabase::Acquire(const std::string& path,
                                                                 bool create,
                                                                 const UriLookup& uri) {
  Registrations& r = Registrations::Get();
  // Held while registering: a second connection to the same file waits for
  // the first one's registration instead of racing it for a second slot.
  MutexLock lock(&r.mu);
  if (auto existing = r.Find(path)) return existing;

  std::shared_ptr<SharedDatabase> db(new SharedDatabase);
  db->env_ = posix::Env::Default();
  db->pid_ = getpid();
  db->path_ = path;
  SQLSTEWARD_ASSIGN_OR_RETURN(db->config_, ReadConfig(uri));

  Options options;
  options.create_if_missing = create;
  options.on_warning = [](std::string_view message) { Warn(message); };
  auto owner = internal::PrepareDatabaseFile(db->env_, path, options);
  if (!owner.has_value()) return ForExtension(std::move(owner).error());
  db->owner_ = *owner;
  ProbeReport report;
  auto mode = internal::ChooseJournalMode(db->env_, path, options, &report);
  if (!mode.has_value()) return ForExtension(std::move(mode).error());
  db->allow_wal_ = *mode == JournalMode::kWal;
  db->shared_memory_coherent_ = report.shared_memory_coherent;
  db->fs_kind_ = std::string(FsKindName(report.kind));
  db->policy_reason_ = ChoosePolicy(report).reason;

  auto sidecar = internal::SidecarFile::Open(db->env_, path, db->owner_, options.on_warning);
  if (!sidecar.has_value()) return ForExtension(std::move(sidecar).error());
  db->sidecar_ = std::move(sidecar).value();

  internal::Registry::Config reg;
  reg.ownership = db->config_.ownership;
  reg.take_over = db->config_.take_over;
  reg.wait_for_owner = db->config_.wait_for_owner;
  reg.handover_timeout = db->config_.handover_timeout;
  reg.wal = db->allow_wal_;
  reg.database_owner = db->owner_;
  SharedDatabase* raw = db.get();
  reg.on_step_down = [raw](std::int32_t successor) { raw->StepDown(successor); };
  const auto deadline = std::chrono::steady_clock::now() + db->config_.wait_for_owner +
                        db->config_.handover_timeout + std::chrono::seconds(5);
  auto registry = internal::Registry::Register(db->env_, path, std::move(reg), deadline);
  if (!registry.has_value()) return ForExtension(std::move(registry).error());
  db->registry_ = std::move(registry).value();
  r.by_path[path] = db;
  return db;
}

SharedDatabase::~SharedDatabase() {
  if (registry_) registry_->Release();
}

void SharedDatabase::StepDown(std::int32_t successor) {
  handed_over_unix_ms_.store(WallClockUnixMs());
  handed_over_to_.store(successor);
  Warn(path_ + " was handed over to pid " + std::to_string(successor) +
       "; this process can no longer write it (its writes now fail with SQLITE_READONLY). "
       "Restart it to use the database again.");
}

Status SharedDatabase::HandedOver() const {
  return FailedPrecondition(
      path_ + " was handed over to pid " + std::to_string(handed_over_to_.load()) + " at " +
          IsoUtc(handed_over_unix_ms_.load()) + "; this process may no longer open or write it",
      "a successor (SQLSTEWARD_TAKE_OVER=1) took the database over: stop this process, or "
      "restart it after the successor has finished");
}

}  // namespace sqlsteward::ext
