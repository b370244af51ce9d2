// How the commands appear in help and in usage errors. `sqlsteward --help`
// lists every command on one line, a summary, as git and litestream do;
// `sqlsteward <command> --help` prints the command's long text. A word that
// names no command is reported as an unknown command.
#ifndef SQLSTEWARD_TOOLS_COMMON_HELP_H_
#define SQLSTEWARD_TOOLS_COMMON_HELP_H_

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace sqlsteward::cli {

// Adds the subcommand `name` to `app` with the one-line `summary` that
// `sqlsteward --help` lists. `about`, when given, is what `sqlsteward <name>
// --help` prints above its usage instead of the summary.
CLI::App* AddCommand(CLI::App& app, const std::string& name, const std::string& summary,
                     std::string about = {});

// The first word of a command line (the first argument that is not an
// option) when it names no subcommand of `app`.
std::optional<std::string> UnknownCommand(const CLI::App& app, int argc, const char* const* argv);

// The usage error for that word; CLI::App::exit prints it as CLI11 prints
// its own ("... Run with --help for more information.") and returns
// ExtrasError's exit code: an argument that was not expected.
class UnknownCommandError : public CLI::ParseError {
 public:
  explicit UnknownCommandError(const std::string& word)
      : CLI::ParseError("UnknownCommandError", "unknown command: " + word,
                        CLI::ExitCodes::ExtrasError) {}
};

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_HELP_H_
