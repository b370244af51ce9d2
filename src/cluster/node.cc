#include "cluster/node.h"

#include <dirent.h>
// dqlite.h declares its C functions without extern "C".
extern "C" {
#include <dqlite.h>
}

#include <string>
#include <thread>
#include <utility>

#include "base/status_builders.h"
#include "posix/env.h"
#include "posix/fs.h"

namespace sqlsteward::cluster {
namespace {

// Whether `dir` holds any entry besides . and ..
bool IsEmptyDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return true;
  bool empty = true;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

Status NodeError(dqlite_node* node, int rc, std::string_view what) {
  std::string message = "dqlite " + std::string(what) + " failed (" + std::to_string(rc) + ")";
  if (node != nullptr) {
    const char* detail = dqlite_node_errmsg(node);
    if (detail != nullptr && *detail != '\0') message += ": " + std::string(detail);
  }
  return Unavailable(std::move(message),
                     "check that the address can be bound (not in use, a local interface) and "
                     "that the data directory is writable and belongs to this node id");
}

}  // namespace

struct Node::Handle {
  dqlite_node* node = nullptr;
  bool started = false;
  ~Handle() {
    if (node == nullptr) return;
    if (started) dqlite_node_stop(node);
    dqlite_node_destroy(node);
  }
};

Node::Node(NodeOptions options, std::unique_ptr<Handle> handle)
    : options_(std::move(options)), handle_(std::move(handle)) {}

Node::~Node() = default;

Result<std::unique_ptr<Node>> Node::Start(const NodeOptions& options) {
  IgnoreSigpipe();
  if (options.id == 0) {
    return InvalidArgument("node id 0 is not valid", "node ids start at 1; node 1 bootstraps");
  }
  SQLSTEWARD_RETURN_IF_ERROR(CheckNodeAddress(options.address));
  for (const std::string& j : options.join) SQLSTEWARD_RETURN_IF_ERROR(CheckNodeAddress(j));
  if (options.data_dir.empty()) {
    return InvalidArgument("no data directory for the node",
                           "give the directory that keeps this node's Raft log (--data DIR)");
  }
  SQLSTEWARD_RETURN_IF_ERROR(posix::MakeDirectories(
      posix::Env::Default(), options.data_dir, "the data directory must be a directory"));
  const bool fresh = IsEmptyDirectory(options.data_dir);
  if (fresh && options.id == 1 && !options.join.empty()) {
    return InvalidArgument(
        "node 1 with an empty data directory bootstraps a new cluster; it cannot join one",
        "give a joining node an id other than 1, or drop --join to bootstrap");
  }
  if (fresh && options.id != 1 && options.join.empty()) {
    return InvalidArgument(
        "node " + std::to_string(options.id) + " is new and has no cluster to join",
        "give --join HOST:PORT of a running member, or start node 1 to bootstrap a cluster");
  }

  auto handle = std::make_unique<Handle>();
  int rc = dqlite_node_create(options.id, options.address.c_str(), options.data_dir.c_str(),
                              &handle->node);
  if (rc != 0) return NodeError(handle->node, rc, "node create");
  rc = dqlite_node_set_bind_address(handle->node, options.address.c_str());
  if (rc != 0) return NodeError(handle->node, rc, "bind address " + options.address);
  rc = dqlite_node_set_network_latency_ms(handle->node, options.latency_ms);
  if (rc != 0) return NodeError(handle->node, rc, "set network latency");
  rc = dqlite_node_start(handle->node);
  if (rc != 0) return NodeError(handle->node, rc, "node start");
  handle->started = true;

  std::unique_ptr<Node> node(new Node(options, std::move(handle)));
  if (!options.join.empty()) SQLSTEWARD_RETURN_IF_ERROR(node->Join());
  if (fresh && options.id == 1) node->joined_now_ = true;
  return node;
}

Status Node::Join() {
  const auto deadline = std::chrono::steady_clock::now() + options_.join_timeout;
  ClientOptions copts;
  copts.request_timeout = options_.join_timeout;
  Status last;
  // A membership change can fail while leadership moves; retry until the
  // deadline.
  for (;;) {
    auto leader = Client::ConnectToLeader(options_.join, deadline, copts);
    if (!leader.has_value()) return std::move(leader).error().WithContext("joining the cluster");
    auto members = (*leader)->Members();
    if (members.has_value()) {
      const NodeInfo* me = nullptr;
      for (const NodeInfo& m : *members) {
        if (m.id == options_.id) me = &m;
      }
      if (me != nullptr && me->address != options_.address) {
        return FailedPrecondition(
            "node " + std::to_string(options_.id) + " is a member at " + me->address + ", not " +
                options_.address,
            "restart it with its recorded address, or remove it from the cluster "
            "(its data directory belongs to that membership) and join afresh");
      }
      Status step;
      if (me == nullptr) {
        step = (*leader)->Add(options_.id, options_.address);
        if (step.ok()) joined_now_ = true;
      }
      if (step.ok() && (me == nullptr || me->role != Role::kVoter)) {
        step = (*leader)->Assign(options_.id, Role::kVoter);
      }
      if (step.ok()) return Status();
      last = std::move(step);
    } else {
      last = std::move(members).error();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return last.WithContext("joining the cluster");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // leadership moving
  }
}

Status Node::HandOver(std::chrono::milliseconds timeout) {
  ClientOptions copts;
  copts.connect_timeout = timeout;
  copts.request_timeout = timeout;
  SQLSTEWARD_ASSIGN_OR_RETURN(auto self, Client::ConnectTo(options_.address, copts));
  SQLSTEWARD_ASSIGN_OR_RETURN(auto leader, self->Leader());
  if (!leader.has_value() || leader->id != options_.id) return Status();  // not leading
  SQLSTEWARD_ASSIGN_OR_RETURN(auto members, self->Members());
  bool other_voter = false;
  Status last;
  for (const NodeInfo& m : members) {
    if (m.id == options_.id || m.role != Role::kVoter) continue;
    other_voter = true;
    last = self->Transfer(m.id);
    if (last.ok()) return last;
  }
  if (!other_voter) return Status();  // a one-voter cluster: nobody to hand over to
  return Unavailable("no other voter took over the leadership (" + std::string(last.message()) +
                         ")",
                     "the cluster elects a new leader after the election timeout");
}

Status Node::Stop(std::chrono::milliseconds handover_timeout) {
  if (handle_ == nullptr) return Status();
  Status handed = HandOver(handover_timeout);
  handle_.reset();
  return handed;
}

}  // namespace sqlsteward::cluster
