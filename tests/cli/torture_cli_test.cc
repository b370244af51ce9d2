// `sqlsteward torture` end to end: the built CLI runs its real worker
// processes, kills them with SIGKILL and checks its database, on the local
// disk and through two bindfs mounts of one directory (two lock domains:
// refused or safe, never a loss). Usage errors are typed. That the check
// can fail is shown in torture_check_test.cc. The bindfs test needs bindfs
// and /dev/fuse, like tests/multiprocess/lock_domain_test.cc, and fails,
// not skips, without them.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::nlohmann::json;
using ::testing::AnyOf;
using testing::CliResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TempDir;

constexpr const char* kDb = "sqlsteward-torture.db";

CliResult Cli(const std::vector<std::string>& args) {
  return testing::RunCli(SQLSTEWARD_CLI, args);
}

std::string Dump(const CliResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

struct JsonRun {
  CliResult run;
  json doc;
};

JsonRun RunJson(std::vector<std::string> args) {
  args.insert(args.begin(), "torture");
  args.push_back("--json");
  JsonRun r{Cli(args), {}};
  r.doc = json::parse(r.run.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(r.doc.is_discarded()) << "stdout is not JSON:\n" << Dump(r.run);
  return r;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

// The figure in small: 20 kill cycles of 4 processes on the local
// disk, nothing lost, the counts in --json, and nothing left behind.
TEST(TortureCliTest, LocalRunLosesNothingAndReportsTheCounts) {
  TempDir dir;
  JsonRun r = RunJson({dir.path(), "--cycles", "20", "--processes", "4", "--seed", "13"});
  ASSERT_EQ(r.run.exit_code, 0) << Dump(r.run);
  const json& d = r.doc;
  EXPECT_EQ(d["verdict"], "safe") << Dump(r.run);
  EXPECT_EQ(d["ok"], true);
  EXPECT_EQ(d["exit_code"], 0);
  EXPECT_EQ(d["seed"], 13);
  EXPECT_EQ(d["processes"], 4);
  EXPECT_EQ(d["cycles"], 20);
  EXPECT_EQ(d["cycles_requested"], 20);
  // Every worker acknowledged a write before it was killed, so each
  // cycle killed four running writers and checked at least four writes.
  EXPECT_EQ(d["kills"], 80);
  EXPECT_GE(d["acknowledged"].get<int>(), 80);
  EXPECT_GE(d["rows"], d["acknowledged"]);
  EXPECT_EQ(d["lost"], 0);
  EXPECT_EQ(d["gaps"], 0);
  EXPECT_EQ(d["duplicates"], 0);
  EXPECT_EQ(d["corrupt"], 0);
  EXPECT_EQ(d["integrity_check"], json::array({"ok"}));
  EXPECT_EQ(d["refused"], 0);
  EXPECT_EQ(d["write_errors"], 0);
  EXPECT_EQ(d["files_kept"], false);
  EXPECT_THAT(Names(dir.path()), IsEmpty());
}

// --keep leaves the database for inspection; the next run recognises it
// as its own and starts afresh, and the text report says SAFE.
TEST(TortureCliTest, KeptFilesAreRecognisedAndReplacedByTheNextRun) {
  TempDir dir;
  JsonRun kept = RunJson({dir.path(), "--cycles", "2", "--keep"});
  ASSERT_EQ(kept.run.exit_code, 0) << Dump(kept.run);
  EXPECT_EQ(kept.doc["files_kept"], true);
  EXPECT_TRUE(std::filesystem::exists(dir.File(kDb)));
  EXPECT_EQ(testing::IntegrityCheck(dir.File(kDb)), "ok");
  EXPECT_EQ(testing::CountRows(dir.File(kDb), "torture_writes"), kept.doc["rows"].get<long long>());

  CliResult text = Cli({"torture", dir.path(), "--cycles", "2", "--seed", "7"});
  ASSERT_EQ(text.exit_code, 0) << Dump(text);
  EXPECT_THAT(text.out, HasSubstr("seed 7"));
  EXPECT_THAT(text.out, HasSubstr("removed the previous run's files"));
  EXPECT_THAT(text.out, HasSubstr("SAFE: 2 cycles"));
  EXPECT_THAT(Names(dir.path()), IsEmpty());
}

// Two bindfs mounts of one directory are two lock domains: sqlsteward must
// refuse the second (or, were they one domain, share safely); a loss is
// the one outcome that may not happen.
TEST(TortureCliTest, TwoBindfsMountsAreRefusedOrSafeNeverALoss) {
  TempDir dir;
  const std::string source = dir.File("source");
  const std::string a = dir.File("a");
  const std::string b = dir.File("b");
  for (const std::string& d : {source, a, b}) ASSERT_TRUE(std::filesystem::create_directory(d));
  testing::BindfsMount mount_a(source, a);
  ASSERT_THAT(mount_a.error(), IsEmpty());
  testing::BindfsMount mount_b(source, b);
  ASSERT_THAT(mount_b.error(), IsEmpty());

  JsonRun r = RunJson({"--two-mounts", a, b, "--cycles", "8"});
  std::printf("two bindfs mounts: verdict %s, %d refusals, %d acknowledged, %d lost\n",
              r.doc.value("verdict", "?").c_str(), r.doc.value("refused", -1),
              r.doc.value("acknowledged", -1), r.doc.value("lost", -1));
  ASSERT_EQ(r.run.exit_code, 0) << Dump(r.run);
  EXPECT_THAT(r.doc["verdict"].get<std::string>(), AnyOf("refused", "safe"));
  EXPECT_EQ(r.doc["two_mounts"], json::array({a, b}));
  EXPECT_EQ(r.doc["journal_mode"], "delete");  // FUSE: no WAL
  EXPECT_EQ(r.doc["cycles"], 8);
  EXPECT_GT(r.doc["acknowledged"].get<int>(), 0);
  EXPECT_EQ(r.doc["lost"], 0);
  EXPECT_EQ(r.doc["gaps"], 0);
  EXPECT_EQ(r.doc["duplicates"], 0);
  EXPECT_EQ(r.doc["corrupt"], 0);
  if (r.doc["verdict"] == "refused") {
    EXPECT_GT(r.doc["refused"].get<int>(), 0);
    EXPECT_EQ(r.doc["refusal"]["code"], "failed_precondition");
    EXPECT_THAT(r.doc["refusal"]["message"].get<std::string>(), HasSubstr("another lock domain"));
  }
  EXPECT_THAT(Names(source), IsEmpty());
}

// A mistake the user can make is a typed error before anything is created:
// exit 2 (not 1, which means unsafe), the code in --json, a hint.
TEST(TortureCliTest, SetupErrorsAreTypedAndTouchNothing) {
  TempDir dir;
  const std::string file = dir.File("file");
  std::ofstream(file) << "x";
  struct Case {
    std::vector<std::string> args;
    std::string code;
    std::string says;
  };
  const std::string other = dir.File("other");
  ASSERT_TRUE(std::filesystem::create_directory(other));
  const std::vector<Case> cases = {
      {{dir.File("missing")}, "not_found", "does not exist"},
      {{file}, "invalid_argument", "is not a directory"},
      {{"--two-mounts", dir.path(), other}, "invalid_argument", "are not one directory"},
      {{"--two-mounts", dir.path(), dir.path() + "/."}, "invalid_argument", "the same path"},
  };
  for (const Case& c : cases) {
    JsonRun r = RunJson(c.args);
    EXPECT_EQ(r.run.exit_code, 2) << Dump(r.run);
    EXPECT_EQ(r.doc["ok"], false);
    EXPECT_EQ(r.doc["verdict"], "error");
    EXPECT_EQ(r.doc["error"]["code"], c.code) << Dump(r.run);
    EXPECT_THAT(r.doc["error"]["message"].get<std::string>(), HasSubstr(c.says));
    EXPECT_FALSE(r.doc["error"]["hint"].get<std::string>().empty());
    EXPECT_THAT(r.run.err, HasSubstr("hint: "));
  }
  EXPECT_THAT(Names(other), IsEmpty());
}

// Its one file name holding something else (a user's database, any file)
// is refused and left byte for byte as it was.
TEST(TortureCliTest, AFileTortureDidNotCreateIsRefusedAndLeftAlone) {
  TempDir dir;
  const std::string db = dir.File(kDb);
  testing::RawQuery(db, "CREATE TABLE users(name TEXT); INSERT INTO users VALUES ('ada');");
  const std::string before = testing::DumpDatabase(db);
  JsonRun r = RunJson({dir.path(), "--cycles", "1"});
  EXPECT_EQ(r.run.exit_code, 2) << Dump(r.run);
  EXPECT_EQ(r.doc["error"]["code"], "failed_precondition");
  EXPECT_THAT(r.doc["error"]["message"].get<std::string>(), HasSubstr("not a database"));
  EXPECT_EQ(testing::DumpDatabase(db), before);
  EXPECT_THAT(Names(dir.path()), ElementsAre(kDb));
}

// Wrong command lines are usage errors (exit 100 or more) from the parser.
TEST(TortureCliTest, CommandLineMistakesAreUsageErrors) {
  TempDir dir;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"torture"},
           {"torture", dir.path(), "--cycles", "3", "--seconds", "2"},
           {"torture", dir.path(), "--processes", "0"},
           {"torture", dir.path(), "--seconds", "nan"},
           {"torture", dir.path(), "--two-mounts", dir.path(), dir.path()},
       }) {
    CliResult run = Cli(args);
    EXPECT_GE(run.exit_code, 100) << Dump(run);
  }
  EXPECT_THAT(Names(dir.path()), IsEmpty());
}

}  // namespace
}  // namespace sqlsteward
