// A dqlite cluster of real `sqlsteward node` processes on loopback, for
// tests: starts N nodes on free ports (node 1 bootstraps, the others join
// one after the other), waits for each one's "ready" line, and can kill -9,
// SIGSTOP, SIGCONT, SIGTERM and restart any of them. Data directories live
// in a TempDir removed at destruction; every node still running is killed
// then.
//
// Ports: each is found by binding 127.0.0.1:0 and reading the port back,
// then released for the node to bind. Another process could take it in
// between; a node that cannot bind fails its start, which reports it.
//
// Thread safety: one test thread.
#ifndef SQLSTEWARD_TESTS_SUPPORT_TEST_CLUSTER_H_
#define SQLSTEWARD_TESTS_SUPPORT_TEST_CLUSTER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cluster/client.h"
#include "sqlsteward/status.h"
#include "support/child_process.h"
#include "support/testing.h"

namespace sqlsteward::testing {

class TestCluster {
 public:
  // `cli`: the sqlsteward binary. `size`: number of nodes (ids 1..size).
  TestCluster(std::string cli, int size, unsigned latency_ms = 20);
  ~TestCluster();
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  // Starts every node (1 first, then each joining) and waits until each is
  // ready. The Status says which node failed and what it printed.
  Status Start(std::chrono::seconds timeout = std::chrono::seconds(60));
  // Starts node `id` (again) and waits for its ready line.
  Status StartNode(int id, std::chrono::seconds timeout = std::chrono::seconds(60));

  void Kill(int id);                 // SIGKILL, then reap
  void Pause(int id);                // SIGSTOP
  void Resume(int id);               // SIGCONT
  // SIGTERM, then wait for exit: the exit code, 128+signal, -1 if it did
  // not end within `timeout` (it is killed then).
  int Terminate(int id, std::chrono::seconds timeout = std::chrono::seconds(30));
  bool running(int id) const;

  int size() const { return static_cast<int>(addresses_.size()); }
  const std::string& address(int id) const { return addresses_.at(static_cast<std::size_t>(id - 1)); }
  const std::vector<std::string>& addresses() const { return addresses_; }
  // Addresses of the nodes started and not killed or terminated.
  std::vector<std::string> running_addresses() const;
  std::string data_dir(int id) const;
  // What node `id` printed so far (its stderr), for failure messages.
  std::string Output(int id);

  // A client of the current leader, found from the running nodes.
  Result<std::unique_ptr<cluster::Client>> Leader(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // The id of the leader (0 when none was found within `timeout`).
  int LeaderId(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

 private:
  struct Proc;
  std::string cli_;
  unsigned latency_ms_;
  TempDir dir_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<Proc>> procs_;
};

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_TEST_CLUSTER_H_
