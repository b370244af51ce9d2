// `sqlsteward node` and `sqlsteward cluster status` end to end.
#include <nlohmann/json.hpp>

#include <string>

#include "cli/run_cli.h"
#include "support/test_cluster.h"
#include "support/testing.h"

namespace sqlsteward::testing {
namespace {

using ::testing::HasSubstr;

TEST(ClusterCliTest, StatusJsonShowsThreeVotersAndOneLeader) {
  TestCluster cluster(SQLSTEWARD_CLI, 3);
  SQLSTEWARD_ASSERT_OK(cluster.Start());
  CliResult r = RunCli(SQLSTEWARD_CLI, {"cluster", "status", cluster.address(2), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["members"].size(), 3u) << r.out;
  int leaders = 0;
  for (const auto& m : doc["members"]) {
    EXPECT_EQ(m["role"], "voter") << r.out;
    if (m["leader"] == true) {
      ++leaders;
      EXPECT_EQ(m["address"], doc["leader"]["address"]) << r.out;
    }
  }
  EXPECT_EQ(leaders, 1) << r.out;
  EXPECT_TRUE(doc["applied_index"].is_null());
  CliResult text = RunCli(SQLSTEWARD_CLI, {"cluster", "status", cluster.address(1)});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("leader   127.0.0.1:"));
  EXPECT_THAT(text.out, HasSubstr("voter  leader"));
}

TEST(ClusterCliTest, StatusOfNoNodeFailsWithAHint) {
  TestCluster none(SQLSTEWARD_CLI, 1);  // a free port, nobody listening
  CliResult r = RunCli(SQLSTEWARD_CLI, {"cluster", "status", none.address(1), "--timeout", "0.5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("error: "));
  EXPECT_THAT(r.err, HasSubstr("hint: "));
  CliResult bad = RunCli(SQLSTEWARD_CLI, {"cluster", "status", "no-port"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("HOST:PORT"));
}

TEST(ClusterCliTest, NodeArgumentErrorsExitNonZeroWithAHint) {
  TempDir dir;
  CliResult no_data = RunCli(SQLSTEWARD_CLI, {"node", "--id", "1", "--address", "127.0.0.1:1"});
  EXPECT_EQ(no_data.exit_code, 1);
  EXPECT_THAT(no_data.err, HasSubstr("no data directory"));
  EXPECT_THAT(no_data.err, HasSubstr("hint: give --data DIR"));
  CliResult no_id = RunCli(SQLSTEWARD_CLI, {"node", "--address", "127.0.0.1:1", "--data", dir.File("d")});
  EXPECT_EQ(no_id.exit_code, 1);
  EXPECT_THAT(no_id.err, HasSubstr("hint: give --id N"));
  CliResult bad_address =
      RunCli(SQLSTEWARD_CLI, {"node", "--id", "1", "--address", "localhost", "--data", dir.File("d")});
  EXPECT_EQ(bad_address.exit_code, 1);
  EXPECT_THAT(bad_address.err, HasSubstr("HOST:PORT"));
  // A new node other than 1 needs a cluster to join.
  CliResult lonely =
      RunCli(SQLSTEWARD_CLI, {"node", "--id", "2", "--address", "127.0.0.1:1", "--data", dir.File("n2")});
  EXPECT_EQ(lonely.exit_code, 1);
  EXPECT_THAT(lonely.err, HasSubstr("--join"));
}

}  // namespace
}  // namespace sqlsteward::testing
