// sqlsteward node: runs one dqlite node in the foreground until SIGTERM or
// SIGINT (systemd, a container runtime or a terminal), logging to stderr.
//
// The node is the library's (src/cluster/node.h): node 1 with an empty data
// directory bootstraps a cluster, every other node joins through --join
// (ADD, then ASSIGN voter, through the leader) and a restart with the same
// id and data directory just starts and catches up. On SIGTERM/SIGINT the
// node hands its leadership to another voter if it leads (so writers wait
// for a transfer, not an election timeout), stops, and exits 0.
//
// SIGTERM and SIGINT are blocked before libdqlite starts its threads, so
// they inherit the mask and the main thread takes the signal with sigwait:
// no work happens in a signal handler.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include "base/status_builders.h"
#include "cluster/node.h"
#include "common/cli.h"
#include "common/help.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kAbout =
    "Run one node of a dqlite cluster (Raft-replicated SQLite) in the foreground,\n"
    "logging to stderr. Node 1 with an empty --data directory bootstraps a new\n"
    "cluster; other nodes join it with --join (added, then made voters). A\n"
    "restarted node (same --id and --data) rejoins and catches up. SIGTERM or\n"
    "SIGINT hands leadership to another voter, stops the node and exits 0.\n"
    "There is no authentication or TLS: bind to loopback or a private network.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward node --id 1 --address 10.0.0.1:9001 --data /var/lib/app/node1
  sqlsteward node --id 2 --address 10.0.0.2:9001 --data /var/lib/app/node2 --join 10.0.0.1:9001
  sqlsteward node --id 3 --address 10.0.0.3:9001 --data /var/lib/app/node3 \
      --join 10.0.0.1:9001,10.0.0.2:9001

Once the node serves, it prints "ready id=N address=HOST:PORT" on stderr.
Exit status: 0 after a clean stop on SIGTERM/SIGINT; 1 with "error:" and
"hint:" lines when the node cannot start or join.)";

struct NodeArgs {
  std::uint64_t id = 0;
  std::string address;
  std::string data;
  std::vector<std::string> join;
  unsigned latency_ms = 20;
};

void Log(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

Result<int> RunNode(const NodeArgs& args) {
  if (args.id == 0) {
    return InvalidArgument("no node id", "give --id N (1 bootstraps a cluster, others join)");
  }
  if (args.address.empty()) {
    return InvalidArgument("no node address",
                           "give --address HOST:PORT, the address the node binds and that "
                           "clients and the other nodes use");
  }
  if (args.data.empty()) {
    return InvalidArgument("no data directory",
                           "give --data DIR, where the node keeps its Raft log and snapshots "
                           "(created 0700; reuse it on restart)");
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  cluster::NodeOptions options;
  options.id = args.id;
  options.address = args.address;
  options.data_dir = AbsolutePath(args.data);
  options.join = args.join;
  options.latency_ms = args.latency_ms;
  Log(fmt::format("sqlsteward node {}: starting at {}, data {}, network latency {} ms{}", args.id,
                  args.address, options.data_dir, args.latency_ms,
                  args.join.empty() ? "" : ", joining through " + fmt::format("{}", fmt::join(args.join, ","))));
  SQLSTEWARD_ASSIGN_OR_RETURN(auto node, cluster::Node::Start(options));
  if (node->joined_now()) {
    Log(fmt::format("sqlsteward node {}: {}", args.id,
                    args.join.empty() ? "bootstrapped a new cluster" : "joined the cluster as a voter"));
  }
  Log(fmt::format("ready id={} address={}", args.id, args.address));

  int signal = 0;
  while (sigwait(&stop_signals, &signal) != 0) {
  }
  Log(fmt::format("sqlsteward node {}: {} received, handing leadership over and stopping", args.id,
                  signal == SIGTERM ? "SIGTERM" : "SIGINT"));
  Status stopped = node->Stop();
  if (!stopped.ok()) {
    Log(fmt::format("sqlsteward node {}: warning: {}", args.id, stopped.ToString()));
  }
  Log(fmt::format("sqlsteward node {}: stopped", args.id));
  return 0;
}

}  // namespace

Command RegisterNode(CLI::App& app) {
  auto args = std::make_shared<NodeArgs>();
  CLI::App* cmd = AddCommand(app, "node", "Run one dqlite cluster node in the foreground.", kAbout);
  cmd->footer(kExamples);
  cmd->add_option("--id", args->id, "Node id: 1 bootstraps a new cluster, others join");
  cmd->add_option("--address", args->address, "HOST:PORT to bind and advertise");
  cmd->add_option("--data", args->data, "Data directory (Raft log, snapshots), created 0700");
  cmd->add_option("--join", args->join, "HOST:PORT of running members, comma-separated")
      ->delimiter(',');
  cmd->add_option("--latency-ms", args->latency_ms,
                  "Average one-way network latency in ms; Raft timeouts scale with it "
                  "(20: failover in about half a second)")
      ->check(CLI::Range(1u, 10000u));
  return {cmd, [args]() -> Result<int> { return RunNode(*args); }};
}

}  // namespace sqlsteward::cli
