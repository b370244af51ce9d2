// sqlsteward: the command-line tool. Each subcommand lives in its own file
// (commands/, doctor/, demo/) and registers itself here; see common/cli.h
// for the contract between them and this file.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/cli_hints.h"
#include "common/help.h"

namespace {

namespace cli = sqlsteward::cli;

// An exception out of a command: after its work was applied, a warning
// and exit 0 (retrying would apply it twice); before, a bug.
int Unexpected(const cli::Command& command, const std::exception& e) {
  if (cli::Applied()) {
    cli::PrintWarning(fmt::format("{} was done, but reporting it failed ({}); do not run it again",
                                  command.app->get_name(), e.what()));
    return 0;
  }
  cli::PrintError(sqlsteward::Status(sqlsteward::StatusCode::kInternal,
                                     fmt::format("unexpected exception: {}", e.what()),
                                     "this is a bug in sqlsteward; please report it"));
  return 1;
}

// Runs the command and keeps its exit status truthful (common/cli.h): once
// the command has marked its work applied, nothing that fails afterwards
// (printing the report, an unexpected exception) makes it exit non-zero.
int RunCommand(const cli::Command& command) {
  int code = 1;
  int write_errno = 0;
  try {
    sqlsteward::Result<int> result = command.run();
    if (result.has_value()) {
      code = *result;
    } else {
      cli::PrintError(cli::CliStatus(result.error()));
    }
  } catch (const std::system_error& e) {
    // What fmt::print throws when stdout cannot be written: reported below.
    if (std::ferror(stdout) == 0) return Unexpected(command, e);
    write_errno = e.code().value();
  } catch (const std::exception& e) {
    return Unexpected(command, e);
  }
  // Buffered output meets a full disk or a closed pipe here, if not before.
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (flushed && std::ferror(stdout) == 0) return code;
  if (write_errno == 0) write_errno = errno != 0 ? errno : EIO;
  if (cli::Applied()) {
    cli::PrintWarning(fmt::format(
        "{} was done, but its output could not be written ({}); do not run it again",
        command.app->get_name(), std::strerror(write_errno)));
    return 0;
  }
  cli::PrintError(cli::ErrnoStatus(write_errno, "writing standard output",
                                   "standard output could not take the output (full disk, "
                                   "closed pipe); nothing was changed, run it again with "
                                   "output to a place that can take it"));
  return code == 0 ? 1 : code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Share one SQLite database safely across threads, processes and containers.",
               "sqlsteward");
  app.require_subcommand(1);
  app.footer(
      "Run `sqlsteward <command> --help` for a command's arguments and examples.\n"
      "Start here:  sqlsteward demo");

  std::vector<cli::Command> commands;
  commands.push_back(cli::RegisterDemo(app));
  commands.push_back(cli::RegisterVersion(app));
  commands.push_back(cli::RegisterExtensionPath(app));
  commands.push_back(cli::RegisterDoctor(app));
  commands.push_back(cli::RegisterTorture(app));
  commands.push_back(cli::RegisterMigrate(app));
  commands.push_back(cli::RegisterStatus(app));
  commands.push_back(cli::RegisterHandover(app));
  commands.push_back(cli::RegisterExec(app));
  commands.push_back(cli::RegisterQuery(app));
  commands.push_back(cli::RegisterSnapshot(app));
  commands.push_back(cli::RegisterVerify(app));
  commands.push_back(cli::RegisterRestore(app));
  commands.push_back(cli::RegisterNode(app));
  commands.push_back(cli::RegisterCluster(app));
  commands.push_back(cli::RegisterDemoWorker(app));
  commands.push_back(cli::RegisterTortureWorker(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 takes an unknown first word for a stray argument and says only
    // that a subcommand is required; name the word instead. Help (exit 0)
    // is not an error.
    if (e.get_exit_code() != 0) {
      if (std::optional<std::string> word = cli::UnknownCommand(app, argc, argv)) {
        return app.exit(cli::UnknownCommandError(*word));
      }
    }
    return app.exit(e);
  }

  for (const cli::Command& command : commands) {
    if (!command.app->parsed()) continue;
    cli::SetRunningCommand(command.app->get_name());
    // A reader of our stdout that went away (`| head`) must make the write
    // fail, not kill the process between a commit and its exit status. A
    // demo worker keeps dying with its parent's pipe.
    if (command.app->get_name() != "demo-worker") std::signal(SIGPIPE, SIG_IGN);
    return RunCommand(command);
  }
  return 1;  // require_subcommand(1) makes this unreachable.
}
