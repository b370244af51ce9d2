// Every CLI command that takes a database, on a cluster address: exec,
// query, migrate, version, status, snapshot (then verify, and restore into a
// local file); restore into the cluster is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "cluster/node_set.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::CliResult;
using testing::NodeSet;

CliResult Cli(const std::vector<std::string>& args) {
  return testing::RunCli(SQLSTEWARD_CLI, args);
}

json Json(const CliResult& r) {
  auto doc = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
  return doc;
}

TEST(ClusterCliTest, EveryDatabaseCommandTakesAClusterAddress) {
  NodeSet nodes(3);
  ASSERT_TRUE(nodes.ok());
  const std::string uri = nodes.Uri("app");
  testing::TempDir dir;

  CliResult r = Cli({"exec", uri, "CREATE TABLE kv(k TEXT PRIMARY KEY, v)"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"exec", uri, "INSERT INTO kv VALUES(?, ?)", "--param", "a", "--param", "42", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json(r)["rows_changed"], 1) << r.out;

  r = Cli({"query", nodes.Uri("app", 1), "SELECT k, v FROM kv", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"a\""));
  EXPECT_THAT(r.out, HasSubstr("42"));

  r = Cli({"migrate", uri, "--dir", std::string(SQLSTEWARD_FIXTURES) + "/migrations/good"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"version", nodes.Uri("app", 2), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json(r)["schema_version"], 3) << r.out;
  EXPECT_EQ(Json(r)["user_version"], 3) << r.out;

  r = Cli({"status", uri, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json status = Json(r);
  EXPECT_EQ(status["cluster"], true);
  EXPECT_EQ(status["members"].size(), 3u) << r.out;
  r = Cli({"status", uri});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("3 members"));

  r = Cli({"snapshot", uri, dir.File("snaps"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json snap = Json(r);
  const std::string path = snap["snapshot"];
  EXPECT_EQ(snap["database"], uri);
  EXPECT_EQ(snap["manifest"]["schema_version"], 3) << r.out;
  r = Cli({"verify", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const std::string local = dir.File("restored.db");
  r = Cli({"restore", path, local});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"query", local, "SELECT v FROM kv WHERE k = 'a'", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("42"));
  EXPECT_EQ(testing::CountRows(local, "schema_migrations"), 3);

  r = Cli({"restore", path, uri});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("restore into a cluster"));
  EXPECT_THAT(r.err, HasSubstr("local file"));
}

}  // namespace
}  // namespace sqlsteward
