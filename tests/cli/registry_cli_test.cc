// `sqlsteward status`, `handover`, `exec` and `query` end to end: the built
// CLI runs as a child process against databases held open by real helper
// processes (tests/support/test_helper.cc); the --json output is parsed and
// specific fields are checked (docs/cli.md is the contract), and the
// registry is read back through the library where the CLI claims an effect.
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/sqlsteward.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::nlohmann::json;
using testing::Child;
using testing::CliResult;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TempDir;

struct JsonRun {
  int exit_code = -1;
  json doc;
  std::string out;
  std::string err;
};

// Runs the CLI with --json appended and parses stdout.
JsonRun RunJson(std::vector<std::string> args) {
  args.push_back("--json");
  CliResult run = testing::RunCli(SQLSTEWARD_CLI, args);
  JsonRun result{run.exit_code, json::parse(run.out, nullptr, /*allow_exceptions=*/false),
                 run.out, run.err};
  EXPECT_FALSE(result.doc.is_discarded()) << "stdout is not JSON:\n" << run.out << run.err;
  return result;
}

std::string Dump(const JsonRun& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

std::string HostName() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// The pid a helper announces in its first line ("open 123", "holding 123").
int AnnouncedPid(Child& child, const std::string& word) {
  std::string line = child.ReadLine();
  EXPECT_EQ(line.rfind(word + " ", 0), 0U) << "helper said: " << line;
  return line.size() > word.size() ? std::stoi(line.substr(word.size() + 1)) : -1;
}

// Live instances of `db` as the library sees them, by pid. Every caller has
// opened `db` through the library first, so its registry must be there: a
// missing one is a failure, never an empty set that passes IsEmpty().
std::set<int> LivePids(const std::string& db) {
  std::set<int> pids;
  auto reg = ReadRegistry(db);
  if (!reg.has_value()) {
    ADD_FAILURE() << "no registry for " << db << ": " << reg.error().ToString();
    return pids;
  }
  for (const InstanceInfo& info : reg->instances) {
    if (info.domain == InstanceDomain::kThisDomain || info.domain == InstanceDomain::kOtherDomain) {
      pids.insert(info.pid);
    }
  }
  return pids;
}

class RegistryCliTest : public ::testing::Test {
 protected:
  // A database with table t, created through the CLI; no instance stays open.
  void CreateTable() {
    JsonRun run = RunJson({"exec", db_, "--create",
                           "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data "
                           "BLOB)"});
    ASSERT_EQ(run.exit_code, 0) << Dump(run);
  }

  TempDir dir_;
  std::string db_ = dir_.File("app.db");
};

// ------------------------------------------------------------------ status

TEST_F(RegistryCliTest, StatusOfANeverOpenedDatabaseSaysSoAndSucceeds) {
  JsonRun run = RunJson({"status", db_});
  ASSERT_EQ(run.exit_code, 0) << Dump(run);
  EXPECT_EQ(run.doc["ok"], true);
  EXPECT_EQ(run.doc["opened"], false);
  EXPECT_EQ(run.doc["database_exists"], false);
  EXPECT_EQ(run.doc["instances"], json::array());
  EXPECT_EQ(run.doc["live_instances"], 0);
  EXPECT_TRUE(run.doc["owner"].is_null());
  EXPECT_EQ(run.doc["write_lock"]["held"], false);
  EXPECT_TRUE(run.doc["write_lock"]["pid"].is_null());

  CliResult text = testing::RunCli(SQLSTEWARD_CLI, {"status", db_});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("no sqlsteward instance has opened this database"));
  EXPECT_FALSE(std::filesystem::exists(db_)) << "status must not create the database";
}

TEST_F(RegistryCliTest, StatusListsTwoInstancesAndTheWriteLockHolder) {
  CreateTable();
  // The shared instance opens first: Open takes the write lock briefly, and
  // the holder below keeps it.
  Child shared({"try-open", db_});
  ASSERT_EQ(shared.ReadLine(), "barrier");
  shared.Send("g");
  ASSERT_EQ(shared.ReadLine(), "ok");
  Child holder({"hold-write-lock", db_});
  const int holder_pid = AnnouncedPid(holder, "holding");
  ASSERT_EQ(holder_pid, holder.pid());

  JsonRun run = RunJson({"status", db_});
  ASSERT_EQ(run.exit_code, 0) << Dump(run);
  EXPECT_EQ(run.doc["opened"], true);
  EXPECT_EQ(run.doc["live_instances"], 2);
  ASSERT_EQ(run.doc["instances"].size(), 2U) << Dump(run);
  std::set<int> pids;
  std::set<int> slots;
  for (const json& inst : run.doc["instances"]) {
    pids.insert(inst["pid"].get<int>());
    slots.insert(inst["slot"].get<int>());
    EXPECT_EQ(inst["host"], HostName());
    EXPECT_EQ(inst["ownership"], "shared");
    EXPECT_EQ(inst["state"], "running");
    EXPECT_EQ(inst["domain"], "this");
    EXPECT_EQ(inst["live"], true);
    EXPECT_GT(inst["started_unix_ms"].get<std::int64_t>(), 0);
    EXPECT_GE(inst["heartbeat"].get<std::uint64_t>(), 1U);
    // The heartbeat advances every 50 ms; allow for a slow machine.
    EXPECT_LT(inst["heartbeat_age_ms"].get<std::int64_t>(), 5'000);
  }
  EXPECT_EQ(pids, (std::set<int>{shared.pid(), holder.pid()}));
  EXPECT_EQ(slots.size(), 2U);
  EXPECT_TRUE(run.doc["owner"].is_null()) << "shared instances have no owner";

  const json& lock = run.doc["write_lock"];
  EXPECT_EQ(lock["held"], true);
  EXPECT_EQ(lock["pid"], holder.pid());
  EXPECT_EQ(lock["host"], HostName());
  EXPECT_GT(lock["since_unix_ms"].get<std::int64_t>(), 0);
  EXPECT_GE(lock["held_ms"].get<std::int64_t>(), 0);
  EXPECT_EQ(lock["purpose"], "");
  EXPECT_EQ(run.doc["notices"], json::array());

  CliResult text = testing::RunCli(SQLSTEWARD_CLI, {"status", db_});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("2 live instances"));
  EXPECT_THAT(text.out, HasSubstr("held by pid " + std::to_string(holder.pid())));

  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  // Its Close() checkpoints under the write lock once more: wait for the exit.
  EXPECT_EQ(holder.Wait(), 0);
  JsonRun after = RunJson({"status", db_});
  ASSERT_EQ(after.exit_code, 0) << Dump(after);
  EXPECT_EQ(after.doc["write_lock"]["held"], false);
  EXPECT_TRUE(after.doc["write_lock"]["pid"].is_null());
}

TEST_F(RegistryCliTest, StatusNamesTheExclusiveOwner) {
  CreateTable();
  Child owner({"open-exclusive", db_});
  ASSERT_EQ(AnnouncedPid(owner, "open"), owner.pid());

  JsonRun run = RunJson({"status", db_});
  ASSERT_EQ(run.exit_code, 0) << Dump(run);
  ASSERT_TRUE(run.doc["owner"].is_object()) << Dump(run);
  EXPECT_EQ(run.doc["owner"]["pid"], owner.pid());
  EXPECT_EQ(run.doc["owner"]["ownership"], "exclusive");
  EXPECT_EQ(run.doc["owner"]["domain"], "this");
  ASSERT_EQ(run.doc["instances"].size(), 1U);
  EXPECT_EQ(run.doc["instances"][0]["slot"], run.doc["owner"]["slot"]);
  EXPECT_EQ(run.doc["write_lock"]["held"], false);

  CliResult text = testing::RunCli(SQLSTEWARD_CLI, {"status", db_});
  EXPECT_THAT(text.out, HasSubstr("owned exclusively by pid " + std::to_string(owner.pid())));
}

// Two bindfs mounts of one directory are two lock domains (DESIGN.md, "When
// locks do not propagate"). Needs bindfs and /dev/fuse, like
// tests/multiprocess/lock_domain_test.cc, and fails without them.
TEST_F(RegistryCliTest, StatusAndHandoverThroughAnotherMountNameTheOtherLockDomain) {
  const std::string source = dir_.File("source");
  const std::string a = dir_.File("a");
  const std::string b = dir_.File("b");
  for (const std::string& d : {source, a, b}) ASSERT_TRUE(std::filesystem::create_directory(d));
  {
    testing::BindfsMount mount_a(source, a);
    ASSERT_THAT(mount_a.error(), IsEmpty());
    testing::BindfsMount mount_b(source, b);
    ASSERT_THAT(mount_b.error(), IsEmpty());

    Child user({"try-open", a + "/app.db"});
    ASSERT_EQ(user.ReadLine(), "barrier");
    user.Send("g");
    ASSERT_EQ(user.ReadLine(), "ok");

    JsonRun run = RunJson({"status", b + "/app.db"});
    ASSERT_EQ(run.exit_code, 0) << Dump(run);
    ASSERT_EQ(run.doc["instances"].size(), 1U) << Dump(run);
    EXPECT_EQ(run.doc["instances"][0]["pid"], user.pid());
    EXPECT_EQ(run.doc["instances"][0]["domain"], "other");
    EXPECT_EQ(run.doc["instances"][0]["live"], true);
    ASSERT_EQ(run.doc["notices"].size(), 1U) << Dump(run);
    const json& notice = run.doc["notices"][0];
    EXPECT_EQ(notice["id"], "instance.other_domain");
    EXPECT_EQ(notice["severity"], "warning");
    EXPECT_EQ(notice["slot"], run.doc["instances"][0]["slot"]);
    EXPECT_THAT(notice["message"].get<std::string>(), HasSubstr("another lock domain"));
    EXPECT_THAT(notice["hint"].get<std::string>(), HasSubstr("one mount"));

    // Through its own mount it is an ordinary instance.
    JsonRun same = RunJson({"status", a + "/app.db"});
    ASSERT_EQ(same.exit_code, 0) << Dump(same);
    EXPECT_EQ(same.doc["instances"][0]["domain"], "this");
    EXPECT_EQ(same.doc["notices"], json::array());

    CliResult text = testing::RunCli(SQLSTEWARD_CLI, {"status", b + "/app.db"});
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_THAT(text.out, HasSubstr("WARNING: pid " + std::to_string(user.pid())));

    // Its release cannot be waited for from here: refused, nobody asked.
    JsonRun handover = RunJson({"handover", b + "/app.db", "--all"});
    ASSERT_EQ(handover.exit_code, 1) << Dump(handover);
    EXPECT_EQ(handover.doc["error"]["code"], "failed_precondition");
    ASSERT_EQ(handover.doc["skipped"].size(), 1U);
    EXPECT_EQ(handover.doc["skipped"][0]["pid"], user.pid());
    EXPECT_EQ(handover.doc["requested"], json::array());
    EXPECT_EQ(LivePids(a + "/app.db"), std::set<int>{user.pid()});
  }
}

// ---------------------------------------------------------------- handover

TEST_F(RegistryCliTest, HandoverStepsDownALiveExclusiveOwner) {
  CreateTable();
  Child owner({"open-exclusive", db_});
  ASSERT_EQ(AnnouncedPid(owner, "open"), owner.pid());
  ASSERT_EQ(LivePids(db_), std::set<int>{owner.pid()});

  JsonRun run = RunJson({"handover", db_, "--timeout", "10"});
  ASSERT_EQ(run.exit_code, 0) << Dump(run);
  EXPECT_EQ(run.doc["ok"], true);
  EXPECT_EQ(run.doc["nothing_to_hand_over"], false);
  ASSERT_EQ(run.doc["requested"].size(), 1U);
  EXPECT_EQ(run.doc["requested"][0]["pid"], owner.pid());
  ASSERT_EQ(run.doc["stepped_down"].size(), 1U) << Dump(run);
  EXPECT_EQ(run.doc["stepped_down"][0]["pid"], owner.pid());
  EXPECT_EQ(run.doc["still_running"], json::array());
  EXPECT_TRUE(run.doc["error"].is_null());
  EXPECT_LT(run.doc["elapsed_ms"].get<std::int64_t>(), 10'000);

  // The instance is gone from the registry; its process keeps running.
  EXPECT_THAT(LivePids(db_), IsEmpty());
  EXPECT_EQ(::kill(owner.pid(), 0), 0);
  // And the database is free for a writer at once.
  JsonRun write = RunJson({"exec", db_, "INSERT INTO t(name) VALUES('after')"});
  EXPECT_EQ(write.exit_code, 0) << Dump(write);
}

TEST_F(RegistryCliTest, HandoverWithoutAnOwnerHasNothingToDo) {
  JsonRun never = RunJson({"handover", db_});
  ASSERT_EQ(never.exit_code, 0) << Dump(never);
  EXPECT_EQ(never.doc["nothing_to_hand_over"], true);
  EXPECT_THAT(never.doc["message"].get<std::string>(), HasSubstr("no sqlsteward instance"));

  CreateTable();
  Child shared({"try-open", db_});
  ASSERT_EQ(shared.ReadLine(), "barrier");
  shared.Send("g");
  ASSERT_EQ(shared.ReadLine(), "ok");

  JsonRun run = RunJson({"handover", db_});
  ASSERT_EQ(run.exit_code, 0) << Dump(run);
  EXPECT_EQ(run.doc["ok"], true);
  EXPECT_EQ(run.doc["nothing_to_hand_over"], true);
  EXPECT_THAT(run.doc["message"].get<std::string>(), HasSubstr("no instance owns"));
  EXPECT_THAT(run.doc["message"].get<std::string>(), HasSubstr("--all"));
  EXPECT_EQ(run.doc["requested"], json::array());
  EXPECT_EQ(LivePids(db_), std::set<int>{shared.pid()}) << "a shared instance is left alone";

  CliResult text = testing::RunCli(SQLSTEWARD_CLI, {"handover", db_});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("Nothing to hand over"));

  // --all asks the shared instance too.
  JsonRun all = RunJson({"handover", db_, "--all"});
  ASSERT_EQ(all.exit_code, 0) << Dump(all);
  ASSERT_EQ(all.doc["stepped_down"].size(), 1U) << Dump(all);
  EXPECT_EQ(all.doc["stepped_down"][0]["pid"], shared.pid());
  EXPECT_THAT(LivePids(db_), IsEmpty());
}

TEST_F(RegistryCliTest, HandoverTimeoutNamesTheInstanceThatDidNotStepDown) {
  CreateTable();
  Child owner({"open-exclusive", db_});
  ASSERT_EQ(AnnouncedPid(owner, "open"), owner.pid());
  // A stopped process keeps its slot lock but never sees the request.
  owner.Kill(SIGSTOP);

  JsonRun run = RunJson({"handover", db_, "--timeout", "0.5"});
  owner.Kill(SIGKILL);
  ASSERT_EQ(run.exit_code, 1) << Dump(run);
  EXPECT_EQ(run.doc["ok"], false);
  ASSERT_TRUE(run.doc["error"].is_object()) << Dump(run);
  EXPECT_EQ(run.doc["error"]["code"], "timeout");
  EXPECT_THAT(run.doc["error"]["message"].get<std::string>(),
              HasSubstr("pid " + std::to_string(owner.pid())));
  ASSERT_EQ(run.doc["still_running"].size(), 1U) << Dump(run);
  EXPECT_EQ(run.doc["still_running"][0]["pid"], owner.pid());
  EXPECT_EQ(run.doc["stepped_down"], json::array());
  EXPECT_GE(run.doc["elapsed_ms"].get<std::int64_t>(), 400);
  EXPECT_THAT(run.err, HasSubstr("(timeout)"));
  EXPECT_THAT(run.err, HasSubstr("hint:"));
}

// ------------------------------------------------------------ exec / query

TEST_F(RegistryCliTest, ExecAndQueryRoundTripWithTypedValues) {
  CreateTable();
  JsonRun insert = RunJson({"exec", db_, "INSERT INTO t(name, score, data) VALUES(?, ?, ?)",
                            "--param", "alice", "--param", "7", "--null-param"});
  ASSERT_EQ(insert.exit_code, 0) << Dump(insert);
  EXPECT_EQ(insert.doc["mode"], "statement");
  EXPECT_EQ(insert.doc["rows_changed"], 1);
  EXPECT_EQ(insert.doc["last_insert_rowid"], 1);
  EXPECT_EQ(insert.doc["params"], json::parse(R"(["alice", 7, null])"));

  // 007 stays text; 2.5 is text too (not an integer) and becomes a REAL by
  // the column's affinity.
  JsonRun second = RunJson({"exec", db_, "INSERT INTO t(id, name, score, data) VALUES(?, ?, ?, x'00ff')",
                            "--param", "10", "--text-param", "007", "--param", "2.5"});
  ASSERT_EQ(second.exit_code, 0) << Dump(second);
  EXPECT_EQ(second.doc["last_insert_rowid"], 10);
  EXPECT_EQ(second.doc["params"], json::parse(R"([10, "007", "2.5"])"));

  // Without parameters SQL is a script; rows_changed counts all of it.
  JsonRun script = RunJson(
      {"exec", db_, "UPDATE t SET score = score + 1 WHERE id = 1; INSERT INTO t(name) VALUES('carol');"});
  ASSERT_EQ(script.exit_code, 0) << Dump(script);
  EXPECT_EQ(script.doc["mode"], "script");
  EXPECT_EQ(script.doc["rows_changed"], 2);
  EXPECT_EQ(script.doc["last_insert_rowid"], 11);

  JsonRun query =
      RunJson({"query", db_, "SELECT id, name, score, data, typeof(score) FROM t ORDER BY id DESC"});
  ASSERT_EQ(query.exit_code, 0) << Dump(query);
  EXPECT_EQ(query.doc["ok"], true);
  EXPECT_EQ(query.doc["typed"], true);
  EXPECT_EQ(query.doc["row_count"], 3);
  ASSERT_EQ(query.doc["columns"].size(), 5U);
  for (int i = 0; i < 5; ++i) {
    const json& col = query.doc["columns"][static_cast<std::size_t>(i)];
    EXPECT_EQ(col["index"], i + 1);
    EXPECT_TRUE(col["name"].is_string());
  }
  EXPECT_EQ(query.doc["rows"], json::parse(R"([
      [11, "carol", null, null, "null"],
      [10, "007", 2.5, {"blob_hex": "00ff"}, "real"],
      [1, "alice", 8.0, null, "real"]])"));
  EXPECT_TRUE(query.doc["rows"][2][2].is_number_float());
  EXPECT_TRUE(query.doc["rows"][0][0].is_number_integer());

  // Parameter typing, seen by SQLite itself.
  JsonRun types = RunJson({"query", db_, "SELECT typeof(?), typeof(?), typeof(?), typeof(?), ?",
                           "--param", "42", "--param", "007", "--text-param", "42", "--param",
                           "-7", "--null-param"});
  ASSERT_EQ(types.exit_code, 0) << Dump(types);
  EXPECT_EQ(types.doc["rows"], json::parse(R"([["integer", "text", "text", "integer", null]])"));

  CliResult csv = testing::RunCli(
      SQLSTEWARD_CLI, {"query", db_, "SELECT name, 'a,\"b' FROM t WHERE id = ?", "--param", "1", "--csv"});
  EXPECT_EQ(csv.exit_code, 0) << csv.err;
  // Headers are the column names SQLite gives (an expression names itself).
  EXPECT_EQ(csv.out, "name,\"'a,\"\"b'\"\r\nalice,\"a,\"\"b\"\r\n");

  CliResult table = testing::RunCli(SQLSTEWARD_CLI, {"query", db_, "SELECT id, name FROM t ORDER BY id"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("alice"));
  EXPECT_THAT(table.out, HasSubstr("(3 rows)"));
}

TEST_F(RegistryCliTest, ExecConstraintViolationExitsWithCodeConstraint) {
  CreateTable();
  ASSERT_EQ(RunJson({"exec", db_, "INSERT INTO t(id, name) VALUES(1, 'a')"}).exit_code, 0);

  JsonRun run = RunJson({"exec", db_, "INSERT INTO t(id, name) VALUES(?, ?)", "--param", "1",
                         "--param", "b"});
  ASSERT_EQ(run.exit_code, 1) << Dump(run);
  EXPECT_EQ(run.doc["ok"], false);
  EXPECT_EQ(run.doc["error"]["code"], "constraint");
  EXPECT_EQ(run.doc["error"]["sqlite_code"].get<int>() & 0xff, SQLITE_CONSTRAINT);
  EXPECT_THAT(run.doc["error"]["hint"].get<std::string>(), ::testing::Not(IsEmpty()));
  EXPECT_THAT(run.err, HasSubstr("error: "));
  EXPECT_THAT(run.err, HasSubstr("(constraint, sqlite"));
  EXPECT_EQ(testing::CountRows(db_, "t"), 1);

  // A script fails as a whole: the first statement is rolled back too.
  JsonRun script = RunJson({"exec", db_,
                            "INSERT INTO t(id, name) VALUES(2, 'c'); INSERT INTO t(id) VALUES(1);"});
  ASSERT_EQ(script.exit_code, 1) << Dump(script);
  EXPECT_EQ(script.doc["error"]["code"], "constraint");
  EXPECT_EQ(testing::CountRows(db_, "t"), 1);
}

TEST_F(RegistryCliTest, ExecAndQueryAreRefusedWhileAnotherInstanceOwnsTheDatabase) {
  CreateTable();
  Child owner({"open-exclusive", db_});
  ASSERT_EQ(AnnouncedPid(owner, "open"), owner.pid());

  JsonRun run = RunJson({"exec", db_, "INSERT INTO t(name) VALUES('intruder')"});
  ASSERT_EQ(run.exit_code, 1) << Dump(run);
  EXPECT_EQ(run.doc["error"]["code"], "unavailable");
  EXPECT_THAT(run.doc["error"]["message"].get<std::string>(),
              HasSubstr("pid " + std::to_string(owner.pid())));
  EXPECT_THAT(run.doc["error"]["hint"].get<std::string>(), HasSubstr("sqlsteward handover"));
  EXPECT_THAT(run.err, HasSubstr("(unavailable)"));

  // A query reads beside the owner: it registers nothing and writes nothing.
  JsonRun query = RunJson({"query", db_, "SELECT count(*) FROM t"});
  ASSERT_EQ(query.exit_code, 0) << Dump(query);
  EXPECT_EQ(query.doc["rows"][0][0], 0);

  owner.CloseStdin();
  EXPECT_EQ(owner.Wait(), 0);
  EXPECT_EQ(testing::CountRows(db_, "t"), 0) << "nothing was written behind the owner's back";
}

TEST_F(RegistryCliTest, QueryRefusesWritesAndNeverCreatesADatabase) {
  CreateTable();
  JsonRun write = RunJson({"query", db_, "DELETE FROM t"});
  ASSERT_EQ(write.exit_code, 1) << Dump(write);
  EXPECT_EQ(write.doc["error"]["code"], "invalid_argument");
  EXPECT_THAT(write.doc["error"]["hint"].get<std::string>(), HasSubstr("sqlsteward exec"));

  const std::string missing = dir_.File("missing.db");
  JsonRun absent = RunJson({"query", missing, "SELECT 1"});
  ASSERT_EQ(absent.exit_code, 1) << Dump(absent);
  EXPECT_EQ(absent.doc["error"]["code"], "not_found");
  EXPECT_FALSE(std::filesystem::exists(missing));

  JsonRun exec = RunJson({"exec", missing, "CREATE TABLE x(a)"});
  ASSERT_EQ(exec.exit_code, 1) << Dump(exec);
  EXPECT_EQ(exec.doc["error"]["code"], "not_found");
  EXPECT_THAT(exec.doc["error"]["hint"].get<std::string>(), HasSubstr("--create"));
  EXPECT_FALSE(std::filesystem::exists(missing));
}

// ---------------------------------------------------------- top-level help

// `sqlsteward --help` lists every command on one line, as git and
// litestream do; the long text is for `sqlsteward <command> --help`.
TEST(CliHelpTest, TopLevelHelpListsEachCommandOnOneLine) {
  CliResult run = testing::RunCli(SQLSTEWARD_CLI, {"--help"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> expected = {
      "demo", "version", "extension-path", "doctor", "torture", "migrate", "status",
      "handover", "exec", "query", "snapshot", "verify", "restore", "node", "cluster"};
  std::istringstream out(run.out);
  std::string line;
  while (std::getline(out, line) && line != "Subcommands:") {
  }
  ASSERT_EQ(line, "Subcommands:") << run.out;
  std::vector<std::string> listed;
  while (std::getline(out, line) && !line.empty()) {
    // "  name<spaces>summary": a line that starts deeper is a continuation.
    ASSERT_TRUE(line.size() > 2 && line.rfind("  ", 0) == 0 && line[2] != ' ')
        << "not one line per command:\n" << run.out;
    const std::size_t end = line.find(' ', 2);
    ASSERT_NE(end, std::string::npos) << line;
    EXPECT_NE(line.find_first_not_of(' ', end), std::string::npos) << "no summary: " << line;
    listed.push_back(line.substr(2, end - 2));
  }
  EXPECT_EQ(listed, expected) << run.out;

  // The long text is still there, one level down.
  CliResult snapshot = testing::RunCli(SQLSTEWARD_CLI, {"snapshot", "--help"});
  EXPECT_EQ(snapshot.exit_code, 0);
  EXPECT_THAT(snapshot.out, HasSubstr("a snapshot is complete or absent, never partial"));
}

TEST(CliHelpTest, UnknownCommandIsNamedAsUnknown) {
  CliResult run = testing::RunCli(SQLSTEWARD_CLI, {"frobnicate", "app.db"});
  EXPECT_EQ(run.exit_code, 109) << run.err;  // CLI11's ExitCodes::ExtrasError
  EXPECT_THAT(run.err, HasSubstr("unknown command: frobnicate"));
  EXPECT_THAT(run.err, ::testing::Not(HasSubstr("A subcommand is required")));
  EXPECT_THAT(run.out, IsEmpty());

  // With no command at all, that is what it says.
  CliResult none = testing::RunCli(SQLSTEWARD_CLI, {});
  EXPECT_EQ(none.exit_code, 106) << none.err;  // ExitCodes::RequiredError
  EXPECT_THAT(none.err, HasSubstr("A subcommand is required"));
}

}  // namespace
}  // namespace sqlsteward
