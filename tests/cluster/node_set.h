// NodeSet: N dqlite nodes, each a helper process (cluster_helper's `node`
// mode) on a free loopback port, node 1 bootstrapping and the others
// joining it. Kill, stop (SIGSTOP), continue and restart single nodes; find
// the leader by asking the nodes.
#ifndef SQLSTEWARD_TESTS_CLUSTER_NODE_SET_H_
#define SQLSTEWARD_TESTS_CLUSTER_NODE_SET_H_

#include <memory>
#include <string>
#include <vector>

#include "support/testing.h"

namespace sqlsteward::testing {

class NodeSet {
 public:
  // Starts `n` nodes; failures are test failures (check ok()).
  explicit NodeSet(int n);
  ~NodeSet();

  bool ok() const { return ok_; }
  int size() const { return static_cast<int>(addresses_.size()); }
  // "dqlite://a,b,c/NAME", node `first` listed first.
  std::string Uri(const std::string& name, int first = 0) const;
  const std::string& address(int i) const { return addresses_[static_cast<std::size_t>(i)]; }
  pid_t pid(int i) const;

  // Index of the node the others agree leads, waiting for one until
  // `timeout`; -1 when none.
  int Leader(std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) const;
  void Kill(int i);  // SIGKILL and reap
  void Stop(int i);  // SIGSTOP
  void Continue(int i);  // SIGCONT
  // Starts a killed node again with its data directory: it catches up.
  bool Restart(int i);

 private:
  bool StartNode(int i);

  TempDir dir_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<Child>> nodes_;
  bool ok_ = true;
};

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_CLUSTER_NODE_SET_H_
