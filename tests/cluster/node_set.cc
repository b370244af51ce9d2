#include "cluster/node_set.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster/client.h"

namespace sqlsteward::testing {
namespace {

// A loopback port nothing listens on now (the kernel's pick for port 0).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof sa;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

NodeSet::NodeSet(int n) {
  for (int i = 0; i < n; ++i) {
    addresses_.push_back("127.0.0.1:" + std::to_string(FreePort()));
  }
  nodes_.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n && ok_; ++i) ok_ = StartNode(i);
}

NodeSet::~NodeSet() {
  // A stopped node would never read its stdin's EOF.
  for (auto& node : nodes_) {
    if (node != nullptr) node->Kill(SIGCONT);
  }
  nodes_.clear();  // SIGKILL and reap.
}

bool NodeSet::StartNode(int i) {
  const std::string data = dir_.File("node" + std::to_string(i + 1));
  std::filesystem::create_directories(data);
  std::vector<std::string> args = {"node", std::to_string(i + 1), address(i), data};
  if (i > 0) args.push_back(address(0));
  auto& node = nodes_[static_cast<std::size_t>(i)];
  node = std::make_unique<Child>(SQLSTEWARD_CLUSTER_HELPER, args);
  std::string line = node->ReadLine(std::chrono::seconds(60));
  EXPECT_EQ(line, "ready") << "node " << i + 1 << " at " << address(i);
  return line == "ready";
}

std::string NodeSet::Uri(const std::string& name, int first) const {
  std::string uri = "dqlite://";
  for (int k = 0; k < size(); ++k) {
    if (k > 0) uri += ",";
    uri += address((first + k) % size());
  }
  return uri + "/" + name;
}

pid_t NodeSet::pid(int i) const { return nodes_[static_cast<std::size_t>(i)]->pid(); }

int NodeSet::Leader(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto client = cluster::Client::ConnectToLeader(addresses_, deadline);
    if (client.has_value()) {
      for (int i = 0; i < size(); ++i) {
        if ((*client)->address() == address(i)) return i;
      }
    }
  }
  return -1;
}

void NodeSet::Kill(int i) {
  auto& node = nodes_[static_cast<std::size_t>(i)];
  node->Kill(SIGKILL);
  node->Wait();
}

namespace {

// Every thread of `pid` is in the stopped state ('T' in /proc/PID/task/*/stat).
bool AllThreadsStopped(pid_t pid) {
  std::error_code ec;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // "tid (comm) S ...": the state follows the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) return false;
    const char state = line[close + 2];
    if (state != 'T' && state != 't') return false;
  }
  return !ec;
}

}  // namespace

// Returns once the kernel has stopped every thread: a signal sent is not
// yet a node that no longer reads its sockets.
void NodeSet::Stop(int i) {
  auto& node = nodes_[static_cast<std::size_t>(i)];
  node->Kill(SIGSTOP);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!AllThreadsStopped(node->pid())) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "node " << i + 1 << " did not stop within 10 s";
      return;
    }
    std::this_thread::yield();
  }
}
void NodeSet::Continue(int i) { nodes_[static_cast<std::size_t>(i)]->Kill(SIGCONT); }

bool NodeSet::Restart(int i) { return StartNode(i); }

}  // namespace sqlsteward::testing
