// sqlsteward handover DB: asks the instance that owns DB exclusively (or,
// with --all, every live instance) to step down, and waits until it has, for
// deploy scripts (blue-green, Kamal): stop the old version's writes cleanly
// before, or while, the new one starts.
//
// The protocol is the library's (RequestHandover, sqlsteward/instances.h;
// design in src/registry_internal.h): the request is written into the
// owner's slot; its heartbeat thread sees it within one heartbeat interval,
// finishes the running batch, fails later writes with kUnavailable ("handed
// over"), checkpoints and releases its slot; our wait on the slot lock is
// queued in the kernel and returns at once. The owner's process keeps
// running: what it does with a handed-over handle is up to the application.
//
// An instance in another lock domain cannot be waited for from here (its
// lock is invisible): when one would be asked, handover refuses before
// asking anyone, since handing over the others would not free the database.
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "base/time.h"
#include "common/cli.h"
#include "common/cli_hints.h"
#include "common/help.h"
#include "common/instance_output.h"
#include "sqlsteward/instances.h"

namespace sqlsteward::cli {
namespace {

using nlohmann::json;

constexpr const char* kAbout =
    "Ask the instance that owns DB exclusively (with --all: every live instance)\n"
    "to hand over, and wait until it has stepped down: it finishes the batch it\n"
    "is committing, fails later writes with \"unavailable: handed over\",\n"
    "checkpoints and releases the database. Nothing is written to the database.\n"
    "The instance's process keeps running; a new instance can open at once.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward handover app.db                     # free the owner's claim before a deploy
  sqlsteward handover app.db --all --timeout 30  # every instance, e.g. before a restore
  sqlsteward handover app.db --json | jq -r '.stepped_down[].pid'

Exit status: 0 when every instance asked has stepped down, or when there was
nothing to hand over (it says so); 1 with "error:" and "hint:" lines on stderr
otherwise: a timeout names the instance that did not step down;
"failed_precondition" when an instance to ask uses DB through another lock
domain (nothing was asked).)";

struct HandoverArgs {
  std::string db;
  double timeout_seconds = 10;
  bool all = false;
  bool json = false;
};

bool SameInstance(const InstanceInfo& a, const InstanceInfo& b) {
  return a.slot == b.slot && a.pid == b.pid && a.started_unix_ms == b.started_unix_ms &&
         a.boot_id == b.boot_id;
}

// Whom to ask, from a registry read with heartbeats observed.
struct Targets {
  std::vector<InstanceInfo> asked;    // Live here: the owner, or with --all everyone.
  std::vector<InstanceInfo> skipped;  // Wanted, but alive in another lock domain.
  std::size_t shared_live = 0;        // Live shared instances, wanted or not.
};

Targets ChooseTargets(const RegistryStatus& registry, bool all) {
  Targets t;
  for (const InstanceInfo& info : registry.instances) {
    const bool wanted = all || info.ownership == Ownership::kExclusive;
    if (IsLive(info) && info.ownership == Ownership::kShared) ++t.shared_live;
    if (!wanted || info.domain == InstanceDomain::kDead) continue;
    (info.domain == InstanceDomain::kThisDomain ? t.asked : t.skipped).push_back(info);
  }
  return t;
}

// Handing over the others would not free the database: refused before
// anyone is asked.
Status OtherDomainRefusal(const std::string& db, const std::vector<InstanceInfo>& skipped) {
  return Status(
      StatusCode::kFailedPrecondition,
      fmt::format("cannot hand over {}: {} uses it through another lock domain (another "
                  "mount, VM or container share, or host), so its lock is not visible from "
                  "here and its release cannot be waited for{}",
                  db, DescribeInstance(skipped.front()),
                  skipped.size() > 1 ? fmt::format(" ({} such instances)", skipped.size()) : ""),
      "run `sqlsteward handover` where that instance runs (same mount), or stop it; and use "
      "the database through one mount only");
}

std::string NothingToHandOver(const std::string& db, bool all, std::size_t shared_live) {
  if (all) return fmt::format("Nothing to hand over: no live instance has {} open.", db);
  std::string shared =
      shared_live == 0
          ? ""
          : fmt::format(" ({} shared instance{} open; --all asks {} to step down too)",
                        shared_live, shared_live == 1 ? " is" : "s are",
                        shared_live == 1 ? "it" : "them");
  return fmt::format("Nothing to hand over: no instance owns {} exclusively{}.", db, shared);
}

// Who is gone after RequestHandover returned `handed`: the registry read
// again (kNotFound cannot happen once the sidecar exists, but it would mean
// everyone is gone). Into report's stepped_down / still_running, and a line
// each unless `quiet` (--json).
void ReportWhoSteppedDown(const std::string& db, const std::vector<InstanceInfo>& asked,
                          const Status& handed, std::int64_t now_ms, bool quiet, json& report) {
  auto after = ReadRegistry(db);
  for (const InstanceInfo& target : asked) {
    bool running = false;
    if (after.has_value()) {
      for (const InstanceInfo& info : after->instances) {
        running = running || (IsLive(info) && SameInstance(info, target));
      }
    } else if (after.error().code() != StatusCode::kNotFound) {
      running = !handed.ok();  // Unknown; trust RequestHandover.
    }
    report[running ? "still_running" : "stepped_down"].push_back(InstanceToJson(target, now_ms));
    if (!quiet) {
      fmt::print("{} {}\n", running ? "Did not step down:" : "Stepped down:",
                 Printable(DescribeInstance(target)));
    }
  }
}

Result<int> Run(const HandoverArgs& args) {
  const std::string db = AbsolutePath(args.db);
  const std::chrono::milliseconds timeout = Millis(args.timeout_seconds);
  const std::int64_t now_ms = WallClockUnixMs();

  json report = {{"ok", true},
                 {"database", db},
                 {"all", args.all},
                 {"timeout_ms", timeout.count()},
                 {"nothing_to_hand_over", false},
                 {"message", ""},
                 {"requested", json::array()},
                 {"stepped_down", json::array()},
                 {"still_running", json::array()},
                 {"skipped", json::array()},
                 {"elapsed_ms", 0},
                 {"error", nullptr}};
  auto fail = [&](Status status) -> Result<int> {
    status = CliStatus(status, db);
    if (args.json) {
      report["ok"] = false;
      report["error"] = StatusToJson(status);
      PrintJson(report);
    }
    return status;
  };
  auto nothing = [&](std::string message) -> Result<int> {
    report["nothing_to_hand_over"] = true;
    report["message"] = message;
    if (args.json) {
      PrintJson(report);
    } else {
      fmt::print("{}\n", Printable(message));
    }
    return 0;
  };

  // Observed, so that a slot of another machine is known live or dead.
  auto before = ReadRegistry(db, /*observe_heartbeats=*/true);
  if (!before.has_value()) {
    if (before.error().code() == StatusCode::kNotFound) {
      return nothing(fmt::format("Nothing to hand over: no sqlsteward instance has opened {}.", db));
    }
    return fail(std::move(before).error());
  }
  const Targets targets = ChooseTargets(*before, args.all);
  for (const InstanceInfo& info : targets.asked) {
    report["requested"].push_back(InstanceToJson(info, now_ms));
  }
  for (const InstanceInfo& info : targets.skipped) {
    report["skipped"].push_back(InstanceToJson(info, now_ms));
  }
  if (!targets.skipped.empty()) return fail(OtherDomainRefusal(db, targets.skipped));
  if (targets.asked.empty()) return nothing(NothingToHandOver(db, args.all, targets.shared_live));

  if (!args.json) {
    fmt::print("Asking {} instance{} of {} to hand over (timeout {}):\n", targets.asked.size(),
               targets.asked.size() == 1 ? "" : "s", Printable(db),
               FormatSeconds(args.timeout_seconds));
    for (const InstanceInfo& info : targets.asked) {
      fmt::print("  {}\n", Printable(DescribeInstance(info)));
    }
    std::fflush(stdout);
  }
  const auto start = std::chrono::steady_clock::now();
  Status handed = RequestHandover(db, timeout, args.all);
  const double elapsed = SecondsSince(start);
  report["elapsed_ms"] = std::llround(elapsed * 1000.0);
  ReportWhoSteppedDown(db, targets.asked, handed, now_ms, args.json, report);
  if (!handed.ok()) return fail(std::move(handed));
  MarkApplied();  // They stepped down: from here on exit 1 would be a lie.
  if (args.json) {
    PrintJson(report);
  } else {
    fmt::print("Handed over in {}.\n", FormatSeconds(elapsed));
  }
  return 0;
}

}  // namespace

Command RegisterHandover(CLI::App& app) {
  auto args = std::make_shared<HandoverArgs>();
  CLI::App* cmd = AddCommand(
      app, "handover", "Ask the owner of a database to step down, and wait until it has.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("DB", args->db, "The database file")->required();
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds to wait for every instance asked to step down")
      ->capture_default_str()
      ->check(SecondsFlag(ZeroSeconds::kRefused));
  cmd->add_flag("--all", args->all,
                "Ask every live instance (shared ones too), not only the exclusive owner");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {cmd, [args]() -> Result<int> { return Run(*args); }};
}

}  // namespace sqlsteward::cli
