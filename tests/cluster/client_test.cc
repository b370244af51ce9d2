// cluster::Client against a real 3-node dqlite cluster of `sqlsteward node`
// processes on loopback (support/test_cluster.h), one cluster for the suite.
#include "cluster/client.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/test_cluster.h"
#include "support/testing.h"

namespace sqlsteward::cluster {
namespace {

using ::sqlsteward::testing::StatusIs;
using ::sqlsteward::testing::TestCluster;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

class ClusterClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster(SQLSTEWARD_CLI, 3);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  // A client of the leader with database `name` open.
  std::unique_ptr<Client> Open(const std::string& name) {
    auto c = cluster_->Leader();
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    if (!c.has_value()) return nullptr;
    Status s = (*c)->Open(name);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(*c);
  }

  static TestCluster* cluster_;
};
TestCluster* ClusterClientTest::cluster_ = nullptr;

TEST_F(ClusterClientTest, EveryParameterTypeRoundTrips) {
  auto c = Open("params.db");
  ASSERT_NE(c, nullptr);
  SQLSTEWARD_ASSERT_OK(c->ExecSql("CREATE TABLE t (a, b, c, d, e)").status());
  const std::vector<std::byte> blob = {std::byte{0}, std::byte{1}, std::byte{0xfe},
                                       std::byte{0xff}, std::byte{0}};
  const std::vector<Value> row = {nullptr, std::int64_t{-9007199254740993}, 0.1,
                                  std::string("naïve text, 'quoted'"), blob};
  auto r = c->ExecSql("INSERT INTO t VALUES (?, ?, ?, ?, ?)", row);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->rows_affected, 1);
  EXPECT_EQ(r->last_insert_id, 1);
  auto q = c->QuerySql("SELECT a, b, c, d, e FROM t WHERE b = ?",
                       std::vector<Value>{std::int64_t{-9007199254740993}});
  ASSERT_TRUE(q.has_value()) << q.error().ToString();
  EXPECT_EQ(q->columns, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  ASSERT_EQ(q->rows.size(), 1u);
  EXPECT_EQ(q->rows[0], row);
  // The same through a prepared statement.
  auto stmt = c->Prepare("SELECT typeof(?), typeof(?), typeof(?), typeof(?), typeof(?)");
  ASSERT_TRUE(stmt.has_value()) << stmt.error().ToString();
  auto types = c->Query(*stmt, row);
  ASSERT_TRUE(types.has_value()) << types.error().ToString();
  ASSERT_EQ(types->rows.size(), 1u);
  EXPECT_EQ(types->rows[0], (std::vector<Value>{std::string("null"), std::string("integer"),
                                                std::string("real"), std::string("text"),
                                                std::string("blob")}));
  SQLSTEWARD_EXPECT_OK(c->Finalize(*stmt));
}

TEST_F(ClusterClientTest, ManyRowsArriveInSeveralBatches) {
  auto c = Open("batches.db");
  ASSERT_NE(c, nullptr);
  SQLSTEWARD_ASSERT_OK(
      c->ExecSql("CREATE TABLE n (i INTEGER PRIMARY KEY, s TEXT);"
                 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 10000) "
                 "INSERT INTO n SELECT i, printf('row %05d', i) FROM k")
          .status());
  auto q = c->QuerySql("SELECT i, s FROM n ORDER BY i");
  ASSERT_TRUE(q.has_value()) << q.error().ToString();
  ASSERT_EQ(q->rows.size(), 10000u);
  for (std::size_t k = 0; k < q->rows.size(); ++k) {
    ASSERT_EQ(q->rows[k][0], Value(static_cast<std::int64_t>(k + 1)));
  }
  EXPECT_EQ(q->rows[9999][1], Value(std::string("row 10000")));
  // The connection is still in step after a multi-batch reply.
  auto one = c->QuerySql("SELECT count(*) FROM n");
  ASSERT_TRUE(one.has_value()) << one.error().ToString();
  EXPECT_EQ(one->rows[0][0], Value(std::int64_t{10000}));
}

TEST_F(ClusterClientTest, InteractiveTransactionCommitsAndRollsBack) {
  auto c = Open("tx.db");
  ASSERT_NE(c, nullptr);
  SQLSTEWARD_ASSERT_OK(c->ExecSql("CREATE TABLE acct (id INTEGER PRIMARY KEY, v INTEGER)").status());
  auto begin = c->Prepare("BEGIN");
  auto insert = c->Prepare("INSERT INTO acct (v) VALUES (?)");
  auto commit = c->Prepare("COMMIT");
  ASSERT_TRUE(begin.has_value() && insert.has_value() && commit.has_value());
  SQLSTEWARD_ASSERT_OK(c->Exec(*begin, {}).status());
  for (std::int64_t v : {10, 20}) {
    const std::vector<Value> p = {v};
    SQLSTEWARD_ASSERT_OK(c->Exec(*insert, p).status());
  }
  SQLSTEWARD_ASSERT_OK(c->Exec(*commit, {}).status());
  SQLSTEWARD_ASSERT_OK(c->ExecSql("BEGIN").status());
  SQLSTEWARD_ASSERT_OK(c->ExecSql("INSERT INTO acct (v) VALUES (30)").status());
  SQLSTEWARD_ASSERT_OK(c->ExecSql("ROLLBACK").status());
  auto sum = c->QuerySql("SELECT count(*), sum(v) FROM acct");
  ASSERT_TRUE(sum.has_value()) << sum.error().ToString();
  EXPECT_EQ(sum->rows[0], (std::vector<Value>{std::int64_t{2}, std::int64_t{30}}));
  // A second connection sees the committed rows only.
  auto other = Open("tx.db");
  ASSERT_NE(other, nullptr);
  auto seen = other->QuerySql("SELECT group_concat(v) FROM acct");
  ASSERT_TRUE(seen.has_value()) << seen.error().ToString();
  EXPECT_EQ(seen->rows[0][0], Value(std::string("10,20")));
}

TEST_F(ClusterClientTest, SqliteErrorsKeepTheirCodes) {
  auto c = Open("errors.db");
  ASSERT_NE(c, nullptr);
  SQLSTEWARD_ASSERT_OK(c->ExecSql("CREATE TABLE u (k TEXT UNIQUE)").status());
  SQLSTEWARD_ASSERT_OK(c->ExecSql("INSERT INTO u VALUES ('a')").status());
  auto dup = c->ExecSql("INSERT INTO u VALUES ('a')");
  EXPECT_THAT(dup, StatusIs(StatusCode::kConstraint));
  if (!dup.has_value()) {
    EXPECT_EQ(dup.error().sqlite_code() & 0xff, 19);
  }
  EXPECT_THAT(c->ExecSql("INSERT INTO missing VALUES (1)"), StatusIs(StatusCode::kInvalidArgument));
  // The connection still works after errors.
  SQLSTEWARD_EXPECT_OK(c->QuerySql("SELECT 1").status());
}

TEST_F(ClusterClientTest, VacuumAndAttachAreRefusedBeforeSending) {
  auto c = Open("refused.db");
  ASSERT_NE(c, nullptr);
  auto v = c->ExecSql("VACUUM");
  EXPECT_THAT(v, StatusIs(StatusCode::kFailedPrecondition));
  if (!v.has_value()) {
    EXPECT_THAT(std::string(v.error().hint()), HasSubstr("crashes the leader"));
  }
  auto a = c->ExecSql("ATTACH DATABASE 'other.db' AS other");
  EXPECT_THAT(a, StatusIs(StatusCode::kFailedPrecondition));
  if (!a.has_value()) {
    EXPECT_THAT(std::string(a.error().hint()), HasSubstr("not replicated"));
  }
  EXPECT_THAT(c->Prepare("vacuum"), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(c->QuerySql("attach 'x' as y"), StatusIs(StatusCode::kFailedPrecondition));
  SQLSTEWARD_EXPECT_OK(c->QuerySql("SELECT 1").status());
}

TEST_F(ClusterClientTest, ConnectToLeaderFromAFollowersAddress) {
  const int leader = cluster_->LeaderId();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  auto c = Client::ConnectToLeader({cluster_->address(follower)}, Clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ((*c)->address(), cluster_->address(leader));
  // A follower refuses statements with kUnavailable: not applied, retry.
  auto f = Client::ConnectTo(cluster_->address(follower));
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  SQLSTEWARD_ASSERT_OK((*f)->Open("follower.db"));
  auto w = (*f)->ExecSql("CREATE TABLE x (a)");
  EXPECT_THAT(w, StatusIs(StatusCode::kUnavailable));
  if (!w.has_value()) {
    EXPECT_THAT(std::string(w.error().hint()), HasSubstr("ConnectToLeader"));
  }
}

TEST_F(ClusterClientTest, MembersAreThreeVotersAndDumpGivesTheFiles) {
  auto c = Open("dump.db");
  ASSERT_NE(c, nullptr);
  auto members = c->Members();
  ASSERT_TRUE(members.has_value()) << members.error().ToString();
  ASSERT_EQ(members->size(), 3u);
  for (const NodeInfo& m : *members) EXPECT_EQ(m.role, Role::kVoter) << m.address;
  SQLSTEWARD_ASSERT_OK(c->ExecSql("CREATE TABLE d (x); INSERT INTO d VALUES ('dumped')").status());
  auto files = c->Dump("dump.db");
  ASSERT_TRUE(files.has_value()) << files.error().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].name, "dump.db");
  EXPECT_EQ((*files)[1].name, "dump.db-wal");
  // The WAL holds the row (the file alone may not yet).
  EXPECT_NE(((*files)[0].data + (*files)[1].data).find("dumped"), std::string::npos);
}

TEST_F(ClusterClientTest, ConnectToLeaderGivesUpAtItsDeadline) {
  // No node listens on these ports (found free, then released).
  TestCluster none(SQLSTEWARD_CLI, 2);
  const auto start = Clock::now();
  auto c = Client::ConnectToLeader(none.addresses(), start + std::chrono::milliseconds(500));
  EXPECT_THAT(c, StatusIs(StatusCode::kUnavailable));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  if (!c.has_value()) {
    EXPECT_THAT(std::string(c.error().message()), HasSubstr(none.address(1)));
  }
}

}  // namespace
}  // namespace sqlsteward::cluster
