#include "common/json_output.h"

#include <cstdio>
#include <utility>

#include <fmt/core.h>

namespace sqlsteward::cli {

nlohmann::json StatusToJson(const Status& status) {
  nlohmann::json out = {{"code", StatusCodeName(status.code())},
                        {"message", status.message()}};
  if (!status.hint().empty()) out["hint"] = status.hint();
  if (status.sqlite_code() != 0) out["sqlite_code"] = status.sqlite_code();
  if (status.sys_errno() != 0) out["errno"] = status.sys_errno();
  return out;
}

void PrintJson(const nlohmann::json& doc) {
  fmt::print("{}\n", doc.dump(2));
  std::fflush(stdout);
}

Result<int> FailWithJson(bool json, nlohmann::json fields, Status status) {
  if (json) {
    fields["ok"] = false;
    fields["error"] = StatusToJson(status);
    PrintJson(fields);
  }
  return status;
}

}  // namespace sqlsteward::cli
