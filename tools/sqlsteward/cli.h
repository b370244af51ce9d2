// What every subcommand of the sqlsteward tool shares: how it registers
// itself with the CLI11 app, how a failing Status reaches the user, and the
// small output helpers behind --json and the progress lines.
//
// Contract of a subcommand: Register<Name>() adds it to the app and returns
// a Command whose run() is called by main() when the subcommand was given.
// run() returns the exit code (0 success, 1 "the check failed") or a Status
// for "could not do the job"; main() prints that Status as
//   error: <message> (<code>, sqlite N, errno M)
//   hint: <hint>
// on stderr and exits 1. No exception is meant to leave run().
#ifndef SQLSTEWARD_TOOLS_CLI_H_
#define SQLSTEWARD_TOOLS_CLI_H_

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sqlsteward/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace sqlsteward::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<Result<int>()> run;
};

Command RegisterDemo(CLI::App& app);
Command RegisterDemoWorker(CLI::App& app);
Command RegisterDoctor(CLI::App& app);
Command RegisterVersion(CLI::App& app);

// The tool's version (the CMake project version).
std::string_view ToolVersion();

// Prints "error: ..." and, when there is one, "hint: ..." on stderr.
void PrintError(const Status& status);

// {"code": "timeout", "message": ..., "hint": ..., "sqlite_code": 5, "errno": 11};
// the last three only when set.
nlohmann::json StatusToJson(const Status& status);

// One JSON document on stdout, indented, newline-terminated.
void PrintJson(const nlohmann::json& doc);

// A Status for a failed system call: kIOError (or a closer code for the
// errno) with "<what>: <strerror>" and `hint`.
Status ErrnoStatus(int err, std::string_view what, std::string hint = {});

bool IsTerminal(std::FILE* stream);

// "0.42 s", "3.1 s", "2 min 05 s".
std::string FormatSeconds(double seconds);

double SecondsSince(std::chrono::steady_clock::time_point start);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_CLI_H_
