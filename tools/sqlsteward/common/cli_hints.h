// The library's hints say how to recover in terms of its API
// (`Options::wait_for_owner`, `WriteOptions::timeout`, ...); a user of the
// tool has flags and commands instead. Every Status the tool prints passes
// through CliStatus, so no output names a library option.
//
// Thread safety: SetRunningCommand is called once by main() before the
// command runs; the rest only reads.
#ifndef SQLSTEWARD_TOOLS_COMMON_CLI_HINTS_H_
#define SQLSTEWARD_TOOLS_COMMON_CLI_HINTS_H_

#include <string>
#include <string_view>

#include "sqlsteward/status.h"

namespace sqlsteward::cli {

// The subcommand main() is running ("exec", "restore", ...): which flags a
// hint may name.
void SetRunningCommand(std::string_view name);
std::string_view RunningCommand();

// `status` with its message and hint in terms of the running command's
// flags and of other sqlsteward commands; `db` (empty: the word DB) is the
// database to name in them; a wait for the write lock that timed out names
// --timeout. Code, sqlite code and errno are kept. Any other Status that
// names no library option is returned as it is.
Status CliStatus(const Status& status, std::string_view db = {});

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_CLI_HINTS_H_
