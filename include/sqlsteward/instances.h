// The instance registry, seen from outside: which processes have a database
// open, who owns it, who holds the write lock, and asking an owner to hand
// over. Used by `sqlsteward status` and `sqlsteward handover`, by deploy
// scripts and by restore.
//
// Every open Database registers in a slot of the sidecar `<db>-steward`
// (docs/formats.md) and holds an OFD lock on that slot for its lifetime, so
// a crashed instance is recognised by its released lock. An instance whose
// slot is claimed and whose process is alive (or whose heartbeat advances)
// but whose lock is not visible here uses the file through another lock
// domain (another mount, VM or host); sharing is then unsafe.
//
// Thread safety: the functions here are safe for concurrent use; they open
// the sidecar afresh on every call, never register an instance and never
// write anything but a handover request.
#ifndef SQLSTEWARD_INSTANCES_H_
#define SQLSTEWARD_INSTANCES_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward {

enum class InstanceState {
  kRunning,
  kSteppingDown,  // A successor asked it to hand over; it is finishing.
};

// How an instance relates to the caller's lock domain.
enum class InstanceDomain {
  kThisDomain,   // Its slot lock is visible: it is alive and shares our locks.
  kOtherDomain,  // Alive (process or heartbeat), but its lock is not visible.
  kDead,         // Its lock is released and it is not alive: a stale slot.
  kUnknown,      // Another host, and no heartbeat observation was made.
};

struct InstanceInfo {
  int slot = -1;
  std::int32_t pid = 0;
  std::string host;
  std::string boot_id;
  std::int64_t started_unix_ms = 0;
  Ownership ownership = Ownership::kShared;
  InstanceState state = InstanceState::kRunning;
  std::uint64_t heartbeat = 0;
  std::int64_t heartbeat_unix_ms = 0;
  InstanceDomain domain = InstanceDomain::kUnknown;
};

struct WriteLockStatus {
  bool held = false;
  // From the holder record when held (see docs/formats.md).
  std::int32_t pid = 0;
  std::string host;
  std::int64_t since_unix_ms = 0;
  std::string purpose;
};

struct RegistryStatus {
  std::string sidecar_path;
  std::vector<InstanceInfo> instances;  // Claimed slots, live or not.
  WriteLockStatus write_lock;
  // The instance that owns the database exclusively, if any.
  std::optional<InstanceInfo> owner;
};

// Reads the registry of the database at `db_path`. With `observe_heartbeats`,
// instances on other hosts are watched for two heartbeat intervals so that
// kUnknown becomes kOtherDomain or kDead. kNotFound when there is no sidecar
// (no instance has ever opened the database); kCorruption for a malformed
// sidecar.
Result<RegistryStatus> ReadRegistry(const std::string& db_path, bool observe_heartbeats = false);

// Live instances other than the calling process's own: kThisDomain and
// kOtherDomain entries of ReadRegistry.
Result<std::vector<InstanceInfo>> OtherLiveInstances(const std::string& db_path);

// The sidecar file of `db_path` checked as Database::Open checks it,
// without changing it: its path and format version. kNotFound when there is
// none (no instance has ever opened the database); kCorruption when it is
// not a whole sidecar (a file another process is creating gets the same two
// seconds Open gives it); kFailedPrecondition for another format version, a
// symbolic link, a file that is not regular or has several hard links.
struct SidecarInfo {
  std::string path;
  std::uint32_t format_version = 0;
};
Result<SidecarInfo> InspectSidecar(const std::string& db_path);

// The write lock of `db_path` alone: whether another process holds it and,
// from the holder record, who. Errors as InspectSidecar.
Result<WriteLockStatus> ReadWriteLock(const std::string& db_path);

// "pid 123 on host db1 since 2026-11-21T19:40:01Z (migration 0003_x)"
std::string DescribeWriteLockHolder(const WriteLockStatus& holder);

// Asks every live instance that owns the database (exclusive) — or, with
// `all`, every live instance — to step down, and waits until each has
// released its slot. kTimeout names those that did not in time.
Status RequestHandover(const std::string& db_path, std::chrono::milliseconds timeout,
                       bool all = false);

std::string_view InstanceDomainName(InstanceDomain domain);

}  // namespace sqlsteward

#endif  // SQLSTEWARD_INSTANCES_H_
