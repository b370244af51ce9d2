// The registry seen from outside (sqlsteward/instances.h), through a given
// Env: for the layers above, which pass down their handle's Env.
//
// Thread safety: as the public functions.
#ifndef SQLSTEWARD_SIDECAR_INSTANCES_H_
#define SQLSTEWARD_SIDECAR_INSTANCES_H_

#include <chrono>
#include <string>
#include <vector>

#include "posix/env.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

Result<RegistryStatus> ReadRegistry(posix::Env* env, const std::string& db_path,
                                    bool observe_heartbeats);
Result<std::vector<InstanceInfo>> OtherLiveInstances(posix::Env* env, const std::string& db_path);
Status RequestHandover(posix::Env* env, const std::string& db_path,
                       std::chrono::milliseconds timeout, bool all);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_INSTANCES_H_
