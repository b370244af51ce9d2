#include "common/cli_hints.h"

#include <utility>

#include <fmt/core.h>

namespace sqlsteward::cli {
namespace {

std::string& RunningCommandStorage() {
  static std::string name;
  return name;
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

void ReplaceAll(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// The hint for an exclusive owner (or live instances) in the way.
std::string OwnerHint(std::string_view command, std::string_view db) {
  const std::string see = fmt::format("`sqlsteward status {}` shows who it is", db);
  if (command == "exec" || command == "query") {
    return fmt::format(
        "wait for the owner with --wait-for-owner SECONDS, or ask it to step down first: "
        "`sqlsteward handover {}`; {}",
        db, see);
  }
  if (command == "restore") {
    return fmt::format(
        "let it hand over: `sqlsteward restore --take-over`, or `sqlsteward handover {}` "
        "first; {}",
        db, see);
  }
  if (command == "snapshot") {
    return fmt::format(
        "take the snapshot inside the owning process (sqlsteward::Snapshot on its Database), "
        "or ask it to hand over first: `sqlsteward handover {}`; {}",
        db, see);
  }
  return fmt::format("ask it to step down first: `sqlsteward handover {}`; {}", db, see);
}

std::string NotFoundHint(std::string_view command) {
  if (command == "exec") return "check the path, or pass --create to create the database";
  return "check the path";
}

}  // namespace

void SetRunningCommand(std::string_view name) { RunningCommandStorage() = std::string(name); }

std::string_view RunningCommand() { return RunningCommandStorage(); }

Status CliStatus(const Status& status, std::string_view db) {
  const std::string_view command = RunningCommand();
  const std::string where = db.empty() ? std::string("DB") : std::string(db);
  std::string message(status.message());
  std::string hint(status.hint());
  if (status.code() == StatusCode::kTimeout && Contains(message, "write lock") &&
      command != "handover" && !Contains(hint, "--timeout")) {
    // Every command that waits for the write lock has --timeout.
    return Status(status.code(), std::move(message),
                  fmt::format("retry with a longer --timeout; `sqlsteward status {}` shows who "
                              "holds the write lock (it is released when that process exits)",
                              where),
                  status.sqlite_code(), status.sys_errno());
  }
  if (!Contains(message, "Options::") && !Contains(hint, "Options::")) return status;

  if (Contains(hint, "Options::wait_for_owner") || Contains(hint, "Options::take_over")) {
    hint = OwnerHint(command, where);
  } else if (Contains(hint, "Options::create_if_missing")) {
    hint = NotFoundHint(command);
  } else if (Contains(hint, "WriteOptions::timeout")) {
    hint = fmt::format(
        "retry with a longer --timeout; `sqlsteward status {}` shows who holds the write lock",
        where);
  } else if (Contains(hint, "ReadOptions::timeout")) {
    hint = "retry with a longer --timeout, or make the query cheaper";
  }
  ReplaceAll(hint, " (RestoreOptions::take_over)", "");
  ReplaceAll(hint, " at open (Options::journal_mode)", " when it opens the database");
  ReplaceAll(hint, "; Options::foreign_keys sets the connection's default", "");
  ReplaceAll(hint, "leave Options::vfs empty", "use SQLite's default VFS");
  ReplaceAll(message, " (Options::read_only)", " (opened read-only)");
  // A library option this table does not know yet: say where the CLI's
  // options are rather than name one the user cannot set.
  if (Contains(hint, "Options::")) {
    hint = fmt::format("see `sqlsteward {} --help` for the options that change this",
                       command.empty() ? std::string_view("<command>") : command);
  }
  if (Contains(message, "Options::")) ReplaceAll(message, "Options::", "option ");
  return Status(status.code(), std::move(message), std::move(hint), status.sqlite_code(),
                status.sys_errno());
}

}  // namespace sqlsteward::cli
