#include "cli/run_cli.h"

#include <chrono>
#include <cstring>

#include "support/child_process.h"

namespace sqlsteward::testing {

CliResult RunCli(const std::string& program, const std::vector<std::string>& args) {
  // Within CTest's per-test timeout (300 s), so that a hung command fails
  // with what it printed so far.
  constexpr auto kTimeout = std::chrono::seconds(240);
  subprocess::RunResult run = subprocess::Run(program, args, subprocess::Clock::now() + kTimeout);
  CliResult result;
  if (run.spawn_error != 0) {
    result.err = "could not run " + program + ": " + std::strerror(run.spawn_error);
    return result;
  }
  result.exit_code = run.status.ShellCode();
  result.out = std::move(run.out);
  result.err = std::move(run.err);
  if (run.timed_out) {
    result.err += "\n[killed after " + std::to_string(kTimeout.count()) + " s]\n";
  }
  return result;
}

}  // namespace sqlsteward::testing
