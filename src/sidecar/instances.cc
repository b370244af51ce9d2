// The registry seen from outside (sqlsteward/instances.h): public entry
// points, each opening the sidecar afresh through Env::Default().
#include "sqlsteward/instances.h"

#include <cerrno>

#include "base/status_builders.h"
#include "posix/env.h"
#include "posix/read_only.h"
#include "sidecar/format.h"
#include "sidecar/handover.h"
#include "sidecar/instances.h"
#include "sidecar/process_identity.h"
#include "sidecar/sidecar_file.h"
#include "sidecar/slot_scan.h"
#include "sidecar/write_lock.h"

namespace sqlsteward {
namespace {

// The sidecar opened only to read it: never through a link, never blocking
// on a FIFO, only a regular file with one link (what Open accepts).
Result<posix::UniqueFd> OpenSidecarToRead(posix::Env* env, const std::string& path) {
  struct stat st;
  auto fd = posix::OpenRegularForReading(env, path, "sidecar", &st);
  if (!fd.has_value()) {
    if (fd.error().code() == StatusCode::kNotFound) {
      return NotFound(path + " does not exist",
                      "no sqlsteward instance has opened this database yet", 0, ENOENT);
    }
    return std::move(fd).error();
  }
  SQLSTEWARD_RETURN_IF_ERROR(internal::CheckSidecarStat(st, path));
  return std::move(fd).value();
}

// The sidecar opened to write a handover request into it.
Result<posix::UniqueFd> OpenSidecarToWrite(posix::Env* env, const std::string& path) {
  int raw = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0);
  if (raw < 0) {
    if (errno == ENOENT) {
      return NotFound(path + " does not exist",
                      "no sqlsteward instance has opened this database yet", 0, ENOENT);
    }
    if (errno == ELOOP) {
      return FailedPrecondition("sidecar " + path + " is a symbolic link",
                                "remove the link; sqlsteward never follows links for its own "
                                "files",
                                0, ELOOP);
    }
    return posix::ErrnoStatus(errno, "open", path);
  }
  posix::UniqueFd fd(env, raw);
  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return posix::ErrnoStatus(errno, "fstat", path);
  SQLSTEWARD_RETURN_IF_ERROR(internal::CheckSidecarStat(st, path));
  return fd;
}

}  // namespace

std::string_view InstanceDomainName(InstanceDomain domain) {
  switch (domain) {
    case InstanceDomain::kThisDomain:
      return "this";
    case InstanceDomain::kOtherDomain:
      return "other";
    case InstanceDomain::kDead:
      return "dead";
    case InstanceDomain::kUnknown:
      return "unknown";
  }
  return "unknown";
}

namespace internal {

Result<RegistryStatus> ReadRegistry(posix::Env* env, const std::string& db_path,
                                    bool observe_heartbeats) {
  RegistryStatus status;
  status.sidecar_path = SidecarPath(db_path);
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd fd, OpenSidecarToRead(env, status.sidecar_path));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      std::vector<Slot> scan,
      ScanSlots(env, status.sidecar_path, -1, observe_heartbeats, Options().heartbeat_interval));
  for (Slot& s : scan) {
    if (s.info.ownership == Ownership::kExclusive &&
        (s.info.domain == InstanceDomain::kThisDomain ||
         s.info.domain == InstanceDomain::kOtherDomain)) {
      status.owner = s.info;
    }
    status.instances.push_back(std::move(s.info));
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(status.write_lock,
                              ReadWriteLockState(env, fd.get(), status.sidecar_path));
  return status;
}

}  // namespace internal

Result<RegistryStatus> ReadRegistry(const std::string& db_path, bool observe_heartbeats) {
  return internal::ReadRegistry(posix::Env::Default(), db_path, observe_heartbeats);
}

Result<SidecarInfo> InspectSidecar(const std::string& db_path) {
  posix::Env* env = posix::Env::Default();
  SidecarInfo info;
  info.path = internal::SidecarPath(db_path);
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd fd, OpenSidecarToRead(env, info.path));
  SQLSTEWARD_ASSIGN_OR_RETURN(info.format_version,
                              internal::ReadSidecarHeader(env, fd.get(), info.path));
  return info;
}

Result<WriteLockStatus> ReadWriteLock(const std::string& db_path) {
  posix::Env* env = posix::Env::Default();
  const std::string path = internal::SidecarPath(db_path);
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd fd, OpenSidecarToRead(env, path));
  return internal::ReadWriteLockState(env, fd.get(), path);
}

std::string DescribeWriteLockHolder(const WriteLockStatus& holder) {
  return internal::DescribeHolder(holder);
}

namespace internal {

Result<std::vector<InstanceInfo>> OtherLiveInstances(posix::Env* env, const std::string& db_path) {
  auto status = ReadRegistry(env, db_path, /*observe_heartbeats=*/true);
  if (!status.has_value()) {
    if (status.error().code() == StatusCode::kNotFound) return std::vector<InstanceInfo>();
    return std::move(status).error();
  }
  const ProcessIdentity& self = ProcessIdentity::Self();
  std::vector<InstanceInfo> live;
  for (InstanceInfo& info : status->instances) {
    bool alive =
        info.domain == InstanceDomain::kThisDomain || info.domain == InstanceDomain::kOtherDomain;
    bool ours = info.pid == self.pid && info.boot_id == self.boot_id;
    if (alive && !ours) live.push_back(std::move(info));
  }
  return live;
}

Status RequestHandover(posix::Env* env, const std::string& db_path,
                       std::chrono::milliseconds timeout, bool all) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string path = SidecarPath(db_path);
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd fd, OpenSidecarToWrite(env, path));
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<Slot> scan,
                              ScanSlots(env, path, fd.get(), false, Options().heartbeat_interval));
  std::vector<Slot> targets;
  for (const Slot& s : scan) {
    if (s.info.domain != InstanceDomain::kThisDomain) continue;
    if (all || s.info.ownership == Ownership::kExclusive) targets.push_back(s);
  }
  for (const Slot& t : targets) {
    SQLSTEWARD_RETURN_IF_ERROR(WriteHandoverRequest(env, fd.get(), path, t));
  }
  for (const Slot& t : targets) {
    SQLSTEWARD_RETURN_IF_ERROR(
        WaitForSlotRelease(env, fd.get(), t.info, deadline,
                           "no handover within " + std::to_string(timeout.count()) + " ms"));
  }
  return Status();
}

}  // namespace internal

Result<std::vector<InstanceInfo>> OtherLiveInstances(const std::string& db_path) {
  return internal::OtherLiveInstances(posix::Env::Default(), db_path);
}

Status RequestHandover(const std::string& db_path, std::chrono::milliseconds timeout, bool all) {
  return internal::RequestHandover(posix::Env::Default(), db_path, timeout, all);
}

}  // namespace sqlsteward
