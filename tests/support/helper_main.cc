#include "support/helper_main.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

#include "support/line_protocol.h"

namespace sqlsteward::testing {
namespace {

// How many arguments `usage` requires and allows.
std::pair<std::size_t, std::size_t> ArgCounts(std::string_view usage) {
  std::istringstream words{std::string(usage)};
  std::size_t required = 0;
  std::size_t total = 0;
  bool optional = false;
  for (std::string word; words >> word;) {
    optional = optional || word.front() == '[';
    ++total;
    if (!optional) ++required;
  }
  return {required, total};
}

int Usage(std::span<const HelperMode> modes, const char* program, std::string_view why) {
  std::fprintf(stderr, "%s: %.*s\nusage:\n", program, static_cast<int>(why.size()), why.data());
  for (const HelperMode& mode : modes) {
    std::fprintf(stderr, "  %s %.*s %.*s\n", program, static_cast<int>(mode.name.size()),
                 mode.name.data(), static_cast<int>(mode.usage.size()), mode.usage.data());
  }
  SayError("invalid_argument", why);
  return kExitUsage;
}

}  // namespace

long long ModeArgs::Int(std::size_t i, long long fallback) const {
  if (i >= args_.size()) return fallback;
  const std::string& text = args_[i];
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0) {
    SayError("invalid_argument", "not an integer: '" + text + "'");
    std::exit(kExitUsage);
  }
  return value;
}

int HelperMain(std::span<const HelperMode> modes, int argc, char** argv) {
  const char* program = argc > 0 ? argv[0] : "helper";
  if (argc < 2) return Usage(modes, program, "no mode given");
  const std::string_view name = argv[1];
  for (const HelperMode& mode : modes) {
    if (mode.name != name) continue;
    const auto [required, allowed] = ArgCounts(mode.usage);
    const auto given = static_cast<std::size_t>(argc - 2);
    if (given < required || given > allowed) {
      return Usage(modes, program,
                   std::string(name) + " takes " + std::string(mode.usage) + ", got " +
                       std::to_string(given) + " arguments");
    }
    return mode.run(ModeArgs(std::vector<std::string>(argv + 2, argv + argc)));
  }
  return Usage(modes, program, "unknown mode '" + std::string(name) + "'");
}

std::unique_ptr<Database> OpenOrExit(const std::string& path, const Options& options) {
  auto db = Database::Open(path, options);
  if (!db.has_value()) {
    SayError(db.error());
    std::exit(kExitSetup);
  }
  return std::move(db).value();
}

bool ParseDurability(const std::string& journal, const std::string& sync, Options* options) {
  if (journal != "wal" && journal != "delete") {
    SayError("invalid_argument", "journal mode " + journal + " is not wal or delete");
    return false;
  }
  options->journal_mode = journal == "wal" ? JournalMode::kWal : JournalMode::kDelete;
  const std::pair<std::string_view, Synchronous> levels[] = {{"off", Synchronous::kOff},
                                                             {"normal", Synchronous::kNormal},
                                                             {"full", Synchronous::kFull},
                                                             {"extra", Synchronous::kExtra}};
  for (const auto& [name, level] : levels) {
    if (name == sync) {
      options->synchronous = level;
      return true;
    }
  }
  SayError("invalid_argument", "synchronous level " + sync + " is unknown");
  return false;
}

int CloseAndReport(Database& db, int status_if_ok) {
  Status closed = db.Close();
  if (closed.ok()) return status_if_ok;
  SayError(closed);
  return kExitFailed;
}

void SayError(const Status& status) {
  // ToString() without its leading "code: ": the message with the SQLite
  // code, errno and hint, all of which help whoever reads a failed test.
  const std::string_view code = StatusCodeName(status.code());
  const std::string text = status.ToString();
  SayError(code, text.rfind(std::string(code) + ": ", 0) == 0
                     ? std::string_view(text).substr(code.size() + 2)
                     : std::string_view(text));
}

void SayError(std::string_view code, std::string_view message) {
  subprocess::SayOrExit(subprocess::ErrorLine(code, message));
}

}  // namespace sqlsteward::testing
