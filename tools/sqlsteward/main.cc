// sqlsteward: the command-line tool. Each subcommand lives in its own file
// (commands/, doctor/, demo/) and registers itself here; see common/cli.h
// for the contract between them and this file.
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/help.h"

int main(int argc, char** argv) {
  namespace cli = sqlsteward::cli;

  CLI::App app("Share one SQLite database safely across threads, processes and containers.",
               "sqlsteward");
  app.require_subcommand(1);
  app.footer(
      "Run `sqlsteward <command> --help` for a command's arguments and examples.\n"
      "Start here:  sqlsteward demo");

  std::vector<cli::Command> commands;
  commands.push_back(cli::RegisterDemo(app));
  commands.push_back(cli::RegisterVersion(app));
  commands.push_back(cli::RegisterDoctor(app));
  commands.push_back(cli::RegisterMigrate(app));
  commands.push_back(cli::RegisterStatus(app));
  commands.push_back(cli::RegisterHandover(app));
  commands.push_back(cli::RegisterExec(app));
  commands.push_back(cli::RegisterQuery(app));
  commands.push_back(cli::RegisterSnapshot(app));
  commands.push_back(cli::RegisterVerify(app));
  commands.push_back(cli::RegisterRestore(app));
  commands.push_back(cli::RegisterDemoWorker(app));

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
    try {
      sqlsteward::Result<int> result = command.run();
      if (!result.has_value()) {
        cli::PrintError(result.error());
        return 1;
      }
      return *result;
    } catch (const std::exception& e) {
      cli::PrintError(sqlsteward::Status(sqlsteward::StatusCode::kInternal,
                                         fmt::format("unexpected exception: {}", e.what()),
                                         "this is a bug in sqlsteward; please report it"));
      return 1;
    }
  }
  return 1;  // require_subcommand(1) makes this unreachable.
}
