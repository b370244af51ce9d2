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
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sqlsteward/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace sqlsteward {
class Database;
class Statement;
struct InstanceInfo;
struct SnapshotManifest;
struct SnapshotProgress;
struct Options;
}  // namespace sqlsteward

namespace sqlsteward::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<Result<int>()> run;
};

Command RegisterDemo(CLI::App& app);
Command RegisterDemoWorker(CLI::App& app);
Command RegisterDoctor(CLI::App& app);
Command RegisterExec(CLI::App& app);
Command RegisterHandover(CLI::App& app);
Command RegisterMigrate(CLI::App& app);
Command RegisterQuery(CLI::App& app);
Command RegisterStatus(CLI::App& app);
Command RegisterVersion(CLI::App& app);
Command RegisterSnapshot(CLI::App& app);
Command RegisterVerify(CLI::App& app);
Command RegisterRestore(CLI::App& app);

// Progress of snapshot, verify and restore (snapshot.cc): on a terminal a
// bar with pages, rate and ETA redrawn in place; otherwise a plain line per
// finished phase and every 2 s; nullptr (no progress) when !enabled.
std::function<void(const SnapshotProgress&)> SnapshotProgressPrinter(bool enabled);
// A snapshot manifest as the --json outputs show it (snapshot.cc).
nlohmann::json ManifestJson(const SnapshotManifest& manifest);

// SQL parameters of `exec` and `query` (exec.cc), bound to ?1, ?2, ... in
// command-line order: --param V (an integer when V is a canonical decimal
// integer such as 42 or -7, text otherwise), --text-param V, --null-param.
struct SqlParam {
  enum Kind { kInteger, kText, kNull };
  Kind kind = kText;
  std::string text;
  std::int64_t integer = 0;
};
void AddSqlParamOptions(CLI::App* cmd);
std::vector<SqlParam> SqlParamsInOrder(const CLI::App& cmd);
void BindSqlParams(Statement& stmt, const std::vector<SqlParam>& params);
nlohmann::json SqlParamsToJson(const std::vector<SqlParam>& params);
// Database::Open for `exec` and `query`: hints in terms of their flags.
Result<std::unique_ptr<Database>> OpenForSql(const std::string& path, const Options& options,
                                             std::string_view not_found_hint);

// A registered instance as `status` and `handover` show it (status.cc).
nlohmann::json InstanceToJson(const InstanceInfo& info, std::int64_t now_unix_ms);
// "pid 123 on web-1 (slot 0, exclusive, started 2024-05-01T10:00:00Z)"
std::string DescribeInstance(const InstanceInfo& info);

// The tool's version (the CMake project version).
std::string_view ToolVersion();

// Prints "error: ..." and, when there is one, "hint: ..." on stderr.
void PrintError(const Status& status);

// {"code": "timeout", "message": ..., "hint": ..., "sqlite_code": 5, "errno": 11};
// the last three only when set.
nlohmann::json StatusToJson(const Status& status);

// One JSON document on stdout, indented, newline-terminated.
void PrintJson(const nlohmann::json& doc);
// How a command with --json fails: with `json`, prints `fields` with "ok":
// false and "error" (StatusToJson) on stdout; returns `status`, which main
// prints as error:/hint: on stderr.
Result<int> FailWithJson(bool json, nlohmann::json fields, Status status);
// `path` made absolute; as given when that fails.
std::string AbsolutePath(const std::string& path);

// A Status for a failed system call: kIOError (or a closer code for the
// errno) with "<what>: <strerror>" and `hint`.
Status ErrnoStatus(int err, std::string_view what, std::string hint = {});

bool IsTerminal(std::FILE* stream);

// Whether SQLite of this sqlite3_libversion_number() has the WAL-reset bug
// (sqlite.org/wal.html#walresetbug, 3.7.0 to 3.51.2): two connections
// committing and checkpointing at the same moment can corrupt a WAL
// database. sqlsteward checkpoints only under its cross-process write lock,
// which keeps its own processes out of that race; other programs on the
// same file are not. For `version` and `doctor`.
bool HasWalResetBug(int version_number);

// "0.42 s", "3.1 s", "2 min 05 s".
std::string FormatSeconds(double seconds);

double SecondsSince(std::chrono::steady_clock::time_point start);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_CLI_H_
