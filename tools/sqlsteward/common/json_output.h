// How a command's --json output looks: one indented document on stdout,
// and a failing Status as an object in it.
#ifndef SQLSTEWARD_TOOLS_COMMON_JSON_OUTPUT_H_
#define SQLSTEWARD_TOOLS_COMMON_JSON_OUTPUT_H_

#include <nlohmann/json.hpp>

#include "sqlsteward/status.h"

namespace sqlsteward::cli {

// {"code": "timeout", "message": ..., "hint": ..., "sqlite_code": 5, "errno": 11};
// the last three only when set.
nlohmann::json StatusToJson(const Status& status);

// One JSON document on stdout, indented, newline-terminated.
void PrintJson(const nlohmann::json& doc);

// How a command with --json fails: with `json`, prints `fields` with "ok":
// false and "error" (StatusToJson) on stdout; returns `status`, which main
// prints as error:/hint: on stderr.
Result<int> FailWithJson(bool json, nlohmann::json fields, Status status);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_JSON_OUTPUT_H_
