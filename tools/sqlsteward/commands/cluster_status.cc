// sqlsteward cluster status ADDRESS: the members of a dqlite cluster, their
// roles and the leader, as the leader sees them (a follower's view of the
// configuration can lag). Without a leader, the view of the first node that
// answers, saying there is no leader.
//
// The applied Raft index is not shown: dqlite 1.11.1's wire protocol has no
// request that returns it.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "base/status_builders.h"
#include "cluster/client.h"
#include "common/cli.h"
#include "common/help.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kExamples = R"(Examples:
  sqlsteward cluster status 127.0.0.1:9001
  sqlsteward cluster status 10.0.0.1:9001,10.0.0.2:9001 --json | jq -r .leader.address
  sqlsteward cluster status dqlite://10.0.0.1:9001,10.0.0.2:9001/app.db

Exit status: 0 when a node answered (the report says whether there is a
leader); 1 with "error:" and "hint:" lines when no node answered.)";

struct StatusArgs {
  std::string address;
  double timeout_seconds = 5;
  bool json = false;
};

Result<std::vector<std::string>> Nodes(const std::string& address) {
  if (address.rfind("dqlite://", 0) == 0) {
    SQLSTEWARD_ASSIGN_OR_RETURN(cluster::Address parsed, cluster::ParseAddress(address));
    return parsed.nodes;
  }
  std::vector<std::string> nodes;
  std::size_t start = 0;
  while (start <= address.size()) {
    const std::size_t comma = address.find(',', start);
    std::string node = address.substr(start, comma - start);
    SQLSTEWARD_RETURN_IF_ERROR(cluster::CheckNodeAddress(node));
    nodes.push_back(std::move(node));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return nodes;
}

struct View {
  std::string asked;
  std::optional<cluster::NodeInfo> leader;
  std::vector<cluster::NodeInfo> members;
};

Result<View> Look(const std::vector<std::string>& nodes, std::chrono::milliseconds timeout) {
  View view;
  cluster::ClientOptions options;
  options.connect_timeout = std::min(timeout, std::chrono::milliseconds(1000));
  options.request_timeout = timeout;
  auto leader = cluster::Client::ConnectToLeader(
      nodes, std::chrono::steady_clock::now() + timeout, options);
  if (leader.has_value()) {
    view.asked = (*leader)->address();
    SQLSTEWARD_ASSIGN_OR_RETURN(view.leader, (*leader)->Leader());
    SQLSTEWARD_ASSIGN_OR_RETURN(view.members, (*leader)->Members());
    return view;
  }
  Status last = std::move(leader).error();
  for (const std::string& node : nodes) {
    auto client = cluster::Client::ConnectTo(node, options);
    if (!client.has_value()) continue;
    auto members = (*client)->Members();
    if (!members.has_value()) continue;
    view.asked = node;
    view.members = std::move(*members);
    return view;
  }
  return last;
}

Result<int> RunStatus(const StatusArgs& args) {
  auto fail = [&](Status s) { return FailWithJson(args.json, {{"address", args.address}}, s); };
  auto nodes = Nodes(args.address);
  if (!nodes.has_value()) return fail(std::move(nodes).error());
  const auto timeout =
      std::chrono::milliseconds(static_cast<long long>(args.timeout_seconds * 1000));
  auto view = Look(*nodes, timeout);
  if (!view.has_value()) return fail(std::move(view).error());
  const auto is_leader = [&](const cluster::NodeInfo& n) {
    return view->leader.has_value() && view->leader->id == n.id;
  };
  if (args.json) {
    nlohmann::json members = nlohmann::json::array();
    for (const auto& m : view->members) {
      members.push_back({{"id", m.id},
                         {"address", m.address},
                         {"role", cluster::RoleName(m.role)},
                         {"leader", is_leader(m)}});
    }
    nlohmann::json leader = nullptr;
    if (view->leader) leader = {{"id", view->leader->id}, {"address", view->leader->address}};
    PrintJson({{"ok", true},
               {"asked", view->asked},
               {"leader", leader},
               {"members", members},
               {"applied_index", nullptr}});
    return 0;
  }
  if (view->leader) {
    fmt::print("leader   {} (id {})\n", view->leader->address, view->leader->id);
  } else {
    fmt::print("leader   none (asked {}: an election is in progress, or a majority of the "
               "voters is down)\n", view->asked);
  }
  fmt::print("members  {}\n", view->members.size());
  for (const auto& m : view->members) {
    fmt::print("  {:>4}  {:<24} {}{}\n", m.id, m.address, cluster::RoleName(m.role),
               is_leader(m) ? "  leader" : "");
  }
  fmt::print("applied index: not exposed by dqlite 1.11.1's wire protocol\n");
  return 0;
}

}  // namespace

Command RegisterCluster(CLI::App& app) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* cmd = AddCommand(app, "cluster", "Inspect a dqlite cluster (cluster status).");
  cmd->require_subcommand(1);
  CLI::App* status = cmd->add_subcommand(
      "status", "Show the members of a dqlite cluster, their roles and the leader.");
  status->footer(kExamples);
  status->add_option("ADDRESS", args->address,
                     "HOST:PORT[,HOST:PORT...] of members, or a dqlite:// address")
      ->required();
  status->add_option("--timeout", args->timeout_seconds,
                     "Seconds to wait for the nodes and a leader (default 5)");
  status->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {cmd, [args]() -> Result<int> { return RunStatus(*args); }};
}

}  // namespace sqlsteward::cli
