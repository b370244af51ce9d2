// Who a process is, as an instance slot records it, and whether a recorded
// process still runs: pid, the pid's start time (rules out pid reuse), pid
// namespace, boot id and host.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_SIDECAR_PROCESS_IDENTITY_H_
#define SQLSTEWARD_SIDECAR_PROCESS_IDENTITY_H_

#include <cstdint>
#include <string>

#include "sqlsteward/instances.h"

namespace sqlsteward::internal {

struct ProcessIdentity {
  std::int32_t pid = 0;
  std::uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22
  std::uint64_t pid_namespace = 0;
  std::string boot_id;
  std::string host;

  // This process; recomputed after fork().
  static const ProcessIdentity& Self();
  // Same kernel (boot id): the pid can be checked directly when the pid
  // namespace matches too.
  bool SameMachineAs(const InstanceInfo& other) const;
};

// Whether `pid` runs (not a zombie) and started at `start_ticks`.
bool ProcessAlive(std::int32_t pid, std::uint64_t start_ticks);

// Host name of this machine ("unknown" when it cannot be read).
std::string HostName();

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_PROCESS_IDENTITY_H_
