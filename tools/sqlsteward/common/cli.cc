#include "common/cli.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <utility>

#include <fmt/core.h>

#include "posix/env.h"

namespace sqlsteward::cli {

std::string_view ToolVersion() { return SQLSTEWARD_CLI_VERSION; }

void PrintError(const Status& status) {
  std::string detail(StatusCodeName(status.code()));
  if (status.sqlite_code() != 0) detail += fmt::format(", sqlite {}", status.sqlite_code());
  if (status.sys_errno() != 0) {
    detail += fmt::format(", errno {}", status.sys_errno());
    // Most messages already end in strerror(); say it once.
    std::string_view text = std::strerror(status.sys_errno());
    if (status.message().find(text) == std::string_view::npos) detail += fmt::format(": {}", text);
  }
  // fputs rather than fmt::print, which throws when stderr cannot be
  // written: this runs on the way out, where nothing may throw.
  std::string text = fmt::format("error: {} ({})\n", Printable(status.message()), Printable(detail));
  if (!status.hint().empty()) text += fmt::format("hint: {}\n", Printable(status.hint()));
  std::fputs(text.c_str(), stderr);
}

void PrintWarning(std::string_view text) {
  std::fputs(fmt::format("warning: {}\n", Printable(text)).c_str(), stderr);
}

namespace {
bool g_applied = false;
}  // namespace

void MarkApplied() { g_applied = true; }

bool Applied() { return g_applied; }

std::string AbsolutePath(const std::string& path) {
  if (IsClusterAddress(path)) return path;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.string();
}

Status ErrnoStatus(int err, std::string_view what, std::string hint) {
  // One errno table, the library's; the wording stays the tool's (the
  // library's names the call and the path apart, and adds its own hints).
  const StatusCode code = posix::ErrnoStatus(err, what, {}).code();
  return Status(code, fmt::format("{}: {}", what, std::strerror(err)), std::move(hint), 0, err);
}

bool IsClusterAddress(std::string_view db) { return db.starts_with("dqlite://"); }

bool IsTerminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

}  // namespace sqlsteward::cli
