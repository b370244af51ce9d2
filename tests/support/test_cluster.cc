#include "support/test_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>
#include <utility>

namespace sqlsteward::testing {
namespace {

using Clock = std::chrono::steady_clock;

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind to 127.0.0.1:0 failed");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace

struct TestCluster::Proc {
  std::unique_ptr<subprocess::ChildProcess> child;
  std::string output;
};

TestCluster::TestCluster(std::string cli, int size, unsigned latency_ms)
    : cli_(std::move(cli)), latency_ms_(latency_ms) {
  cluster::IgnoreSigpipe();
  for (int i = 0; i < size; ++i) {
    addresses_.push_back("127.0.0.1:" + std::to_string(FreeLoopbackPort()));
    procs_.push_back(std::make_unique<Proc>());
  }
}

TestCluster::~TestCluster() {
  for (auto& p : procs_) {
    if (p->child) {
      p->child->Kill();
      p->child->Wait();
    }
  }
}

std::string TestCluster::data_dir(int id) const { return dir_.File("node" + std::to_string(id)); }

bool TestCluster::running(int id) const {
  const auto& p = procs_.at(static_cast<std::size_t>(id - 1));
  return p->child != nullptr && !p->child->reaped();
}

std::vector<std::string> TestCluster::running_addresses() const {
  std::vector<std::string> out;
  for (int id = 1; id <= size(); ++id) {
    if (running(id)) out.push_back(address(id));
  }
  return out;
}

std::string TestCluster::Output(int id) {
  auto& p = *procs_.at(static_cast<std::size_t>(id - 1));
  if (p.child) {
    while (auto line = p.child->TakeBufferedLine()) p.output += *line + "\n";
  }
  return p.output;
}

Status TestCluster::StartNode(int id, std::chrono::seconds timeout) {
  auto& p = *procs_.at(static_cast<std::size_t>(id - 1));
  if (p.child && !p.child->reaped()) {
    p.child->Kill();
    p.child->Wait();
  }
  std::vector<std::string> args = {"-c", "exec \"$0\" \"$@\" 2>&1", cli_, "node",
                                   "--id", std::to_string(id), "--address", address(id),
                                   "--data", data_dir(id), "--latency-ms",
                                   std::to_string(latency_ms_)};
  if (id != 1) {
    std::string join;
    for (int other = 1; other <= size(); ++other) {
      if (other == id || !running(other)) continue;
      if (!join.empty()) join += ",";
      join += address(other);
    }
    if (!join.empty()) {
      args.push_back("--join");
      args.push_back(join);
    }
  }
  p.child = std::make_unique<subprocess::ChildProcess>();
  subprocess::SpawnOptions options;
  options.in = subprocess::Stream::kNull;
  if (const int err = p.child->Start("/bin/sh", args, options); err != 0) {
    p.child.reset();
    return Status(StatusCode::kInternal, "cannot start node " + std::to_string(id),
                  "errno " + std::to_string(err));
  }
  const auto deadline = Clock::now() + timeout;
  std::string line;
  for (;;) {
    const auto got = p.child->ReadLine(deadline, &line);
    if (got == subprocess::ChildProcess::ReadStatus::kLine) {
      p.output += line + "\n";
      if (line.rfind("ready ", 0) == 0) return Status();
      continue;
    }
    const std::string why =
        got == subprocess::ChildProcess::ReadStatus::kEof ? "exited" : "did not get ready in time";
    p.child->Kill();
    p.child->Wait();
    return Status(StatusCode::kUnavailable, "node " + std::to_string(id) + " " + why,
                  "its output:\n" + p.output);
  }
}

Status TestCluster::Start(std::chrono::seconds timeout) {
  for (int id = 1; id <= size(); ++id) {
    Status s = StartNode(id, timeout);
    if (!s.ok()) return s;
  }
  return Status();
}

void TestCluster::Kill(int id) {
  auto& p = *procs_.at(static_cast<std::size_t>(id - 1));
  if (!p.child) return;
  Output(id);
  p.child->Kill();
  p.child->Wait();
}

void TestCluster::Pause(int id) {
  auto& p = *procs_.at(static_cast<std::size_t>(id - 1));
  if (p.child) p.child->Signal(SIGSTOP);
}

void TestCluster::Resume(int id) {
  auto& p = *procs_.at(static_cast<std::size_t>(id - 1));
  if (p.child) p.child->Signal(SIGCONT);
}

int TestCluster::Terminate(int id, std::chrono::seconds timeout) {
  auto& p = *procs_.at(static_cast<std::size_t>(id - 1));
  if (!p.child) return -1;
  p.child->Signal(SIGTERM);
  // Drain its output while waiting, so it never blocks on a full pipe.
  const auto deadline = Clock::now() + timeout;
  std::string line;
  while (p.child->ReadLine(deadline, &line) == subprocess::ChildProcess::ReadStatus::kLine) {
    p.output += line + "\n";
  }
  auto status = p.child->WaitUntil(deadline);
  if (!status.has_value()) {
    p.child->Kill();
    p.child->Wait();
    return -1;
  }
  return status->ShellCode();
}

Result<std::unique_ptr<cluster::Client>> TestCluster::Leader(std::chrono::milliseconds timeout) {
  cluster::ClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(500);
  options.request_timeout = std::chrono::milliseconds(2000);
  return cluster::Client::ConnectToLeader(running_addresses(), Clock::now() + timeout, options);
}

int TestCluster::LeaderId(std::chrono::milliseconds timeout) {
  auto client = Leader(timeout);
  if (!client.has_value()) return 0;
  auto leader = (*client)->Leader();
  if (!leader.has_value() || !leader->has_value()) return 0;
  for (int id = 1; id <= size(); ++id) {
    if (address(id) == (*leader)->address) return id;
  }
  return 0;
}

}  // namespace sqlsteward::testing
