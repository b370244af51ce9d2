// The "instances" section: the registry's slots (ReadRegistry,
// sqlsteward/instances.h): who has the database open, and whether any of
// them is in another lock domain. Processes that use the database without
// registering are found by unprotected.cc.
#include <string>

#include "base/time.h"
#include "common/instance_output.h"
#include "doctor/checks.h"
#include "sqlsteward/instances.h"

namespace sqlsteward::cli::doctor {

using nlohmann::json;

void CheckInstances(Report& r) {
  json entries = json::array();
  auto status = ReadRegistry(r.path);
  if (!status.has_value() && status.error().code() == StatusCode::kNotFound) {
    r.instances = {{"available", true}, {"entries", entries}};
    r.Add("instances.registered", Severity::kOk,
          "no sqlsteward instance has opened this database");
    return;
  }
  if (!status.has_value()) {
    r.instances = {{"available", false}, {"entries", entries}};
    r.Add("instances.registered", Severity::kProblem,
          "cannot read the instance registry: " + std::string(status.error().message()),
          std::string(status.error().hint()));
    return;
  }
  const std::int64_t now = WallClockUnixMs();
  int live = 0;
  int dead = 0;
  std::string others;
  for (const InstanceInfo& info : status->instances) {
    entries.push_back(InstanceToJson(info, now));
    if (info.domain == InstanceDomain::kOtherDomain) {
      others += (others.empty() ? "" : "; ") + DescribeInstance(info);
    } else if (info.domain == InstanceDomain::kDead) {
      ++dead;
    } else {
      ++live;
    }
  }
  r.instances = {{"available", true}, {"entries", entries}};
  if (!others.empty()) {
    r.Add("instances.registered", Severity::kProblem,
          "in use through another lock domain (its locks are not visible here): " + others,
          "use the database through one mount only; sharing it across lock domains corrupts "
          "it or loses writes");
    return;
  }
  std::string message = std::to_string(live) + " live instance(s)";
  if (status->owner) message += ", owned exclusively by " + DescribeInstance(*status->owner);
  if (dead > 0) message += "; " + std::to_string(dead) + " stale slot(s), reclaimed at next open";
  r.Add("instances.registered", Severity::kOk, message);
}

}  // namespace sqlsteward::cli::doctor
