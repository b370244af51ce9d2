// An embedded dqlite node: libdqlite's node running in this process,
// serving clients and replicating over TCP.
//
// Lifecycle. Start() creates the data directory (0700), creates the node
// with its id, address and data directory, sets the network latency (the
// Raft heartbeat and election timeouts scale with it: 20 ms gives
// failovers of about half a second on a LAN), binds the address and starts
// it. Node 1 with an empty data directory bootstraps a new one-node cluster
// (dqlite does this for id 1). Any other node joins through `join`: it
// asks the cluster's leader to ADD it and then ASSIGN it the voter role.
// Joining is idempotent: a node already in the configuration (a restart
// with the same id and data directory) just starts and catches up, and is
// promoted to voter if it is not one yet.
//
// Stop() hands leadership to another voter when this node leads (TRANSFER;
// dqlite 1.11.1 has no handover call) so the cluster does not wait for an
// election timeout, then stops the node. The destructor stops without the
// handover.
//
// There is no authentication or TLS in libdqlite: bind to loopback or a
// private network only.
//
// SIGPIPE must be ignored in a process embedding a node (Start() does it):
// a write to a peer that died would otherwise kill the process.
//
// Thread safety: Start/Stop from one thread; libdqlite runs the node on a
// thread of its own.
#ifndef SQLSTEWARD_CLUSTER_NODE_H_
#define SQLSTEWARD_CLUSTER_NODE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/client.h"
#include "sqlsteward/status.h"

namespace sqlsteward::cluster {

struct NodeOptions {
  std::uint64_t id = 0;             // >= 1; node 1 bootstraps
  std::string address;              // HOST:PORT to bind and to advertise
  std::string data_dir;             // Raft log and snapshots
  std::vector<std::string> join;    // HOST:PORT of existing members (not for a bootstrap)
  unsigned latency_ms = 20;         // average one-way network latency
  // How long joining may wait for a leader and for the promotion.
  std::chrono::milliseconds join_timeout{30000};
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Start(const NodeOptions& options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const NodeOptions& options() const { return options_; }
  // Whether this node joined a cluster or bootstrapped one at this start
  // (false for a restart of an existing member).
  bool joined_now() const { return joined_now_; }

  // Hands leadership over if this node leads, then stops. Idempotent.
  Status Stop(std::chrono::milliseconds handover_timeout = std::chrono::milliseconds(3000));

 private:
  struct Handle;
  Node(NodeOptions options, std::unique_ptr<Handle> handle);
  Status Join();
  Status HandOver(std::chrono::milliseconds timeout);
  NodeOptions options_;
  std::unique_ptr<Handle> handle_;
  bool joined_now_ = false;
};

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_NODE_H_
