// cluster::Node embedded in this process (the library's way to run a node
// inside the service): start, serve, stop; and the refusals of a start
// that could only go wrong.
#include "cluster/node.h"

#include <chrono>
#include <string>
#include <sys/stat.h>

#include "cluster/client.h"
#include "support/test_cluster.h"
#include "support/testing.h"

namespace sqlsteward::cluster {
namespace {

using ::sqlsteward::testing::StatusIs;
using ::sqlsteward::testing::TempDir;
using ::sqlsteward::testing::TestCluster;
using ::testing::HasSubstr;

TEST(ClusterNodeTest, AnEmbeddedNodeBootstrapsServesAndStops) {
  TempDir dir;
  TestCluster ports(SQLSTEWARD_CLI, 1);  // only for a free port; starts nothing
  NodeOptions o;
  o.id = 1;
  o.address = ports.address(1);
  o.data_dir = dir.File("node1");
  auto node = Node::Start(o);
  ASSERT_TRUE(node.has_value()) << node.error().ToString();
  EXPECT_TRUE((*node)->joined_now());
  struct stat st{};
  ASSERT_EQ(::stat(o.data_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto c = Client::ConnectToLeader({o.address},
                                   std::chrono::steady_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  SQLSTEWARD_ASSERT_OK((*c)->Open("embedded.db"));
  SQLSTEWARD_ASSERT_OK((*c)->ExecSql("CREATE TABLE t (a); INSERT INTO t VALUES (42)").status());
  auto q = (*c)->QuerySql("SELECT a FROM t");
  ASSERT_TRUE(q.has_value()) << q.error().ToString();
  EXPECT_EQ(q->rows.at(0).at(0), Value(std::int64_t{42}));
  // A one-voter cluster has nobody to hand over to: Stop is still OK.
  SQLSTEWARD_EXPECT_OK((*node)->Stop());
  SQLSTEWARD_EXPECT_OK((*node)->Stop());  // idempotent
  // Restarted on its data directory it keeps the data, without joining.
  auto again = Node::Start(o);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_FALSE((*again)->joined_now());
  auto c2 = Client::ConnectToLeader({o.address},
                                    std::chrono::steady_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(c2.has_value()) << c2.error().ToString();
  SQLSTEWARD_ASSERT_OK((*c2)->Open("embedded.db"));
  auto q2 = (*c2)->QuerySql("SELECT a FROM t");
  ASSERT_TRUE(q2.has_value()) << q2.error().ToString();
  EXPECT_EQ(q2->rows.at(0).at(0), Value(std::int64_t{42}));
}

TEST(ClusterNodeTest, StartsThatCouldOnlyGoWrongAreRefused) {
  TempDir dir;
  NodeOptions o;
  o.address = "127.0.0.1:1";
  o.data_dir = dir.File("n");
  o.id = 0;
  EXPECT_THAT(Node::Start(o), StatusIs(StatusCode::kInvalidArgument));
  o.id = 1;
  o.join = {"127.0.0.1:2"};
  auto bootstrap_join = Node::Start(o);
  EXPECT_THAT(bootstrap_join, StatusIs(StatusCode::kInvalidArgument));
  if (!bootstrap_join.has_value()) {
    EXPECT_THAT(std::string(bootstrap_join.error().hint()), HasSubstr("id other than 1"));
  }
  o.id = 2;
  o.join.clear();
  auto lonely = Node::Start(o);
  EXPECT_THAT(lonely, StatusIs(StatusCode::kInvalidArgument));
  if (!lonely.has_value()) {
    EXPECT_THAT(std::string(lonely.error().hint()), HasSubstr("--join"));
  }
  o.address = "no-port";
  EXPECT_THAT(Node::Start(o), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sqlsteward::cluster
