#include "ext/shared_database.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// A setting: the URI parameter, else the environment variable, else null.
const char* Setting(const UriLookup& uri, const char* uri_name, const char* env_name) {
  if (uri) {
    if (const char* v = uri(uri_name)) return v;
  }
  return std::getenv(env_name);
}

Status BadSetting(const char* env_name, const char* value, const char* expected) {
  return InvalidArgument(std::string(env_name) + "=\"" + value + "\" is not " + expected,
                         "fix the environment variable (or the URI parameter "
                         "sqlsteward_...) of this process; docs/extension.md lists the settings");
}

Result<std::chrono::milliseconds> Millis(const UriLookup& uri, const char* uri_name,
                                         const char* env_name, std::chrono::milliseconds dflt) {
  const char* v = Setting(uri, uri_name, env_name);
  if (v == nullptr || *v == '\0') return dflt;
  std::int64_t ms = 0;
  const char* end = v + std::strlen(v);
  auto [ptr, ec] = std::from_chars(v, end, ms);
  // A week at most, as the command line's durations.
  if (ec != std::errc() || ptr != end || ms < 0 || ms > 604'800'000) {
    return BadSetting(env_name, v, "a whole number of milliseconds from 0 to 604800000");
  }
  return std::chrono::milliseconds(ms);
}

Result<bool> Flag(const UriLookup& uri, const char* uri_name, const char* env_name) {
  const char* v = Setting(uri, uri_name, env_name);
  if (v == nullptr || *v == '\0') return false;
  const std::string_view s(v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  return BadSetting(env_name, v, "1 or 0");
}

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

Result<ExtensionConfig> ReadConfig(const UriLookup& uri) {
  ExtensionConfig config;
  if (const char* v = Setting(uri, "sqlsteward_ownership", "SQLSTEWARD_OWNERSHIP");
      v != nullptr && *v != '\0') {
    const std::string_view s(v);
    if (s == "exclusive") {
      config.ownership = Ownership::kExclusive;
    } else if (s != "shared") {
      return BadSetting("SQLSTEWARD_OWNERSHIP", v, "\"shared\" or \"exclusive\"");
    }
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(config.take_over,
                              Flag(uri, "sqlsteward_take_over", "SQLSTEWARD_TAKE_OVER"));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      config.wait_for_owner, Millis(uri, "sqlsteward_wait_for_owner_ms",
                                    "SQLSTEWARD_WAIT_FOR_OWNER_MS", config.wait_for_owner));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      config.handover_timeout, Millis(uri, "sqlsteward_handover_timeout_ms",
                                      "SQLSTEWARD_HANDOVER_TIMEOUT_MS", config.handover_timeout));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      config.checkpoint_wait, Millis(uri, "sqlsteward_checkpoint_wait_ms",
                                     "SQLSTEWARD_CHECKPOINT_WAIT_MS", config.checkpoint_wait));
  return config;
}

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
  auto mode = internal::ChooseJournalMode(db->env_, path, options);
  if (!mode.has_value()) return ForExtension(std::move(mode).error());
  db->allow_wal_ = *mode == JournalMode::kWal;
  // Cached by ChooseJournalMode a moment ago.
  if (auto report = probe_internal::ProbeDirectoryCached(db->env_, posix::DirName(path));
      report.has_value()) {
    db->fs_kind_ = std::string(FsKindName(report->kind));
    db->policy_reason_ = ChoosePolicy(*report).reason;
  }

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
