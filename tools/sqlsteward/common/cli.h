// The contract between main() and the subcommands of the sqlsteward tool:
// how a subcommand registers itself with the CLI11 app, and how a failing
// Status reaches the user. Each commands/<name>.cc (and doctor/, demo/)
// defines one Register<Name>(); what several of them share lives in the
// other files of common/, one concept each.
//
// Contract of a subcommand: Register<Name>() adds it to the app (with
// AddCommand, help.h: a one-line summary for `sqlsteward --help`) and
// returns a Command whose run() is called by main() when the subcommand was
// given. run() returns the exit code (0 success, 1 "the check failed") or a
// Status for "could not do the job"; main() prints that Status as
//   error: <message> (<code>, sqlite N, errno M)
//   hint: <hint>
// on stderr and exits 1. No exception is meant to leave run().
//
// The exit status tells the truth: non-zero means nothing was applied. A
// command that changes something calls MarkApplied() the moment the change
// is done (committed, published, handed over); from then on main() turns a
// failure to report it (an exception, a write to a full or closed stdout)
// into a `warning:` on stderr and exit 0, since retrying the command would
// apply it twice.
#ifndef SQLSTEWARD_TOOLS_CLI_H_
#define SQLSTEWARD_TOOLS_CLI_H_

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

// Every command prints --json documents and durations.
#include "common/json_output.h"
#include "common/text_output.h"
#include "common/units.h"
#include "sqlsteward/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace sqlsteward::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<Result<int>()> run;
};

Command RegisterCluster(CLI::App& app);
Command RegisterDemo(CLI::App& app);
Command RegisterDemoWorker(CLI::App& app);
Command RegisterDoctor(CLI::App& app);
Command RegisterExec(CLI::App& app);
Command RegisterExtensionPath(CLI::App& app);
Command RegisterHandover(CLI::App& app);
Command RegisterMigrate(CLI::App& app);
Command RegisterNode(CLI::App& app);
Command RegisterQuery(CLI::App& app);
Command RegisterStatus(CLI::App& app);
Command RegisterVersion(CLI::App& app);
Command RegisterSnapshot(CLI::App& app);
Command RegisterVerify(CLI::App& app);
Command RegisterRestore(CLI::App& app);
Command RegisterTorture(CLI::App& app);
Command RegisterTortureWorker(CLI::App& app);

// The tool's version (the CMake project version).
std::string_view ToolVersion();

// Prints "error: ..." and, when there is one, "hint: ..." on stderr, each
// one line (Printable).
void PrintError(const Status& status);

// Prints "warning: <text>" on stderr (Printable).
void PrintWarning(std::string_view text);

// See the top of the file. Applied() is what main() asks at the end.
void MarkApplied();
bool Applied();

// `path` made absolute (as given when that fails); a cluster address ("dqlite://...") as it is.
std::string AbsolutePath(const std::string& path);
// A "dqlite://HOST:PORT[,...]/NAME" address rather than a file path.
bool IsClusterAddress(std::string_view db);

// A Status for a failed system call: the library's code for the errno
// (posix::ErrnoStatus), with "<what>: <strerror>" and `hint`.
Status ErrnoStatus(int err, std::string_view what, std::string hint = {});

bool IsTerminal(std::FILE* stream);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_CLI_H_
