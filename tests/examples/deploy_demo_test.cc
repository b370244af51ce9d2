// The blue-green deploy demo end to end (examples/blue-green): nginx in
// front of the order service, 2 deploys and 1 SIGKILL under load, then every
// acknowledged order counted in the database. The demo runs once for the
// suite; the report's fields are checked one by one, and the report is then
// shown a lost order and a duplicate it must catch, so that a broken verdict
// cannot pass for a clean run.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"

namespace sqlsteward::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class DeployDemoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    run_dir_ = new fs::path(fs::path(SQLSTEWARD_DEMO_RUN_DIR));
    fs::remove_all(*run_dir_);
    demo_ = new CliResult(RunCli(SQLSTEWARD_DEMO,
                                 {"--bin-dir", SQLSTEWARD_DEMO_BIN_DIR, "--run-dir",
                                  run_dir_->string(), "--deploys", "2", "--kills", "1",
                                  "--steady-ms", "300", "--rate", "150", "--json"}));
  }
  static void TearDownTestSuite() {
    delete demo_;
    delete run_dir_;
  }

  // The report's JSON for `dir`, and deploy_report's exit code.
  static json Report(const fs::path& dir, int* exit_code) {
    CliResult r = RunCli(fs::path(SQLSTEWARD_DEMO_BIN_DIR) / "deploy_report",
                         {"--run", dir.string(), "--json"});
    *exit_code = r.exit_code;
    return json::parse(r.out, nullptr, false);
  }

  // A copy of the demo's run to tamper with.
  static fs::path CopyRun(const std::string& name) {
    fs::path copy = *run_dir_ / name;
    fs::remove_all(copy);
    fs::copy(*run_dir_ / "sqlsteward", copy, fs::copy_options::recursive);
    return copy;
  }

  static CliResult* demo_;
  static fs::path* run_dir_;
};

CliResult* DeployDemoTest::demo_ = nullptr;
fs::path* DeployDemoTest::run_dir_ = nullptr;

TEST_F(DeployDemoTest, DeploysAndAKillLoseNothing) {
  ASSERT_EQ(demo_->exit_code, 0) << demo_->err << demo_->out;
  json doc = json::parse(demo_->out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << demo_->out;
  EXPECT_EQ(doc["ok"], true);
  ASSERT_EQ(doc["runs"].size(), 1u);
  const json& run = doc["runs"][0];
  EXPECT_EQ(run["mode"], "sqlsteward");
  EXPECT_EQ(run["deploys"], 2);
  EXPECT_EQ(run["kills"], 1);

  const json& orders = run["orders"];
  EXPECT_GT(orders["acknowledged"].get<int>(), 100) << "the load did not run";
  EXPECT_EQ(orders["present"], orders["acknowledged"]);
  EXPECT_EQ(orders["rows"], orders["acknowledged"]);
  EXPECT_EQ(orders["lost"], 0);
  EXPECT_EQ(orders["mismatched"], 0);
  EXPECT_EQ(orders["duplicates"], 0);
  EXPECT_EQ(orders["exactly_equal"], true);

  const json& errors = run["client_errors"];
  EXPECT_EQ(errors["deploy_windows"], 0) << errors.dump();
  EXPECT_EQ(errors["steady"], 0) << errors.dump();
  EXPECT_EQ(errors["orders_given_up"], 0) << errors.dump();

  // The handed-over version's 503s reached nginx and were retried there:
  // the path that keeps them from the clients was exercised.
  const json& retried = run["nginx"]["retried_by_first_status"];
  EXPECT_GT(retried.value("503", 0), 0) << run["nginx"].dump();
  EXPECT_EQ(run["handover"]["pause_ms"]["count"], 2);
  EXPECT_EQ(run["kill"]["downtime_ms"]["count"], 1);
  EXPECT_EQ(run["integrity_check"], "ok");
  EXPECT_EQ(run["guarantees_met"], true) << run["failures"].dump();
}

TEST_F(DeployDemoTest, ReportCatchesALostOrder) {
  ASSERT_EQ(demo_->exit_code, 0) << demo_->err;
  fs::path copy = CopyRun("lost");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((copy / "orders.db").c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "DELETE FROM orders WHERE id = (SELECT max(id) FROM orders)", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  int exit_code = -1;
  json doc = Report(copy, &exit_code);
  EXPECT_EQ(exit_code, 1);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["runs"][0]["orders"]["lost"], 1);
  EXPECT_EQ(doc["runs"][0]["orders"]["exactly_equal"], false);
}

TEST_F(DeployDemoTest, ReportCatchesADuplicateAndAClientError) {
  ASSERT_EQ(demo_->exit_code, 0) << demo_->err;
  fs::path copy = CopyRun("duplicate");
  std::string first;
  {
    std::ifstream acks(copy / "acks.tsv");
    ASSERT_TRUE(std::getline(acks, first));
  }
  // The first acknowledged order's id, acknowledged again for another key;
  // and a 500 seen by a client outside any switchover window.
  std::ofstream(copy / "acks.tsv", std::ios::app) << "another-key" << first.substr(first.find('\t'))
                                                  << "\n";
  std::ofstream(copy / "errors.tsv", std::ios::app) << "k\t1\t2\t500\t-\t0\tinternal\n";
  int exit_code = -1;
  json doc = Report(copy, &exit_code);
  EXPECT_EQ(exit_code, 1);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["runs"][0]["orders"]["duplicates"], 1);
  EXPECT_EQ(doc["runs"][0]["client_errors"]["steady"], 1);
  EXPECT_EQ(doc["runs"][0]["guarantees_met"], false);
}

}  // namespace
}  // namespace sqlsteward::testing
