#include "sqlsteward/instances.h"

#include <unistd.h>

#include <cstring>

#include "posix/env.h"
#include "posix/file_lock.h"
#include "sidecar/registry.h"
#include "sidecar/sidecar.h"

namespace sqlsteward {
namespace {

constexpr off_t kHolderOffset = 64;

Result<posix::UniqueFd> OpenSidecar(posix::Env* env, const std::string& path, int flags) {
  int raw = env->Open(path.c_str(), flags | O_NOFOLLOW, 0);
  if (raw < 0) {
    if (errno == ENOENT) {
      return Status(StatusCode::kNotFound, path + " does not exist",
                    "no sqlsteward instance has opened this database yet", 0, ENOENT);
    }
    return posix::ErrnoStatus(errno, "open", path);
  }
  return posix::UniqueFd(env, raw);
}

}  // namespace

std::string_view InstanceDomainName(InstanceDomain domain) {
  switch (domain) {
    case InstanceDomain::kThisDomain: return "this";
    case InstanceDomain::kOtherDomain: return "other";
    case InstanceDomain::kDead: return "dead";
    case InstanceDomain::kUnknown: return "unknown";
  }
  return "unknown";
}

Result<RegistryStatus> ReadRegistry(const std::string& db_path, bool observe_heartbeats) {
  posix::Env* env = posix::Env::Default();
  RegistryStatus status;
  status.sidecar_path = db_path + "-steward";
  auto fd = OpenSidecar(env, status.sidecar_path, O_RDONLY);
  if (!fd.has_value()) return std::move(fd).error();
  auto scan = internal::ScanSlots(env, status.sidecar_path, -1, observe_heartbeats,
                                  Options().heartbeat_interval);
  if (!scan.has_value()) return std::move(scan).error();
  for (internal::SlotScan& s : *scan) {
    if (s.info.ownership == Ownership::kExclusive &&
        (s.info.domain == InstanceDomain::kThisDomain ||
         s.info.domain == InstanceDomain::kOtherDomain)) {
      status.owner = s.info;
    }
    status.instances.push_back(std::move(s.info));
  }
  auto held = posix::RangeLockedByOther(env, fd->get(), internal::kWriteLockByte, 1,
                                        posix::LockKind::kShared);
  if (!held.has_value()) return std::move(held).error();
  status.write_lock.held = *held;
  if (*held) {
    struct {
      std::int32_t pid;
      std::int32_t reserved;
      std::int64_t since;
      char host[64];
      char purpose[64];
    } rec = {};
    if (env->Pread(fd->get(), &rec, sizeof rec, kHolderOffset) == sizeof rec) {
      status.write_lock.pid = rec.pid;
      status.write_lock.since_unix_ms = rec.since;
      status.write_lock.host.assign(rec.host, strnlen(rec.host, sizeof rec.host));
      status.write_lock.purpose.assign(rec.purpose, strnlen(rec.purpose, sizeof rec.purpose));
    }
  }
  return status;
}

Result<std::vector<InstanceInfo>> OtherLiveInstances(const std::string& db_path) {
  auto status = ReadRegistry(db_path, /*observe_heartbeats=*/true);
  if (!status.has_value()) {
    if (status.error().code() == StatusCode::kNotFound) return std::vector<InstanceInfo>();
    return std::move(status).error();
  }
  const internal::ProcessIdentity& self = internal::ProcessIdentity::Self();
  std::vector<InstanceInfo> live;
  for (InstanceInfo& info : status->instances) {
    bool alive = info.domain == InstanceDomain::kThisDomain ||
                 info.domain == InstanceDomain::kOtherDomain;
    bool ours = info.pid == self.pid && info.boot_id == self.boot_id;
    if (alive && !ours) live.push_back(std::move(info));
  }
  return live;
}

Status RequestHandover(const std::string& db_path, std::chrono::milliseconds timeout, bool all) {
  posix::Env* env = posix::Env::Default();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string path = db_path + "-steward";
  auto fd = OpenSidecar(env, path, O_RDWR);
  if (!fd.has_value()) return std::move(fd).error();
  auto scan = internal::ScanSlots(env, path, fd->get(), false, Options().heartbeat_interval);
  if (!scan.has_value()) return std::move(scan).error();
  std::vector<internal::SlotScan> targets;
  for (const internal::SlotScan& s : *scan) {
    if (s.info.domain != InstanceDomain::kThisDomain) continue;
    if (all || s.info.ownership == Ownership::kExclusive) targets.push_back(s);
  }
  for (const internal::SlotScan& t : targets) {
    SQLSTEWARD_RETURN_IF_ERROR(internal::WriteHandoverRequest(env, fd->get(), path, t));
  }
  for (const internal::SlotScan& t : targets) {
    SQLSTEWARD_RETURN_IF_ERROR(internal::WaitForSlotRelease(
        env, fd->get(), t.info, deadline,
        "no handover within " + std::to_string(timeout.count()) + " ms"));
  }
  return Status();
}

}  // namespace sqlsteward
