// Runs a command-line program to completion and captures what it printed:
// for end-to-end tests of the sqlsteward tool.
#ifndef SQLSTEWARD_TESTS_CLI_RUN_CLI_H_
#define SQLSTEWARD_TESTS_CLI_RUN_CLI_H_

#include <string>
#include <vector>

namespace sqlsteward::testing {

struct CliResult {
  // The exit status, 128+signal when killed, -1 when it could not run.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `program` with `args` (no shell), stdin at /dev/null, and waits
// (killing it after 240 s).
CliResult RunCli(const std::string& program, const std::vector<std::string>& args);

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_CLI_RUN_CLI_H_
