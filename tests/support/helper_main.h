// The main() of a helper binary (test_helper.cc, migrate_helper.cc,
// snapshot_helper.cc): a table of modes, one process per mode, chosen by
// the first argument. Every mode talks to its test through the line
// protocol of child_process.h and reports its own failures: an
// "error <code> <message>" line and a non-zero exit, never a silent 0.
#ifndef SQLSTEWARD_TESTS_SUPPORT_HELPER_MAIN_H_
#define SQLSTEWARD_TESTS_SUPPORT_HELPER_MAIN_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/database.h"
#include "sqlsteward/status.h"

namespace sqlsteward::testing {

// Exit statuses shared by the helpers' modes.
inline constexpr int kExitFailed = 1;   // the mode ran and reported a failure
inline constexpr int kExitSetup = 2;    // it could not set up (open, create)
inline constexpr int kExitUsage = 64;   // bad arguments (sysexits' EX_USAGE)

// The arguments after the mode's name, checked against its usage.
class ModeArgs {
 public:
  explicit ModeArgs(std::vector<std::string> args) : args_(std::move(args)) {}
  std::size_t size() const { return args_.size(); }
  const std::string& operator[](std::size_t i) const { return args_[i]; }
  // Argument i as an integer, or `fallback` when it was not given. A
  // malformed number is reported ("error invalid_argument ...") and the
  // helper exits kExitUsage: atoi's silent 0 would test something else.
  long long Int(std::size_t i, long long fallback = 0) const;

 private:
  std::vector<std::string> args_;
};

struct HelperMode {
  std::string_view name;
  // Its arguments, e.g. "DB DEST [PAGES [SLEEP_US]]": bracketed ones are
  // optional; the count of each kind is checked before the mode runs.
  std::string_view usage;
  int (*run)(const ModeArgs& args);
};

// Runs the mode argv[1] names with the rest of argv; returns its exit
// status. An unknown mode or a wrong argument count prints the table to
// stderr, says an error line and returns kExitUsage.
int HelperMain(std::span<const HelperMode> modes, int argc, char** argv);

// Closes `db`: returns `status_if_ok`, or says the error and returns
// kExitFailed. Close() is where a mode's last failure would otherwise go
// unseen.
int CloseAndReport(Database& db, int status_if_ok = 0);

// Opens `path`, or says the error and exits with kExitSetup.
std::unique_ptr<Database> OpenOrExit(const std::string& path, const Options& options = {});

// Sets options->journal_mode from `journal` (wal, delete) and
// options->synchronous from `sync` (off, normal, full, extra); an unknown
// name is said as an error and returns false.
bool ParseDurability(const std::string& journal, const std::string& sync, Options* options);

// Says "error <code name> <message>" for a failed Status.
void SayError(const Status& status);
// Says "error <code> <message>".
void SayError(std::string_view code, std::string_view message);

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_HELPER_MAIN_H_
