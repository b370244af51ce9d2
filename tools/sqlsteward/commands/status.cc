// sqlsteward status DB: who has the database open, who owns it and who holds
// the write lock, read from the sidecar `<db>-steward` (docs/formats.md)
// through ReadRegistry (sqlsteward/instances.h). Status never registers an
// instance, never writes, and never opens the database itself.
//
// Why an operator needs it: a deploy that overlaps two versions, a process
// that hangs in a job, or a container that reaches the file through another
// mount all look the same from the application ("unavailable", "timeout",
// "another lock domain"). Status says which it is, and what to do.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "base/time.h"
#include "cluster/client.h"
#include "common/cli.h"
#include "common/help.h"
#include "common/instance_output.h"
#include "sidecar/format.h"
#include "sqlsteward/instances.h"

namespace sqlsteward::cli {
namespace {

using nlohmann::json;

constexpr const char* kAbout =
    "Show the sqlsteward instances that have DB open (process, host, ownership,\n"
    "heartbeat, lock domain), the exclusive owner and the holder of the\n"
    "cross-process write lock. Reads the sidecar DB-steward only: nothing is\n"
    "registered, written or opened.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward status app.db
  sqlsteward status app.db --json | jq '.owner.pid'
  sqlsteward status /shared/app.db --observe   # tell live remote instances from dead ones

Exit status: 0 when the registry could be read (also when no instance has
ever opened DB: "instances": []); 1 with "error:" and "hint:" lines on
stderr otherwise (e.g. a malformed sidecar).)";

struct StatusArgs {
  std::string db;
  bool json = false;
  bool observe = false;
};

struct Notice {
  std::string id;
  std::string severity;  // "warning" or "info"
  int slot = -1;         // -1: not about one instance
  std::string message;
  std::string hint;
};

std::vector<Notice> Notices(const RegistryStatus& reg, const std::string& db,
                            std::int64_t now_ms) {
  std::vector<Notice> out;
  for (const InstanceInfo& info : reg.instances) {
    switch (info.domain) {
      case InstanceDomain::kOtherDomain:
        out.push_back(
            {"instance.other_domain", "warning", info.slot,
             fmt::format("{} uses {} through another lock domain: it is alive but its lock is "
                         "not visible from here (another mount, VM or container share, or "
                         "host). Locks do not propagate between the two, so two writers could "
                         "both proceed: sharing the file this way corrupts it or loses "
                         "writes. sqlsteward refuses to open the database here while it runs.",
                         DescribeInstance(info), db),
             "use the database through one mount only: run every process on the same side of "
             "the bind mount, VM share or network filesystem, or stop that instance"});
        break;
      case InstanceDomain::kUnknown:
        out.push_back(
            {"instance.unknown", "info", info.slot,
             fmt::format("{} is on another machine; whether it is alive cannot be told from "
                         "its lock",
                         DescribeInstance(info)),
             fmt::format("run `sqlsteward status {} --observe` to watch its heartbeat", db)});
        break;
      case InstanceDomain::kDead:
        out.push_back({"instance.dead", "info", info.slot,
                       fmt::format("slot {} was left by pid {}, which is gone (crash or kill "
                                   "-9); nothing holds it",
                                   info.slot, info.pid),
                       "nothing to do: the next instance to open the database reclaims it"});
        break;
      case InstanceDomain::kThisDomain:
        break;
    }
    if (IsLive(info) && info.state == InstanceState::kSteppingDown) {
      out.push_back({"instance.stepping_down", "info", info.slot,
                     fmt::format("{} is handing the database over to a successor",
                                 DescribeInstance(info)),
                     ""});
    }
  }
  const WriteLockStatus& lock = reg.write_lock;
  if (lock.held && lock.since_unix_ms > 0 && now_ms - lock.since_unix_ms > kStuckWriteLockMs) {
    out.push_back({"write_lock.stuck", "warning", -1,
                   fmt::format("pid {} on {} has held the write lock for {}: every writer of "
                               "every process waits for it",
                               lock.pid, lock.host,
                               FormatSeconds(static_cast<double>(now_ms - lock.since_unix_ms) /
                                             1000.0)),
                   "a job is stuck or very long; find it in that process (or stop it)"});
  }
  return out;
}

json WriteLockToJson(const WriteLockStatus& lock, std::int64_t now_ms) {
  json out = {{"held", lock.held}, {"pid", nullptr},  {"host", nullptr},   {"since_unix_ms", nullptr},
              {"since", nullptr},  {"held_ms", nullptr}, {"purpose", nullptr}};
  // A holder that has just taken the lock may not have written its record yet.
  if (lock.held && lock.pid != 0) {
    out["pid"] = lock.pid;
    out["host"] = lock.host;
    out["since_unix_ms"] = lock.since_unix_ms;
    out["since"] = IsoUtc(lock.since_unix_ms);
    out["held_ms"] = now_ms - lock.since_unix_ms;
    out["purpose"] = lock.purpose;
  }
  return out;
}

std::string DescribeWriteLock(const WriteLockStatus& lock, std::int64_t now_ms) {
  if (!lock.held) return "free";
  if (lock.pid == 0) return "held (the holder has not recorded itself yet)";
  std::string text =
      fmt::format("held by pid {} on {} since {} ({})", lock.pid, lock.host,
                  IsoUtc(lock.since_unix_ms),
                  FormatSeconds(static_cast<double>(now_ms - lock.since_unix_ms) / 1000.0));
  if (!lock.purpose.empty()) text += fmt::format(", for {}", lock.purpose);
  return text;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += " " + row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 1, ' ');
    }
    fmt::print("{}\n", line);
  }
}

// A cluster has no registry: its members and their roles, and the leader.
Result<int> RunCluster(const StatusArgs& args) {
  auto fail = [&](Status status) {
    return FailWithJson(args.json, {{"database", args.db}}, std::move(status));
  };
  auto address = cluster::ParseAddress(args.db);
  if (!address.has_value()) return fail(std::move(address).error());
  auto client = cluster::Client::ConnectToLeader(
      address->nodes, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  if (!client.has_value()) return fail(std::move(client).error());
  auto members = (*client)->Members();
  if (!members.has_value()) return fail(std::move(members).error());
  const std::string leader = (*client)->address();
  if (args.json) {
    json nodes = json::array();
    for (const cluster::NodeInfo& n : *members) {
      nodes.push_back({{"id", n.id},
                       {"address", n.address},
                       {"role", std::string(cluster::RoleName(n.role))},
                       {"leader", n.address == leader}});
    }
    PrintJson({{"ok", true},
               {"database", args.db},
               {"cluster", true},
               {"leader", leader},
               {"members", nodes}});
    return 0;
  }
  fmt::print("{}: a dqlite cluster of {} member{}, leader {}\n\n", Printable(args.db),
             members->size(), members->size() == 1 ? "" : "s", Printable(leader));
  std::vector<std::vector<std::string>> rows = {{"ID", "ADDRESS", "ROLE", "LEADER"}};
  for (const cluster::NodeInfo& n : *members) {
    rows.push_back({std::to_string(n.id), Printable(n.address),
                    std::string(cluster::RoleName(n.role)), n.address == leader ? "yes" : ""});
  }
  PrintTable(rows);
  return 0;
}

Result<int> Run(const StatusArgs& args) {
  if (IsClusterAddress(args.db)) return RunCluster(args);
  const std::string db = AbsolutePath(args.db);
  auto fail = [&](Status status) {
    return FailWithJson(args.json, {{"database", db}}, std::move(status));
  };

  auto read = ReadRegistry(db, args.observe);
  const std::int64_t now_ms = WallClockUnixMs();
  if (!read.has_value() && read.error().code() != StatusCode::kNotFound) {
    return fail(std::move(read).error());
  }
  const bool opened = read.has_value();
  RegistryStatus reg;
  if (opened) {
    reg = std::move(read).value();
  } else {
    reg.sidecar_path = internal::SidecarPath(db);
  }
  std::error_code ec;
  const bool db_exists = std::filesystem::exists(db, ec);
  std::size_t live = 0;
  for (const InstanceInfo& info : reg.instances) live += IsLive(info) ? 1U : 0U;
  std::vector<Notice> notices = Notices(reg, db, now_ms);

  if (args.json) {
    json instances = json::array();
    for (const InstanceInfo& info : reg.instances) instances.push_back(InstanceToJson(info, now_ms));
    json notes = json::array();
    for (const Notice& n : notices) {
      notes.push_back({{"id", n.id},
                       {"severity", n.severity},
                       {"slot", n.slot >= 0 ? json(n.slot) : json(nullptr)},
                       {"message", n.message},
                       {"hint", n.hint}});
    }
    PrintJson({{"ok", true},
               {"database", db},
               {"database_exists", db_exists},
               {"sidecar", reg.sidecar_path},
               {"opened", opened},
               {"observed", args.observe},
               {"now_unix_ms", now_ms},
               {"live_instances", live},
               {"instances", instances},
               {"owner", reg.owner ? InstanceToJson(*reg.owner, now_ms) : json(nullptr)},
               {"write_lock", WriteLockToJson(reg.write_lock, now_ms)},
               {"notices", notes}});
    return 0;
  }

  if (!opened) {
    fmt::print("{}: no sqlsteward instance has opened this database (there is no {}){}\n",
               Printable(db), Printable(reg.sidecar_path), db_exists ? "" : "; the database file does not exist either");
    return 0;
  }
  std::string owner_text =
      reg.owner ? fmt::format("owned exclusively by pid {}", reg.owner->pid) : "no owner";
  fmt::print("{}: {} live instance{}, {}, write lock {}\n", Printable(db), live, live == 1 ? "" : "s",
             owner_text, reg.write_lock.held ? "held" : "free");
  if (!reg.instances.empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"SLOT", "PID", "HOST", "OWNERSHIP", "STATE", "STARTED", "HEARTBEAT", "DOMAIN"}};
    for (const InstanceInfo& info : reg.instances) {
      rows.push_back({std::to_string(info.slot), std::to_string(info.pid), Printable(info.host),
                      std::string(OwnershipName(info.ownership)), std::string(StateName(info.state)),
                      IsoUtc(info.started_unix_ms),
                      FormatSeconds(static_cast<double>(now_ms - info.heartbeat_unix_ms) / 1000.0) +
                          " ago",
                      std::string(InstanceDomainName(info.domain))});
    }
    fmt::print("\n");
    PrintTable(rows);
    fmt::print("\n");
  }
  fmt::print("Owner:      {}\n",
             reg.owner ? Printable(DescribeInstance(*reg.owner)) : "none (any number of shared instances "
                                                        "may use it)");
  fmt::print("Write lock: {}\n", Printable(DescribeWriteLock(reg.write_lock, now_ms)));
  for (const Notice& n : notices) {
    fmt::print("\n{}: {}\n", n.severity == "warning" ? "WARNING" : "note", Printable(n.message));
    if (!n.hint.empty()) fmt::print("  hint: {}\n", Printable(n.hint));
  }
  return 0;
}

}  // namespace

Command RegisterStatus(CLI::App& app) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* cmd = AddCommand(
      app, "status", "Show who has a database open, who owns it and who holds the write lock.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("DB", args->db,
                  "The database file, or a cluster address dqlite://HOST:PORT[,...]/NAME")
      ->required();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->add_flag("--observe", args->observe,
                "Watch heartbeats for two intervals (about 0.1 s) so that instances on other "
                "machines show as live (other) or dead instead of unknown");
  return {cmd, [args]() -> Result<int> { return Run(*args); }};
}

}  // namespace sqlsteward::cli
