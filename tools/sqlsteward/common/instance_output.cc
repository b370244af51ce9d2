#include "common/instance_output.h"

#include <fmt/core.h>

#include "base/time.h"

namespace sqlsteward::cli {

std::string_view OwnershipName(Ownership ownership) {
  return ownership == Ownership::kExclusive ? "exclusive" : "shared";
}

std::string_view StateName(InstanceState state) {
  return state == InstanceState::kSteppingDown ? "stepping-down" : "running";
}

bool IsLive(const InstanceInfo& info) {
  return info.domain == InstanceDomain::kThisDomain || info.domain == InstanceDomain::kOtherDomain;
}

nlohmann::json InstanceToJson(const InstanceInfo& info, std::int64_t now_unix_ms) {
  return {{"slot", info.slot},
          {"pid", info.pid},
          {"host", info.host},
          {"boot_id", info.boot_id},
          {"started_unix_ms", info.started_unix_ms},
          {"started", IsoUtc(info.started_unix_ms)},
          {"ownership", OwnershipName(info.ownership)},
          {"state", StateName(info.state)},
          {"heartbeat", info.heartbeat},
          {"heartbeat_unix_ms", info.heartbeat_unix_ms},
          {"heartbeat_age_ms", now_unix_ms - info.heartbeat_unix_ms},
          {"domain", InstanceDomainName(info.domain)},
          {"live", IsLive(info)}};
}

std::string DescribeInstance(const InstanceInfo& info) {
  return fmt::format("pid {} on {} (slot {}, {}, started {})", info.pid, info.host, info.slot,
                     OwnershipName(info.ownership), IsoUtc(info.started_unix_ms));
}

}  // namespace sqlsteward::cli
