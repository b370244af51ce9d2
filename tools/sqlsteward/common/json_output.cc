#include "common/json_output.h"

#include <cstdio>
#include <utility>

#include <fmt/core.h>

#include "common/cli_hints.h"

namespace sqlsteward::cli {

nlohmann::json StatusToJson(const Status& status) {
  nlohmann::json out = {{"code", StatusCodeName(status.code())},
                        {"message", status.message()}};
  if (!status.hint().empty()) out["hint"] = status.hint();
  if (status.sqlite_code() != 0) out["sqlite_code"] = status.sqlite_code();
  if (status.sys_errno() != 0) out["errno"] = status.sys_errno();
  return out;
}

Status StatusFromJson(const nlohmann::json& j) {
  StatusCode code = StatusCode::kInternal;
  const std::string name = j.value("code", "");
  for (int c = 0; c <= static_cast<int>(StatusCode::kUnknownOutcome); ++c) {
    if (StatusCodeName(static_cast<StatusCode>(c)) == name) code = static_cast<StatusCode>(c);
  }
  if (code == StatusCode::kOk) code = StatusCode::kInternal;
  return Status(code, j.value("message", "worker failed"), j.value("hint", ""),
                j.value("sqlite_code", 0), j.value("errno", 0));
}

std::string JsonText(const nlohmann::json& doc, int indent) {
  return doc.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

void PrintJson(const nlohmann::json& doc) {
  // Not flushed here: main() flushes once and reports a failed write.
  fmt::print("{}\n", JsonText(doc, 2));
}

Result<int> FailWithJson(bool json, nlohmann::json fields, Status status) {
  const auto database = fields.find("database");
  status = CliStatus(status, database != fields.end() && database->is_string()
                                 ? database->get<std::string>()
                                 : std::string());
  if (json) {
    fields["ok"] = false;
    fields["error"] = StatusToJson(status);
    PrintJson(fields);
  }
  return status;
}

}  // namespace sqlsteward::cli
