// sqlsteward extension-path: where the loadable SQLite extension
// (docs/extension.md) is, for clients to load: the installed copy beside
// this program (<prefix>/lib/.../sqlsteward/sqlsteward.so), else the one
// this build tree produced.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "base/status_builders.h"
#include "common/cli.h"
#include "common/help.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kExamples = R"ex(Examples:
  sqlsteward extension-path
  sqlite3 -cmd ".load $(sqlsteward extension-path)" :memory:
  python3 -c 'import sqlite3; m = sqlite3.connect(":memory:"); m.enable_load_extension(True);
              m.load_extension("'"$(sqlsteward extension-path)"'")')ex";

// The directory of this program, with links resolved.
std::string ProgramDirectory() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string exe(buf, static_cast<std::size_t>(n));
  return exe.substr(0, exe.rfind('/'));
}

// A regular file we may read, by its canonical path; empty otherwise.
std::string Usable(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return {};
  struct stat st;
  if (::stat(resolved, &st) != 0 || !S_ISREG(st.st_mode) || ::access(resolved, R_OK) != 0) {
    return {};
  }
  return resolved;
}

Result<std::string> FindExtension() {
  const std::string installed = ProgramDirectory() + "/" + SQLSTEWARD_EXTENSION_FROM_BINDIR;
  if (std::string found = Usable(installed); !found.empty()) return found;
  if (std::string found = Usable(SQLSTEWARD_EXTENSION_BUILT); !found.empty()) return found;
  return NotFound("the sqlsteward SQLite extension is not installed beside this program (" +
                      installed + ") nor in its build tree (" + SQLSTEWARD_EXTENSION_BUILT + ")",
                  "build it (cmake --build <dir> --target sqlsteward_extension) or install the "
                  "package (cmake --install <dir>)");
}

}  // namespace

Command RegisterExtensionPath(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = AddCommand(app, "extension-path",
                             "Print the path of the SQLite extension for stock clients.",
                             "Print the absolute path of sqlsteward.so, the loadable SQLite "
                             "extension that protects unmodified clients (Python, Node, Ruby, "
                             "Go, the sqlite3 shell): docs/extension.md.");
  cmd->footer(kExamples);
  cmd->add_flag("--json", *json, "Print one JSON object instead of text");
  return {cmd, [json]() -> Result<int> {
            auto path = FindExtension();
            if (!path.has_value()) return FailWithJson(*json, {}, std::move(path).error());
            if (*json) {
              PrintJson({{"path", *path}, {"entry_point", "sqlite3_sqlsteward_init"}});
            } else {
              fmt::print("{}\n", Printable(*path));
            }
            return 0;
          }};
}

}  // namespace sqlsteward::cli
