// Leadership changes on a real 3-node cluster: kill -9 of the leader, a
// restarted node catching up, SIGTERM handing leadership over, and a
// paused (SIGSTOP) leader making a write's outcome unknown rather than
// failed. Each test has a cluster of its own.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cluster/client.h"
#include "support/test_cluster.h"
#include "support/testing.h"

namespace sqlsteward::cluster {
namespace {

using ::sqlsteward::testing::StatusIs;
using ::sqlsteward::testing::TestCluster;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::int64_t Count(Client& c, const std::string& table) {
  auto q = c.QuerySql("SELECT count(*) FROM " + table);
  EXPECT_TRUE(q.has_value()) << q.error().ToString();
  if (!q.has_value() || q->rows.empty()) return -1;
  return std::get<std::int64_t>(q->rows[0][0]);
}

void Insert(Client& c, int from, int to) {
  for (int i = from; i < to; ++i) {
    const std::vector<Value> p = {std::int64_t{i}};
    auto r = c.ExecSql("INSERT INTO w VALUES (?)", p);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
}

TEST(ClusterFailoverTest, KillNineOfTheLeaderThenTheRestartedNodeCatchesUp) {
  TestCluster cluster(SQLSTEWARD_CLI, 3);
  SQLSTEWARD_ASSERT_OK(cluster.Start());
  auto c = cluster.Leader();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  SQLSTEWARD_ASSERT_OK((*c)->Open("app.db"));
  SQLSTEWARD_ASSERT_OK((*c)->ExecSql("CREATE TABLE w (i INTEGER PRIMARY KEY)").status());
  Insert(**c, 0, 50);
  const int old_leader = cluster.LeaderId();
  ASSERT_NE(old_leader, 0);

  cluster.Kill(old_leader);
  const auto killed = Clock::now();
  auto next = Client::ConnectToLeader(cluster.running_addresses(), killed + std::chrono::seconds(10));
  ASSERT_TRUE(next.has_value()) << next.error().ToString();
  const auto failover =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  std::printf("failover after kill -9 of the leader: %lld ms (latency setting 20 ms)\n",
              static_cast<long long>(failover.count()));
  EXPECT_LT(failover, std::chrono::seconds(3));
  EXPECT_NE((*next)->address(), cluster.address(old_leader));
  // The old connection is gone; it says so, and every acknowledged row
  // is on the new leader.
  EXPECT_THAT((*c)->QuerySql("SELECT 1"), StatusIs(StatusCode::kUnavailable));
  SQLSTEWARD_ASSERT_OK((*next)->Open("app.db"));
  EXPECT_EQ(Count(**next, "w"), 50);
  Insert(**next, 50, 80);  // written while the old leader is down

  // The killed node restarts with its data directory and catches up: made
  // leader (Raft hands leadership only to an up-to-date voter), it serves
  // every row, including those written while it was down.
  SQLSTEWARD_ASSERT_OK(cluster.StartNode(old_leader));
  auto members = (*next)->Members();
  ASSERT_TRUE(members.has_value()) << members.error().ToString();
  EXPECT_EQ(members->size(), 3u);
  Status moved;
  const auto until = Clock::now() + std::chrono::seconds(20);
  do {
    moved = (*next)->Transfer(static_cast<std::uint64_t>(old_leader));
    if (moved.ok()) break;
    auto again = cluster.Leader();  // leadership may have moved meanwhile
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    next = std::move(again);
  } while (Clock::now() < until);
  SQLSTEWARD_ASSERT_OK(moved);
  auto back = Client::ConnectToLeader(cluster.running_addresses(), Clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ((*back)->address(), cluster.address(old_leader));
  SQLSTEWARD_ASSERT_OK((*back)->Open("app.db"));
  EXPECT_EQ(Count(**back, "w"), 80);
}

TEST(ClusterFailoverTest, SigtermHandsLeadershipOverAndExitsZero) {
  TestCluster cluster(SQLSTEWARD_CLI, 3);
  SQLSTEWARD_ASSERT_OK(cluster.Start());
  const int leader = cluster.LeaderId();
  ASSERT_NE(leader, 0);
  const auto sent = Clock::now();
  EXPECT_EQ(cluster.Terminate(leader), 0) << cluster.Output(leader);
  EXPECT_THAT(cluster.Output(leader), HasSubstr("stopped"));
  const int next = cluster.LeaderId(std::chrono::milliseconds(5000));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent);
  std::printf("new leader %lld ms after SIGTERM of the leader (stop included)\n",
              static_cast<long long>(took.count()));
  EXPECT_NE(next, 0);
  EXPECT_NE(next, leader);
  auto c = cluster.Leader();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  SQLSTEWARD_ASSERT_OK((*c)->Open("after.db"));
  SQLSTEWARD_EXPECT_OK((*c)->ExecSql("CREATE TABLE t (x)").status());
}

TEST(ClusterFailoverTest, AWriteToAPausedLeaderIsUnknownNotFailed) {
  TestCluster cluster(SQLSTEWARD_CLI, 3);
  SQLSTEWARD_ASSERT_OK(cluster.Start());
  const int leader = cluster.LeaderId();
  ASSERT_NE(leader, 0);
  ClientOptions quick;
  quick.request_timeout = std::chrono::milliseconds(500);
  auto c = Client::ConnectTo(cluster.address(leader), quick);
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  SQLSTEWARD_ASSERT_OK((*c)->Open("paused.db"));
  SQLSTEWARD_ASSERT_OK((*c)->ExecSql("CREATE TABLE w (i INTEGER PRIMARY KEY)").status());
  auto reader = Client::ConnectTo(cluster.address(leader), quick);
  ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
  SQLSTEWARD_ASSERT_OK((*reader)->Open("paused.db"));

  cluster.Pause(leader);
  const auto start = Clock::now();
  auto w = (*c)->ExecSql("INSERT INTO w VALUES (1)");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));  // the deadline, not a hang
  EXPECT_THAT(w, StatusIs(StatusCode::kUnknownOutcome));
  if (!w.has_value()) {
    EXPECT_THAT(std::string(w.error().hint()), HasSubstr("before retrying"));
  }
  // A read whose reply is lost is plainly unavailable: nothing to resolve.
  EXPECT_THAT((*reader)->QuerySql("SELECT count(*) FROM w"), StatusIs(StatusCode::kUnavailable));
  // The others elect a leader while this one is stopped; asked first, the
  // stopped node costs one short probe, not a request timeout.
  std::vector<std::string> order = {cluster.address(leader)};
  for (int id = 1; id <= 3; ++id) {
    if (id != leader) order.push_back(cluster.address(id));
  }
  const auto asked = Clock::now();
  ClientOptions probe;
  probe.connect_timeout = std::chrono::milliseconds(300);
  auto other = Client::ConnectToLeader(order, asked + std::chrono::seconds(20), probe);
  ASSERT_TRUE(other.has_value()) << other.error().ToString();
  EXPECT_NE((*other)->address(), cluster.address(leader));
  const auto found = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  std::printf("new leader found %lld ms after asking, the old one stopped (SIGSTOP)\n",
              static_cast<long long>(found.count()));
  // Followers name the stopped leader until they elect another; each such
  // answer costs one 300 ms probe, far below a request timeout per round.
  EXPECT_LT(found, std::chrono::seconds(15));
  cluster.Resume(leader);

  // The cluster goes on; the write's fate is read back, not guessed.
  auto next = cluster.Leader();
  ASSERT_TRUE(next.has_value()) << next.error().ToString();
  SQLSTEWARD_ASSERT_OK((*next)->Open("paused.db"));
  const std::int64_t n = Count(**next, "w");
  EXPECT_TRUE(n == 0 || n == 1) << n;
}

Role RoleOf(const std::vector<NodeInfo>& members, std::uint64_t id) {
  for (const NodeInfo& m : members) {
    if (m.id == id) return m.role;
  }
  ADD_FAILURE() << "node " << id << " is not a member";
  return Role::kVoter;
}

TEST(ClusterFailoverTest, MembershipAssignAndRemoveShowInMembers) {
  TestCluster cluster(SQLSTEWARD_CLI, 4);
  SQLSTEWARD_ASSERT_OK(cluster.Start());
  auto c = cluster.Leader();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  const int leader = cluster.LeaderId();
  const std::uint64_t victim = leader == 4 ? 3 : 4;
  SQLSTEWARD_ASSERT_OK((*c)->Assign(victim, Role::kStandBy));
  auto members = (*c)->Members();
  ASSERT_TRUE(members.has_value()) << members.error().ToString();
  EXPECT_EQ(RoleOf(*members, victim), Role::kStandBy);
  SQLSTEWARD_ASSERT_OK((*c)->Assign(victim, Role::kSpare));
  members = (*c)->Members();
  ASSERT_TRUE(members.has_value()) << members.error().ToString();
  EXPECT_EQ(RoleOf(*members, victim), Role::kSpare);
  SQLSTEWARD_ASSERT_OK((*c)->Remove(victim));
  members = (*c)->Members();
  ASSERT_TRUE(members.has_value()) << members.error().ToString();
  EXPECT_EQ(members->size(), 3u);
  // Adding an address that is not HOST:PORT is refused before sending.
  EXPECT_THAT((*c)->Add(9, "nowhere"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sqlsteward::cluster
