#include "common/help.h"

#include <memory>
#include <string_view>
#include <utility>

namespace sqlsteward::cli {
namespace {

// CLI11 prints a subcommand's description both in its parent's list and
// above its own usage; this formatter gives the second place its own text,
// so the list keeps the summary.
class LongDescriptionFormatter : public CLI::Formatter {
 public:
  explicit LongDescriptionFormatter(std::string about) : about_(std::move(about)) {}

  std::string make_description(const CLI::App* /*app*/) const override { return about_ + "\n"; }

 private:
  std::string about_;
};

}  // namespace

CLI::App* AddCommand(CLI::App& app, const std::string& name, const std::string& summary,
                     std::string about) {
  CLI::App* cmd = app.add_subcommand(name, summary);
  if (!about.empty()) cmd->formatter(std::make_shared<LongDescriptionFormatter>(std::move(about)));
  return cmd;
}

std::optional<std::string> UnknownCommand(const CLI::App& app, int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word.empty() || word.front() == '-') continue;
    for (const CLI::App* sub : app.get_subcommands({})) {
      if (sub->check_name(std::string(word))) return std::nullopt;
    }
    return std::string(word);
  }
  return std::nullopt;
}

}  // namespace sqlsteward::cli
