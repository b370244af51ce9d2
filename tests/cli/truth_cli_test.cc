// Issue 11, classes 1 and 8, end to end through the built CLI: the exit
// status tells the truth (non-zero means nothing was applied), --json output
// cannot fail on text that is not UTF-8, seconds flags are validated before
// anything runs, data reaches the terminal with its control characters
// escaped, and no hint names a library option the CLI does not have.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "sqlsteward/sqlsteward.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::nlohmann::json;
using testing::Child;
using testing::CliResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

// U+FFFD, what --json shows for each byte that is not part of valid UTF-8.
constexpr const char* kReplacement = "\xef\xbf\xbd";

CliResult Cli(const std::vector<std::string>& args) { return testing::RunCli(SQLSTEWARD_CLI, args); }

std::string Dump(const CliResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

// Runs with --json appended; stdout must be one valid JSON document.
json RunJson(std::vector<std::string> args, int expected_exit = 0) {
  args.push_back("--json");
  CliResult run = Cli(args);
  EXPECT_EQ(run.exit_code, expected_exit) << Dump(run);
  EXPECT_THAT(run.err, Not(HasSubstr("this is a bug"))) << Dump(run);
  json doc = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(doc.is_discarded()) << "stdout is not JSON:\n" << Dump(run);
  return doc;
}

// Runs with stdout on /dev/full: every write to it fails with ENOSPC.
CliResult RunToFullDisk(const std::vector<std::string>& args) {
  std::vector<std::string> sh = {"-c", "exec \"$0\" \"$@\" > /dev/full", SQLSTEWARD_CLI};
  sh.insert(sh.end(), args.begin(), args.end());
  return testing::RunCli("/bin/sh", sh);
}

std::string AnnouncedLine(Child& child) { return child.ReadLine(); }

class TruthCliTest : public ::testing::Test {
 protected:
  // A directory whose name is not UTF-8: every path below it is not either.
  std::string Latin1Dir() {
    const std::string dir = dir_.File("caf\xe9-\xff");
    EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0);
    return dir;
  }

  void CreateTable(const std::string& db) {
    CliResult run = Cli({"exec", db, "--create", "CREATE TABLE t(k TEXT)"});
    ASSERT_EQ(run.exit_code, 0) << Dump(run);
  }

  TempDir dir_;
};

// ------------------------------------------- class 1: --json and non-UTF-8

TEST_F(TruthCliTest, ExecWithNonUtf8PathAndParameterCommitsOnceAndPrintsValidJson) {
  const std::string db = Latin1Dir() + "/app.db";
  json created = RunJson({"exec", db, "--create", "CREATE TABLE t(k TEXT)"});
  EXPECT_EQ(created["ok"], true);
  EXPECT_THAT(created["database"].get<std::string>(), HasSubstr(kReplacement));

  json inserted = RunJson({"exec", db, "INSERT INTO t(k) VALUES(?)", "--text-param", "a\xfe" "b"});
  EXPECT_EQ(inserted["ok"], true);
  EXPECT_EQ(inserted["rows_changed"], 1);
  EXPECT_EQ(inserted["params"][0], std::string("a") + kReplacement + "b");
  // Exactly once, with its bytes as given.
  EXPECT_EQ(testing::CountRows(db, "t"), 1);
  EXPECT_EQ(testing::RawQuery(db, "SELECT hex(k) FROM t"), "61FE62\n");
}

TEST_F(TruthCliTest, QueryOfStoredInvalidUtf8TextPrintsValidJsonAndEscapedText) {
  const std::string db = Latin1Dir() + "/app.db";
  CreateTable(db);
  ASSERT_EQ(Cli({"exec", db, "INSERT INTO t(k) VALUES(CAST(x'41ff42' AS TEXT))"}).exit_code, 0);

  json doc = RunJson({"query", db, "SELECT k, typeof(k) FROM t"});
  EXPECT_EQ(doc["rows"][0][0], std::string("A") + kReplacement + "B");
  EXPECT_EQ(doc["rows"][0][1], "text");

  CliResult table = Cli({"query", db, "SELECT k FROM t"});
  ASSERT_EQ(table.exit_code, 0) << Dump(table);
  EXPECT_THAT(table.out, HasSubstr("A\\xffB"));
}

TEST_F(TruthCliTest, MigrateWithNonUtf8DirectoryAndSqlPrintsValidJson) {
  const std::string dir = Latin1Dir();
  const std::string migrations = dir + "/migrations";
  ASSERT_EQ(::mkdir(migrations.c_str(), 0700), 0);
  std::ofstream(migrations + "/0001_init.sql")
      << "CREATE TABLE m(x TEXT);\nINSERT INTO m VALUES('caf\xe9');\n";
  const std::string db = dir + "/app.db";

  json plan = RunJson({"migrate", db, "--dir", migrations, "--dry-run"});
  EXPECT_EQ(plan["pending"][0]["version"], 1);
  EXPECT_THAT(plan["pending"][0]["sql"].get<std::string>(),
              HasSubstr(std::string("caf") + kReplacement));

  json applied = RunJson({"migrate", db, "--dir", migrations});
  EXPECT_EQ(applied["ok"], true);
  EXPECT_EQ(applied["to_version"], 1);
  EXPECT_THAT(applied["dir"].get<std::string>(), HasSubstr(kReplacement));
  EXPECT_EQ(testing::RawQuery(db, "SELECT hex(x) FROM m"), "636166E9\n");
}

TEST_F(TruthCliTest, SnapshotVerifyRestoreVersionDoctorWithNonUtf8PathsPrintValidJson) {
  const std::string dir = Latin1Dir();
  const std::string db = dir + "/app.db";
  CreateTable(db);
  ASSERT_EQ(Cli({"exec", db, "INSERT INTO t(k) VALUES('one')"}).exit_code, 0);

  json snap = RunJson({"snapshot", db, dir + "/snaps\xfe"});
  ASSERT_EQ(snap["ok"], true);
  const std::string snapshot = snap["snapshot"].get<std::string>();
  EXPECT_THAT(snapshot, HasSubstr(kReplacement));
  // The JSON path is for reading; the real one is the only file there.
  std::string real_snapshot;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/snaps\xfe")) {
    if (entry.path().extension() == ".db") real_snapshot = entry.path().string();
  }
  ASSERT_FALSE(real_snapshot.empty());

  json verified = RunJson({"verify", real_snapshot});
  EXPECT_EQ(verified["ok"], true);

  const std::string target = dir + "/restored\xff.db";
  json restored = RunJson({"restore", real_snapshot, target});
  EXPECT_EQ(restored["ok"], true);
  EXPECT_EQ(testing::CountRows(target, "t"), 1);

  json version = RunJson({"version", db});
  EXPECT_EQ(version["schema_version"], 0);
  EXPECT_THAT(version["database"].get<std::string>(), HasSubstr(kReplacement));

  // Doctor's exit code is its verdict (the temporary directory's mode may
  // earn a warning); what matters is that the report is whole JSON.
  CliResult doctor = Cli({"doctor", db, "--json", "--no-quick-check"});
  json report = json::parse(doctor.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << Dump(doctor);
  EXPECT_EQ(report["exit_code"], doctor.exit_code);
  EXPECT_THAT(report["path"].get<std::string>(), HasSubstr(kReplacement));
}

TEST_F(TruthCliTest, StatusAndHandoverWithNonUtf8PathPrintValidJson) {
  const std::string db = Latin1Dir() + "/app.db";
  CreateTable(db);
  Child owner({"open-exclusive", db});
  ASSERT_EQ(AnnouncedLine(owner).rfind("open ", 0), 0U);

  json status = RunJson({"status", db});
  EXPECT_EQ(status["owner"]["pid"], owner.pid());
  EXPECT_THAT(status["sidecar"].get<std::string>(), HasSubstr(kReplacement));

  json handover = RunJson({"handover", db, "--timeout", "10"});
  EXPECT_EQ(handover["ok"], true);
  ASSERT_EQ(handover["stepped_down"].size(), 1U);
  EXPECT_EQ(handover["stepped_down"][0]["pid"], owner.pid());
  owner.CloseStdin();
  EXPECT_EQ(owner.Wait(), 0);

  json none = RunJson({"handover", db});
  EXPECT_EQ(none["nothing_to_hand_over"], true);
  EXPECT_THAT(none["message"].get<std::string>(), HasSubstr(kReplacement));
}

// --------------------------- class 1: nothing after the commit fails it

TEST_F(TruthCliTest, ExecWhoseOutputCannotBeWrittenStillExitsZeroAfterItsCommit) {
  const std::string db = dir_.File("app.db");
  CreateTable(db);
  CliResult run = RunToFullDisk({"exec", db, "INSERT INTO t(k) VALUES('x')", "--json"});
  EXPECT_EQ(run.exit_code, 0) << Dump(run);
  EXPECT_THAT(run.err, HasSubstr("warning: exec was done, but its output could not be written"));
  EXPECT_EQ(testing::CountRows(db, "t"), 1) << "committed exactly once";
}

TEST_F(TruthCliTest, QueryWhoseOutputCannotBeWrittenFails) {
  const std::string db = dir_.File("app.db");
  CreateTable(db);
  CliResult run = RunToFullDisk({"query", db, "SELECT 1", "--json"});
  EXPECT_EQ(run.exit_code, 1) << Dump(run);
  EXPECT_THAT(run.err, HasSubstr("error: writing standard output"));
  EXPECT_THAT(run.err, HasSubstr("(resource_exhausted"));
}

// -------------------------------------------- class 8a: seconds flags

TEST_F(TruthCliTest, SecondsFlagsRefuseNonFiniteNegativeZeroAndAbsurdValues) {
  const std::string db = dir_.File("app.db");
  CreateTable(db);
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"exec", db, "SELECT 1", "--timeout", "nan"}, "--timeout"},
      {{"exec", db, "SELECT 1", "--timeout", "inf"}, "--timeout"},
      {{"exec", db, "SELECT 1", "--timeout", "0"}, "--timeout"},
      {{"exec", db, "SELECT 1", "--wait-for-owner", "-1"}, "--wait-for-owner"},
      {{"query", db, "SELECT 1", "--timeout", "1e300"}, "--timeout"},
      {{"query", db, "SELECT 1", "--wait-for-owner", "nan"}, "--wait-for-owner"},
      {{"migrate", db, "--dir", dir_.path(), "--timeout", "-1"}, "--timeout"},
      {{"snapshot", db, dir_.File("snaps"), "--timeout", "inf"}, "--timeout"},
      {{"handover", db, "--timeout", "604801"}, "--timeout"},
      {{"restore", dir_.File("x.db"), db, "--handover-timeout", "nan"}, "--handover-timeout"},
  };
  for (const Case& c : cases) {
    CliResult run = Cli(c.args);
    EXPECT_GE(run.exit_code, 100) << Dump(run);
    EXPECT_THAT(run.err, HasSubstr(c.flag)) << Dump(run);
    EXPECT_THAT(run.err, HasSubstr("up to one week")) << Dump(run);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.File("snaps")));
  // 0 means "at once" where it means something, and the maximum is allowed.
  CliResult at_once = Cli({"exec", db, "SELECT 1", "--wait-for-owner", "0", "--timeout", "604800"});
  EXPECT_EQ(at_once.exit_code, 0) << Dump(at_once);
}

TEST_F(TruthCliTest, RestoreWithAnInvalidTimeoutCreatesNoTarget) {
  const std::string db = dir_.File("app.db");
  CreateTable(db);
  json snap = RunJson({"snapshot", db, dir_.File("snaps")});
  ASSERT_EQ(snap["ok"], true);
  const std::string target = dir_.File("target.db");
  for (const char* bad : {"0", "nan", "-5", "1e300"}) {
    CliResult run = Cli({"restore", snap["snapshot"].get<std::string>(), target, "--timeout", bad});
    EXPECT_GE(run.exit_code, 100) << Dump(run);
    EXPECT_THAT(run.err, HasSubstr("--timeout")) << Dump(run);
    EXPECT_FALSE(std::filesystem::exists(target)) << bad;
    EXPECT_FALSE(std::filesystem::exists(target + "-steward")) << bad;
  }
}

// -------------------------------------- class 8b: control characters

TEST_F(TruthCliTest, QueryTableEscapesEscapeAndCarriageReturnInStoredValues) {
  const std::string db = dir_.File("app.db");
  CreateTable(db);
  ASSERT_EQ(Cli({"exec", db, "INSERT INTO t(k) VALUES(?)", "--text-param",
                 "\x1b[2Jgone\rfake\x9b" "1m"})
                .exit_code,
            0);
  CliResult run = Cli({"query", db, "SELECT k FROM t"});
  ASSERT_EQ(run.exit_code, 0) << Dump(run);
  EXPECT_THAT(run.out, HasSubstr("\\x1b[2Jgone\\rfake\\x9b1m"));
  EXPECT_EQ(run.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(run.out.find('\r'), std::string::npos);
}

TEST_F(TruthCliTest, PathsAndErrorMessagesWithControlCharactersAreEscaped) {
  const std::string dir = dir_.File("evil\x1b]0;owned\x07\r");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string db = dir + "/app.db";
  CreateTable(db);

  CliResult status = Cli({"status", db});
  ASSERT_EQ(status.exit_code, 0) << Dump(status);
  EXPECT_THAT(status.out, HasSubstr("evil\\x1b]0;owned\\x07\\r/app.db"));

  // An error message quoting the SQL, from SQLite, on stderr.
  CliResult bad = Cli({"exec", db, "SELECT 1 \x1b[31m"});
  EXPECT_EQ(bad.exit_code, 1) << Dump(bad);
  EXPECT_THAT(bad.err, HasSubstr("\\x1b"));

  for (const CliResult* run : {&status, &bad}) {
    EXPECT_EQ(run->out.find('\x1b'), std::string::npos) << Dump(*run);
    EXPECT_EQ(run->err.find('\x1b'), std::string::npos) << Dump(*run);
    EXPECT_EQ(run->out.find('\x07'), std::string::npos) << Dump(*run);
  }
}

TEST_F(TruthCliTest, VerifyEscapesControlCharactersFromTheManifest) {
  const std::string db = dir_.File("app.db");
  CreateTable(db);
  json snap = RunJson({"snapshot", db, dir_.File("snaps")});
  const std::string manifest_path = snap["manifest_path"].get<std::string>();
  // A manifest written elsewhere: its source is whatever that host said.
  json manifest = json::parse(std::ifstream(manifest_path));
  manifest["source"] = "/srv/\x1b[2Japp.db\r";
  std::ofstream(manifest_path, std::ios::trunc) << manifest.dump();

  CliResult run = Cli({"verify", snap["snapshot"].get<std::string>()});
  ASSERT_EQ(run.exit_code, 0) << Dump(run);
  EXPECT_THAT(run.out, HasSubstr("from /srv/\\x1b[2Japp.db\\r"));
  EXPECT_EQ(run.out.find('\x1b'), std::string::npos);
}

// ------------------------------- class 8c: no hint names Options::

TEST_F(TruthCliTest, NoErrorTheCliCanReachNamesALibraryOption) {
  const std::string db = dir_.File("app.db");
  CreateTable(db);
  const std::string snapshots = dir_.File("snaps");
  json snap = RunJson({"snapshot", db, snapshots});
  const std::string snapshot = snap["snapshot"].get<std::string>();

  struct Case {
    std::vector<std::string> args;
    std::string code;
    std::string hint_part;
  };
  auto check = [](const Case& c) {
    std::vector<std::string> args = c.args;
    args.push_back("--json");
    CliResult run = Cli(args);
    EXPECT_EQ(run.exit_code, 1) << Dump(run);
    json doc = json::parse(run.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << Dump(run);
    EXPECT_EQ(doc["error"]["code"], c.code) << Dump(run);
    EXPECT_THAT(doc["error"]["hint"].get<std::string>(), HasSubstr(c.hint_part)) << Dump(run);
    EXPECT_THAT(run.out + run.err, Not(HasSubstr("Options::"))) << Dump(run);
    // main() prints the same hint the JSON carries.
    EXPECT_THAT(run.err, HasSubstr("hint: " + doc["error"]["hint"].get<std::string>()))
        << Dump(run);
  };

  // Without an owner.
  check({{"exec", dir_.File("no/such/dir.db"), "CREATE TABLE x(a)"}, "not_found", "--create"});
  check({{"version", dir_.File("no/such/dir.db")}, "not_found", "check the path"});
  check({{"exec", db, "PRAGMA journal_mode=delete"}, "invalid_argument", "remove the PRAGMA"});
  check({{"exec", db, "PRAGMA foreign_keys=OFF"}, "invalid_argument", "defer_foreign_keys"});
  {
    // The write lock held by another process past --timeout.
    Child holder({"hold-write-lock", db});
    ASSERT_EQ(AnnouncedLine(holder).rfind("holding ", 0), 0U);
    check({{"exec", db, "INSERT INTO t(k) VALUES('late')", "--timeout", "0.3"},
           "timeout",
           "--timeout"});
    holder.CloseStdin();
    EXPECT_EQ(holder.Wait(), 0);
  }

  // With an exclusive owner.
  Child owner({"open-exclusive", db});
  ASSERT_EQ(AnnouncedLine(owner).rfind("open ", 0), 0U);
  check({{"exec", db, "INSERT INTO t(k) VALUES('x')"}, "unavailable", "--wait-for-owner"});
  const std::string migrations = dir_.File("migrations");
  ASSERT_EQ(::mkdir(migrations.c_str(), 0700), 0);
  std::ofstream(migrations + "/0001_x.sql") << "CREATE TABLE x(a);\n";
  check({{"migrate", db, "--dir", migrations}, "unavailable", "sqlsteward handover"});
  check({{"snapshot", db, snapshots}, "unavailable", "sqlsteward handover"});
  check({{"restore", snapshot, db}, "failed_precondition", "--take-over"});
  owner.CloseStdin();
  EXPECT_EQ(owner.Wait(), 0);
  EXPECT_EQ(testing::CountRows(db, "t"), 0);
}

// ------------------------------------------- class 8d: unknown command

// registry_cli_test's CliHelpTest.UnknownCommandIsNamedAsUnknown pins exit
// 109 and the message; here the same for a word after a valid one's slot.
TEST_F(TruthCliTest, UnknownCommandExitsWithAUsageError) {
  CliResult run = Cli({"snapshots", dir_.File("app.db")});
  EXPECT_EQ(run.exit_code, 109) << Dump(run);
  EXPECT_THAT(run.err, HasSubstr("unknown command: snapshots"));
}

}  // namespace
}  // namespace sqlsteward
