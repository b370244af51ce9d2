// `sqlsteward migrate` and `sqlsteward version DB` end to end: the built CLI
// runs as a child process on real files (tests/fixtures/migrations/), its
// --json output is parsed, and its exit codes and error lines are checked.
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/run_cli.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::nlohmann::json;
using testing::CliResult;
using ::testing::HasSubstr;
using testing::TempDir;

const std::string kFixtures = std::string(SQLSTEWARD_FIXTURES) + "/migrations";

CliResult Cli(const std::vector<std::string>& args) {
  return testing::RunCli(SQLSTEWARD_CLI, args);
}

json ParseJson(const CliResult& run) {
  json doc = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(doc.is_discarded()) << "stdout is not JSON:\n" << run.out << run.err;
  return doc;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST(MigrateCliTest, DryRunListsPendingSqlAndCreatesNothing) {
  TempDir tmp;
  std::string db = tmp.File("app.db");
  CliResult run = Cli({"migrate", db, "--dir", kFixtures + "/good", "--dry-run", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json doc = ParseJson(run);
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["dry_run"], true);
  EXPECT_EQ(doc["from_version"], 0);
  EXPECT_EQ(doc["to_version"], 3);
  ASSERT_EQ(doc["pending"].size(), 3u);
  EXPECT_EQ(doc["pending"][1]["label"], "0002_orders");
  EXPECT_THAT(doc["pending"][1]["sql"].get<std::string>(), HasSubstr("CREATE TABLE orders"));
  EXPECT_THAT(doc["pending"][1]["checksum"].get<std::string>(), HasSubstr("sha256:"));
  EXPECT_FALSE(Exists(db));

  CliResult text = Cli({"migrate", db, "--dir", kFixtures + "/good", "--dry-run"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("3 pending migrations (dry run: nothing applied)"));
  EXPECT_THAT(text.out, HasSubstr("-- 0003_order_count  sha256:"));
  EXPECT_THAT(text.out, HasSubstr("CREATE TRIGGER orders_count"));
  EXPECT_FALSE(Exists(db));
}

TEST(MigrateCliTest, AppliesOnceThenIsUpToDateAndVersionReportsIt) {
  TempDir tmp;
  std::string db = tmp.File("app.db");
  CliResult run = Cli({"migrate", db, "--dir", kFixtures + "/good", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json doc = ParseJson(run);
  EXPECT_EQ(doc["from_version"], 0);
  EXPECT_EQ(doc["to_version"], 3);
  ASSERT_EQ(doc["applied"].size(), 3u);
  EXPECT_EQ(doc["applied"][0]["version"], 1);
  EXPECT_FALSE(doc["applied"][0].contains("sql"));

  CliResult again = Cli({"migrate", db, "--dir", kFixtures + "/good"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("up to date at version 3"));

  CliResult version = Cli({"version", db});
  ASSERT_EQ(version.exit_code, 0) << version.err;
  EXPECT_THAT(version.out, HasSubstr("sqlsteward "));  // The existing lines stay.
  EXPECT_THAT(version.out, HasSubstr("SQLite "));
  EXPECT_THAT(version.out, HasSubstr("schema     3 (" + db + "; user_version 3)"));
  json vdoc = ParseJson(Cli({"version", db, "--json"}));
  EXPECT_EQ(vdoc["schema_version"], 3);
  EXPECT_EQ(vdoc["user_version"], 3);
  EXPECT_TRUE(vdoc.contains("sqlite"));

  CliResult missing = Cli({"version", tmp.File("missing.db")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("error: "));
  EXPECT_FALSE(Exists(tmp.File("missing.db")));
}

TEST(MigrateCliTest, MalformedDirectoryFailsWithErrorAndHint) {
  TempDir tmp;
  std::string db = tmp.File("app.db");
  CliResult run = Cli({"migrate", db, "--dir", kFixtures + "/gap"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("error: gap in migration files"));
  EXPECT_THAT(run.err, HasSubstr("version 2 is missing"));
  EXPECT_THAT(run.err, HasSubstr("hint: "));
  EXPECT_FALSE(Exists(db));  // Validation comes before opening.
}

TEST(MigrateCliTest, OlderDirectoryThanTheDatabaseIsSchemaTooNew) {
  TempDir tmp;
  std::string db = tmp.File("app.db");
  ASSERT_EQ(Cli({"migrate", db, "--dir", kFixtures + "/good"}).exit_code, 0);
  TempDir old;
  std::filesystem::copy_file(kFixtures + "/good/0001_create_users.sql",
                             old.File("0001_create_users.sql"));
  CliResult run = Cli({"migrate", db, "--dir", old.path(), "--json"});
  EXPECT_EQ(run.exit_code, 1);
  json doc = ParseJson(run);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["error"]["code"], "failed_precondition");
  EXPECT_THAT(doc["error"]["message"].get<std::string>(), HasSubstr("schema too new"));
  EXPECT_THAT(run.err, HasSubstr("hint: roll forward"));
}

}  // namespace
}  // namespace sqlsteward
