// How a command's --json output looks: one indented document on stdout,
// and a failing Status as an object in it.
//
// Text that is not valid UTF-8 (a path, a parameter, a stored TEXT value, a
// migration's SQL) cannot be written as JSON as it is; nlohmann::json throws
// when asked to. Every document the tool prints goes through JsonText, which
// replaces each invalid byte with U+FFFD, so printing can never fail after
// the work was done (docs/cli.md, "Output").
#ifndef SQLSTEWARD_TOOLS_COMMON_JSON_OUTPUT_H_
#define SQLSTEWARD_TOOLS_COMMON_JSON_OUTPUT_H_

#include <string>

#include <nlohmann/json.hpp>

#include "sqlsteward/status.h"

namespace sqlsteward::cli {

// {"code": "timeout", "message": ..., "hint": ..., "sqlite_code": 5, "errno": 11};
// the last three only when set.
nlohmann::json StatusToJson(const Status& status);
// The Status that StatusToJson wrote (a worker's report to its parent); a
// code it does not name becomes kInternal.
Status StatusFromJson(const nlohmann::json& j);

// `doc` serialised (indented by `indent`, one line when -1); each byte that
// is not part of valid UTF-8 becomes U+FFFD. Never throws for bad text.
std::string JsonText(const nlohmann::json& doc, int indent = -1);

// One JSON document on stdout, indented, newline-terminated (JsonText).
void PrintJson(const nlohmann::json& doc);

// How a command with --json fails: `status` with its hints in terms of the
// CLI's flags (CliStatus, cli_hints.h); with `json`, prints `fields` with
// "ok": false and "error" (StatusToJson) on stdout. Returns that status,
// which main prints as error:/hint: on stderr.
Result<int> FailWithJson(bool json, nlohmann::json fields, Status status);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_JSON_OUTPUT_H_
