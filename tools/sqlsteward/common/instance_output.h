// A registered instance and the write lock (sqlsteward/instances.h) as
// `status`, `handover` and `doctor` show and judge them.
#ifndef SQLSTEWARD_TOOLS_COMMON_INSTANCE_OUTPUT_H_
#define SQLSTEWARD_TOOLS_COMMON_INSTANCE_OUTPUT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sqlsteward/instances.h"

namespace sqlsteward::cli {

// The write lock is held for one group commit (milliseconds); held this
// long, its holder is stuck: `status` and `doctor` warn.
inline constexpr std::int64_t kStuckWriteLockMs = 60'000;

// "exclusive", "shared".
std::string_view OwnershipName(Ownership ownership);
// "running", "stepping-down".
std::string_view StateName(InstanceState state);
// Alive, in this lock domain or another.
bool IsLive(const InstanceInfo& info);

nlohmann::json InstanceToJson(const InstanceInfo& info, std::int64_t now_unix_ms);
// "pid 123 on web-1 (slot 0, exclusive, started 2024-05-01T10:00:00Z)"
std::string DescribeInstance(const InstanceInfo& info);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_INSTANCE_OUTPUT_H_
