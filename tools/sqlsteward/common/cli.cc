#include "common/cli.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/core.h>

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
  fmt::print(stderr, "error: {} ({})\n", status.message(), detail);
  if (!status.hint().empty()) fmt::print(stderr, "hint: {}\n", status.hint());
}

nlohmann::json StatusToJson(const Status& status) {
  nlohmann::json out = {{"code", StatusCodeName(status.code())},
                        {"message", status.message()}};
  if (!status.hint().empty()) out["hint"] = status.hint();
  if (status.sqlite_code() != 0) out["sqlite_code"] = status.sqlite_code();
  if (status.sys_errno() != 0) out["errno"] = status.sys_errno();
  return out;
}

void PrintJson(const nlohmann::json& doc) {
  fmt::print("{}\n", doc.dump(2));
  std::fflush(stdout);
}

Result<int> FailWithJson(bool json, nlohmann::json fields, Status status) {
  if (json) {
    fields["ok"] = false;
    fields["error"] = StatusToJson(status);
    PrintJson(fields);
  }
  return status;
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.string();
}

Status ErrnoStatus(int err, std::string_view what, std::string hint) {
  StatusCode code = StatusCode::kIOError;
  switch (err) {
    case ENOENT: code = StatusCode::kNotFound; break;
    case EACCES:
    case EPERM: code = StatusCode::kPermissionDenied; break;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EAGAIN: code = StatusCode::kResourceExhausted; break;
    default: break;
  }
  return Status(code, fmt::format("{}: {}", what, std::strerror(err)), std::move(hint), 0, err);
}

bool IsTerminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

bool HasWalResetBug(int version_number) {
  return version_number >= 3'007'000 && version_number <= 3'051'002;
}

std::string FormatSeconds(double seconds) {
  if (seconds < 10) return fmt::format("{:.2f} s", seconds);
  if (seconds < 120) return fmt::format("{:.1f} s", seconds);
  auto whole = static_cast<long>(seconds);
  return fmt::format("{} min {:02} s", whole / 60, whole % 60);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace sqlsteward::cli
