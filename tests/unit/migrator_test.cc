// The migrator in one process: loading and validation, the ledger, the
// guards (checksum drift, schema too new, forbidden statements), all-or-
// nothing rollback under injected failures, and the statement trace of a
// run. Real SQLite, real files; the database's state is read back through
// the raw sqlite3 API, independent of sqlsteward.
#include "sqlsteward/migrator.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <latch>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/database_access.h"
#include "migrate/prepare.h"
#include "migrate/sql_text.h"
#include "sqlsteward/database.h"
#include "support/migrate_lists.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::Child;
using testing::DumpDatabase;
using testing::RawQuery;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::RaceMigrations;
using testing::StatusIs;
using testing::TempDir;

std::unique_ptr<Database> OpenDb(const std::string& path, const Options& options = {}) {
  auto db = Database::Open(path, options);
  EXPECT_TRUE(db.has_value()) << testing::Describe(db);
  return db.has_value() ? std::move(db).value() : nullptr;
}

bool HasTable(const std::string& path, const std::string& table) {
  return RawQuery(path, "SELECT count(*) FROM sqlite_master WHERE name = '" + table + "'") == "1\n";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::int64_t> Range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (std::int64_t v = from; v <= to; ++v) out.push_back(v);
  return out;
}

// `pattern`: 'd' matches a decimal digit, 'x' a lower-case hex digit, any
// other character itself. (No <regex>: GCC 12's warns under ASan.)
bool Matches(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool digit = c >= '0' && c <= '9';
    if (pattern[i] == 'd'   ? !digit
        : pattern[i] == 'x' ? !(digit || (c >= 'a' && c <= 'f'))
                            : c != pattern[i]) {
      return false;
    }
  }
  return true;
}

std::vector<Migration> FirstN(std::size_t n) {
  auto all = RaceMigrations();
  all.resize(n);
  return all;
}

// ---------------------------------------------------------------------------
// Loading and validation.

TEST(LoadMigrationsTest, ReadsTheFixtureDirectoryInOrder) {
  auto loaded = LoadMigrations(std::string(SQLSTEWARD_FIXTURES) + "/migrations/good");
  ASSERT_TRUE(loaded.has_value()) << testing::Describe(loaded);
  ASSERT_EQ(loaded->size(), 3u);  // README.md is ignored.
  EXPECT_EQ(MigrationLabel((*loaded)[0]), "0001_create_users");
  EXPECT_EQ(MigrationLabel((*loaded)[1]), "0002_orders");
  EXPECT_EQ(MigrationLabel((*loaded)[2]), "0003_order_count");
  EXPECT_THAT((*loaded)[2].sql, HasSubstr("CREATE TRIGGER orders_count"));
  EXPECT_FALSE((*loaded)[0].step);
}

struct BadDir {
  std::map<std::string, std::string> files;
  std::string message;
};

TEST(LoadMigrationsTest, MalformedDirectoriesFailWithTypedErrorsNamingTheFiles) {
  const std::string ok = "CREATE TABLE t(a);";
  const std::vector<BadDir> cases = {
      {{{"1_x.sql", ok}}, "1_x.sql is not named NNNN_name.sql"},
      {{{"0001-x.sql", ok}}, "0001-x.sql is not named"},
      {{{"0001_Users.sql", ok}}, "0001_Users.sql is not named"},
      {{{"0001_.sql", ok}}, "0001_.sql is not named"},
      {{{"0001_a b.sql", ok}}, "0001_a b.sql is not named"},
      {{{"0001_x.sql.bak", ok}}, "0001_x.sql.bak is not named"},
      {{{"create.sql", ok}}, "create.sql is not named"},
      {{{"0001_a.sql", ok}, {"0001_b.sql", ok}}, "duplicate migration version 1"},
      {{{"0001_a.sql", ok}, {"00001_b.sql", ok}}, "duplicate migration version 1"},
      {{{"0001_a.sql", ok}, {"0002_b.sql", ok}, {"0004_d.sql", ok}},
       "0002_b.sql is followed by 0004_d.sql (version 3 is missing)"},
      {{{"0000_zero.sql", ok}}, "version out of range"},
      {{{"0001_a.sql", "-- nothing yet\n;\n"}}, "0001_a.sql contains no SQL statement"},
      {{{"0001_a.sql", ok}, {"0002_wal.sql", "PRAGMA journal_mode = DELETE;"}},
       "migration 0002_wal, statement 1"},
      {{{"0001_a.sql", "BEGIN;\nCREATE TABLE t(a);\n"}}, "0001_a: BEGIN without COMMIT"},
  };
  for (const BadDir& c : cases) {
    TempDir dir;
    for (const auto& [name, text] : c.files) WriteFile(dir.File(name), text);
    auto loaded = LoadMigrations(dir.path());
    EXPECT_THAT(loaded, StatusIs(StatusCode::kInvalidArgument)) << c.message;
    if (!loaded.has_value()) {
      EXPECT_THAT(std::string(loaded.error().message()), HasSubstr(c.message));
      EXPECT_FALSE(loaded.error().hint().empty());
    }
  }
}

// The parse LoadMigrations applies to each name (fuzzed by
// fuzz/migration_name_fuzz.cc), on names alone.
TEST(LoadMigrationsTest, FileNamesSplitIntoVersionAndName) {
  auto parsed = internal::ParseMigrationFileName("0003_add_orders.sql", "d/0003_add_orders.sql");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->version, 3);
  EXPECT_EQ(parsed->name, "add_orders");
  parsed = internal::ParseMigrationFileName("00002147483647_last.sql", "x");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->version, 2147483647);
  EXPECT_EQ(internal::LabelOf(parsed->version, parsed->name) + ".sql", "2147483647_last.sql");
  EXPECT_THAT(internal::ParseMigrationFileName("2147483648_x.sql", "d/2147483648_x.sql"),
              StatusIs(StatusCode::kInvalidArgument));
  for (const char* bad : {"", ".sql", "_.sql", "0001_.sql", "0001_sql", "0001.sql", "0001_a.SQL",
                          "0001_a-b.sql", "0001__a.sql", "123_a.sql", "0001_a.sql\n"}) {
    auto refused = internal::ParseMigrationFileName(bad, std::string("dir/") + bad);
    EXPECT_THAT(refused, StatusIs(StatusCode::kInvalidArgument)) << bad;
    if (!refused.has_value()) {
      EXPECT_THAT(std::string(refused.error().message()), HasSubstr(std::string("dir/") + bad));
    }
  }
}

TEST(LoadMigrationsTest, IgnoresOtherFilesAndSubdirectories) {
  TempDir dir;
  WriteFile(dir.File("0001_a.sql"), "CREATE TABLE a(x);");
  WriteFile(dir.File("README.md"), "notes");
  WriteFile(dir.File(".0002_hidden.sql"), "garbage");
  ASSERT_EQ(::mkdir(dir.File("drafts").c_str(), 0700), 0);
  auto loaded = LoadMigrations(dir.path());
  ASSERT_TRUE(loaded.has_value()) << testing::Describe(loaded);
  EXPECT_EQ(loaded->size(), 1u);
}

// Issue 11, class 4: an entry named like a migration must be a regular
// file; a link is refused without being followed (its target would be
// applied, and printed by --dry-run), a directory is not skipped. FIFOs,
// which a regression would block on, are in cli/nonregular_files_test.cc.
TEST(LoadMigrationsTest, EntriesNamedLikeMigrationsMustBeRegularFiles) {
  TempDir dir;
  WriteFile(dir.File("0001_a.sql"), "CREATE TABLE a(x);");
  WriteFile(dir.File("target.txt"), "CREATE TABLE leaked(x);");
  ASSERT_EQ(::symlink(dir.File("target.txt").c_str(), dir.File("0002_b.sql").c_str()), 0);
  auto linked = LoadMigrations(dir.path());
  EXPECT_THAT(linked, StatusIs(StatusCode::kFailedPrecondition));
  if (!linked.has_value()) {
    EXPECT_THAT(std::string(linked.error().message()), HasSubstr("0002_b.sql is a symbolic link"));
    EXPECT_FALSE(linked.error().hint().empty());
  }
  ASSERT_EQ(::unlink(dir.File("0002_b.sql").c_str()), 0);
  ASSERT_EQ(::mkdir(dir.File("0002_b.sql").c_str(), 0700), 0);
  auto directory = LoadMigrations(dir.path());
  EXPECT_THAT(directory, StatusIs(StatusCode::kFailedPrecondition));
  if (!directory.has_value()) {
    EXPECT_THAT(std::string(directory.error().message()), HasSubstr("0002_b.sql is a directory"));
  }
}

TEST(LoadMigrationsTest, MissingDirectoryIsNotFound) {
  TempDir dir;
  EXPECT_THAT(LoadMigrations(dir.File("nope")), StatusIs(StatusCode::kNotFound));
  WriteFile(dir.File("file"), "x");
  EXPECT_THAT(LoadMigrations(dir.File("file")), StatusIs(StatusCode::kInvalidArgument));
}

TEST(MigrateTest, MalformedListsAreRefusedBeforeTouchingTheDatabase) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  const std::vector<std::pair<std::vector<Migration>, std::string>> cases = {
      {{{1, "a", "CREATE TABLE a(x);", nullptr}, {1, "b", "CREATE TABLE b(x);", nullptr}},
       "duplicate migration version 1: 0001_a and 0001_b"},
      {{{1, "a", "CREATE TABLE a(x);", nullptr}, {3, "c", "CREATE TABLE c(x);", nullptr}},
       "version 2 is missing"},
      {{{0, "a", "CREATE TABLE a(x);", nullptr}}, "out of range"},
      {{{std::int64_t{1} << 31, "a", "CREATE TABLE a(x);", nullptr}}, "out of range"},
      {{{1, "Add-Users", "CREATE TABLE a(x);", nullptr}}, "is not valid"},
      {{{1, "empty", " -- nothing\n", nullptr}}, "neither SQL nor a step"},
  };
  for (const auto& [list, message] : cases) {
    auto report = Migrate(*db, list);
    EXPECT_THAT(report, StatusIs(StatusCode::kInvalidArgument)) << message;
    if (!report.has_value()) {
      EXPECT_THAT(std::string(report.error().message()), HasSubstr(message));
    }
  }
  EXPECT_FALSE(HasTable(path, "schema_migrations"));
  EXPECT_FALSE(HasTable(path, "a"));
}

TEST(MigrateTest, ForbiddenStatementsAreRefusedBeforeAnythingIsApplied) {
  const std::vector<std::pair<std::string, std::string>> forbidden = {
      {"PRAGMA journal_mode = DELETE;", "journal_mode"},
      {"pragma main.JOURNAL_MODE=wal;", "journal_mode"},
      {"PRAGMA locking_mode = EXCLUSIVE;", "locking_mode"},
      {"PRAGMA foreign_keys = OFF;", "defer_foreign_keys"},
      {"PRAGMA user_version = 9;", "user_version"},
      {"PRAGMA synchronous(0);", "synchronous"},
      {"PRAGMA legacy_alter_table = ON;", "legacy_alter_table"},
      {"PRAGMA cache_size = 10;", "cache_size"},
      {"PRAGMA schema_version = 3;", "schema_version"},
      {std::string("CREATE TABLE z(a);\0CREATE TABLE y(b);", 37), "NUL byte"},
      {"PRAGMA wal_checkpoint(TRUNCATE);", "wal_checkpoint"},
      {"VACUUM;", "VACUUM"},
      {"/* tidy */ vacuum INTO '/tmp/copy.db';", "VACUUM"},
      {"ATTACH DATABASE 'other.db' AS other;", "attach"},
      {"DETACH other;", "detach"},
      {"COMMIT;", "COMMIT without BEGIN"},
      {"ROLLBACK;", "ROLLBACK without BEGIN"},
      {"BEGIN; CREATE TABLE z(a);", "BEGIN without COMMIT"},
      {"SAVEPOINT sqlsteward_job;", "reserved"},
      {"BEGIN; RELEASE sqlsteward_mig_3_1; COMMIT;", "reserved"},
  };
  for (const auto& [sql, why] : forbidden) {
    TempDir tmp;
    std::string path = tmp.File("app.db");
    auto db = OpenDb(path);
    ASSERT_NE(db, nullptr);
    std::vector<Migration> list = FirstN(2);
    list.push_back({3, "bad", sql, nullptr});
    auto report = Migrate(*db, list);
    ASSERT_THAT(report, StatusIs(StatusCode::kInvalidArgument)) << sql;
    EXPECT_THAT(std::string(report.error().message()), HasSubstr("migration 0003_bad")) << sql;
    EXPECT_THAT(std::string(report.error().message()) + " " + std::string(report.error().hint()),
                HasSubstr(why))
        << sql;
    // Not even migrations 1 and 2, nor the ledger.
    EXPECT_FALSE(HasTable(path, "items")) << sql;
    EXPECT_FALSE(HasTable(path, "schema_migrations")) << sql;
  }
}

// Statement boundaries are SQLite's own (sqlite3_complete), found in one
// pass: the oracle here is the definition, sqlite3_complete on every prefix
// that ends in ';'.
std::vector<std::string> SplitBySqliteComplete(const std::string& sql) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != ';') continue;
    std::string candidate = sql.substr(start, i + 1 - start);
    if (sqlite3_complete(candidate.c_str()) == 0) continue;
    out.push_back(candidate);
    start = i + 1;
  }
  out.push_back(sql.substr(start));
  // Blank pieces (';' alone, comments) are dropped, the rest trimmed.
  std::vector<std::string> kept;
  for (const std::string& piece : out) {
    auto split = internal::SplitStatements(piece);
    kept.insert(kept.end(), split.begin(), split.end());
  }
  return kept;
}

TEST(MigrateTest, StatementsSplitWhereSqliteSaysTheyEnd) {
  const std::vector<std::string> scripts = {
      "CREATE TABLE a(x); INSERT INTO a VALUES(';');",
      "INSERT INTO a VALUES('it''s; fine'); SELECT \"a;b\" FROM [c;d] JOIN `e;f`;",
      "-- a comment; with a semicolon\nSELECT 1; /* block; comment */ SELECT 2;",
      "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES(1); "
      "UPDATE c SET x = 2; END; SELECT 3;",
      "CREATE TEMP TRIGGER t2 BEFORE DELETE ON a BEGIN SELECT 1; END;\nSELECT 4",
      "EXPLAIN CREATE TRIGGER t3 AFTER INSERT ON a BEGIN SELECT 1; END; SELECT 5;",
      "CREATE TABLE end_(x); SELECT end_ FROM end_; SELECT 'unterminated; ...",
      "SELECT 1;;; ;SELECT 2 -- trailing comment without newline",
      "CREATE VIEW v AS SELECT 'BEGIN; END;' AS s; /* unterminated; comment",
  };
  for (const std::string& sql : scripts) {
    EXPECT_EQ(internal::SplitStatements(sql), SplitBySqliteComplete(sql)) << sql;
  }
}

// A script whose string literals hold many ';': eight times the text must
// cost about eight times the time, not sixty-four (what calling
// sqlite3_complete on every prefix cost: 16 s for 320 kB). A ratio of the
// best of five runs each, never an absolute time.
TEST(MigrateTest, StatementSplittingIsLinearInTheScriptsLength) {
  auto script = [](int statements) {
    std::string sql;
    for (int i = 0; i < statements; ++i) {
      sql += "INSERT INTO notes VALUES('" + std::string(200, ';') + "');\n";
    }
    return sql;
  };
  auto best_of_five = [](const std::string& sql) {
    auto best = std::chrono::nanoseconds::max();
    for (int run = 0; run < 5; ++run) {
      auto start = std::chrono::steady_clock::now();
      auto statements = internal::SplitStatements(sql);
      best = std::min(best, std::chrono::steady_clock::now() - start);
      EXPECT_FALSE(statements.empty());
    }
    return static_cast<double>(best.count());
  };
  const std::string small = script(200);  // ~40 kB
  const std::string large = script(1600);  // ~330 kB
  ASSERT_EQ(internal::SplitStatements(large).size(), 1600u);
  const double ratio = best_of_five(large) / best_of_five(small);
  EXPECT_LT(ratio, 24.0) << "8x the text took " << ratio << "x the time";
}

TEST(MigrateTest, LookalikesInStringsAndCommentsAreNotRefused) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  std::vector<Migration> list = {
      {1, "notes",
       "CREATE TABLE notes(text TEXT);\n"
       "-- VACUUM; ATTACH 'x' AS y; COMMIT;\n"
       "/* PRAGMA journal_mode = DELETE; */\n"
       "INSERT INTO notes VALUES('VACUUM; ATTACH ''x'' AS y; PRAGMA journal_mode=off; COMMIT;');\n"
       "PRAGMA table_info(notes);\n"
       "PRAGMA defer_foreign_keys = ON;\n"
       "INSERT INTO notes VALUES('no semicolon at the end')",
       nullptr},
  };
  auto report = Migrate(*db, list);
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM notes"), "2\n");
  EXPECT_EQ(RawQuery(path, "SELECT text FROM notes ORDER BY rowid LIMIT 1"),
            "VACUUM; ATTACH 'x' AS y; PRAGMA journal_mode=off; COMMIT;\n");
}

TEST(MigrateTest, ChecksumIsStableAcrossLineEndingsAndCoversSteps) {
  Migration lf{1, "a", "CREATE TABLE a(x);\nCREATE TABLE b(y);\n", nullptr};
  Migration crlf{1, "a", "CREATE TABLE a(x);\r\nCREATE TABLE b(y);\r\n", nullptr};
  Migration other{1, "a", "CREATE TABLE a(x);\nCREATE TABLE b(z);\n", nullptr};
  EXPECT_EQ(MigrationChecksum(lf), MigrationChecksum(crlf));
  EXPECT_NE(MigrationChecksum(lf), MigrationChecksum(other));
  EXPECT_TRUE(Matches(MigrationChecksum(lf), "sha256:" + std::string(64, 'x')))
      << MigrationChecksum(lf);
  // What `printf abc | sha256sum` prints.
  EXPECT_EQ(MigrationChecksum({1, "a", "abc", nullptr}),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Migration with_step = lf;
  with_step.step = [](Transaction&) { return Status(); };
  EXPECT_NE(MigrationChecksum(lf), MigrationChecksum(with_step));
  Migration renamed_step = with_step;
  renamed_step.name = "b";
  EXPECT_NE(MigrationChecksum(with_step), MigrationChecksum(renamed_step));
}

// ---------------------------------------------------------------------------
// Runs.

TEST(MigrateTest, AppliesEveryPendingMigrationAndRecordsTheLedger) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(*SchemaVersion(*db), 0);

  auto report = Migrate(*db, RaceMigrations());
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);
  EXPECT_EQ(report->from_version, 0);
  EXPECT_EQ(report->to_version, 6);
  EXPECT_EQ(report->applied, Range(1, 6));
  EXPECT_THAT(report->warnings, IsEmpty());
  EXPECT_EQ(*SchemaVersion(*db), 6);

  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "6\n");
  EXPECT_EQ(RawQuery(path, "SELECT version, name FROM schema_migrations ORDER BY version"),
            "1|create_items\n2|add_price\n3|seed\n4|label_index\n5|audit_trigger\n6|reprice\n");
  auto list = RaceMigrations();
  for (const Migration& m : list) {
    EXPECT_EQ(RawQuery(path, "SELECT checksum FROM schema_migrations WHERE version = " +
                                 std::to_string(m.version)),
              MigrationChecksum(m) + "\n");
  }
  std::string applied_at = RawQuery(path, "SELECT applied_at FROM schema_migrations LIMIT 1");
  EXPECT_TRUE(Matches(applied_at, "dddd-dd-ddTdd:dd:dd.dddZ\n")) << applied_at;
  // The data: the trigger body with its semicolons, the seed inside its own
  // BEGIN/COMMIT, the step's backfill, each migration run once.
  EXPECT_EQ(RawQuery(path, "SELECT label, price FROM items ORDER BY id"), "apple|30\npear|40\n");
  SQLSTEWARD_ASSERT_OK(db->Write(
      [](Transaction& tx) { return tx.Exec("INSERT INTO items(label) VALUES('plum')"); }));
  EXPECT_EQ(RawQuery(path, "SELECT item, note FROM audit"), "3|added; by trigger\n");
  EXPECT_EQ(RawQuery(path, "SELECT version, count(*) FROM runs GROUP BY version"),
            "1|1\n2|1\n3|1\n4|1\n5|1\n6|1\n");
}

TEST(MigrateTest, UpToDateRunTakesNoWriteLockAndRunsNoStatement) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Migrate(*db, RaceMigrations()).has_value());
  std::vector<std::string> trace;
  internal::DatabaseAccess::TraceWriter(*db,
                                        [&](std::string_view sql) { trace.emplace_back(sql); });
  auto again = Migrate(*db, RaceMigrations());
  internal::DatabaseAccess::TraceWriter(*db, nullptr);
  ASSERT_TRUE(again.has_value()) << testing::Describe(again);
  EXPECT_THAT(again->applied, IsEmpty());
  EXPECT_EQ(again->from_version, 6);
  EXPECT_EQ(again->to_version, 6);
  EXPECT_THAT(trace, IsEmpty());
  EXPECT_EQ(db->Metrics().write_batches, 1u);
}

TEST(MigrateTest, AppliesOnlyWhatIsPending) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  auto first = Migrate(*db, FirstN(2));
  ASSERT_TRUE(first.has_value()) << testing::Describe(first);
  EXPECT_EQ(first->applied, Range(1, 2));
  auto rest = Migrate(*db, RaceMigrations());
  ASSERT_TRUE(rest.has_value()) << testing::Describe(rest);
  EXPECT_EQ(rest->from_version, 2);
  EXPECT_EQ(rest->applied, Range(3, 6));
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM runs"), "6\n");
}

// The lossless-claw test: a run with nested transactions shows exactly one
// BEGIN (the batch's), one COMMIT as its last statement, and the migrations'
// own BEGIN/COMMIT/ROLLBACK as savepoints.
TEST(MigrateTest, TraceShowsOneBeginAndOneCommitForNestedTransactions) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  std::vector<Migration> list = {
      {1, "nested",
       "BEGIN;\n"
       "CREATE TABLE a(x INTEGER);\n"
       "BEGIN IMMEDIATE TRANSACTION;\n"
       "INSERT INTO a VALUES(1);\n"
       "COMMIT;\n"
       "BEGIN EXCLUSIVE;\n"
       "INSERT INTO a VALUES(2);\n"
       "ROLLBACK;\n"
       "END TRANSACTION;\n",
       [](Transaction& tx) -> Status {
         SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript("SAVEPOINT backfill"));
         SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO a VALUES(3)"));
         return tx.ExecScript("RELEASE backfill");
       }},
      {2, "deferred", "BEGIN DEFERRED; CREATE TABLE b(y); COMMIT;", nullptr},
  };
  std::vector<std::string> trace;
  internal::DatabaseAccess::TraceWriter(*db,
                                        [&](std::string_view sql) { trace.emplace_back(sql); });
  auto report = Migrate(*db, list);
  internal::DatabaseAccess::TraceWriter(*db, nullptr);
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);

  auto starts_with = [](const std::string& s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    }
    return true;
  };
  int begins = 0;
  int commits = 0;
  std::string all;
  for (const std::string& sql : trace) {
    all += sql + "\n";
    if (starts_with(sql, "BEGIN")) ++begins;
    if (starts_with(sql, "COMMIT") || starts_with(sql, "END")) ++commits;
    if (starts_with(sql, "ROLLBACK")) {
      EXPECT_TRUE(starts_with(sql, "ROLLBACK TO")) << sql;
    }
  }
  ASSERT_FALSE(trace.empty());
  EXPECT_EQ(begins, 1) << all;
  EXPECT_EQ(trace.front(), "BEGIN IMMEDIATE") << all;
  EXPECT_EQ(commits, 1) << all;
  EXPECT_EQ(trace.back(), "COMMIT") << all;
  EXPECT_THAT(all, HasSubstr("SAVEPOINT sqlsteward_mig_1_1\n"));
  EXPECT_THAT(all, HasSubstr("SAVEPOINT sqlsteward_mig_1_2\n"));
  EXPECT_THAT(all, HasSubstr("ROLLBACK TO sqlsteward_mig_1_2\n"));
  EXPECT_THAT(all, HasSubstr("SAVEPOINT backfill\n"));
  // The inner ROLLBACK undid row 2 only.
  EXPECT_EQ(RawQuery(path, "SELECT x FROM a ORDER BY x"), "1\n3\n");
  EXPECT_TRUE(HasTable(path, "b"));
}

enum class Injection { kSqlError, kStepError, kStepThrows };

// RaceMigrations with migration `k` failing after its own DDL ran.
std::vector<Migration> FailingAt(std::int64_t k, Injection how) {
  auto list = RaceMigrations();
  Migration& m = list[static_cast<std::size_t>(k - 1)];
  switch (how) {
    case Injection::kSqlError:
      m.sql += "\nCREATE TABLE partial_" + std::to_string(k) +
               "(x);\nINSERT INTO no_such_table VALUES(1);\n";
      break;
    case Injection::kStepError:
      m.step = [inner = m.step](Transaction& tx) -> Status {
        SQLSTEWARD_RETURN_IF_ERROR(inner(tx));
        return Status(StatusCode::kAborted, "injected failure");
      };
      break;
    case Injection::kStepThrows:
      m.step = [inner = m.step](Transaction& tx) -> Status {
        SQLSTEWARD_RETURN_IF_ERROR(inner(tx));
        throw std::runtime_error("injected throw");
      };
      break;
  }
  return list;
}

TEST(MigrateTest, FailureAtEachStepLeavesSchemaAndLedgerUnchanged) {
  const std::pair<Injection, StatusCode> injections[] = {
      {Injection::kSqlError, StatusCode::kInvalidArgument},
      {Injection::kStepError, StatusCode::kAborted},
      {Injection::kStepThrows, StatusCode::kInternal},
  };
  for (auto [how, code] : injections) {
    for (std::int64_t k = 1; k <= 6; ++k) {
      SCOPED_TRACE("failure in migration " + std::to_string(k) + ", injection " +
                   std::to_string(static_cast<int>(how)));
      TempDir tmp;
      std::string path = tmp.File("app.db");
      auto db = OpenDb(path);
      ASSERT_NE(db, nullptr);
      // Start from version 1 (a ledger exists), except when 1 itself fails.
      if (k > 1) {
        ASSERT_TRUE(Migrate(*db, FirstN(1)).has_value());
      }
      const std::string before = DumpDatabase(path);

      auto failed = Migrate(*db, FailingAt(k, how));
      ASSERT_THAT(failed, StatusIs(code));
      EXPECT_THAT(std::string(failed.error().message()),
                  HasSubstr("migration " +
                            MigrationLabel(RaceMigrations()[static_cast<std::size_t>(k - 1)])));
      EXPECT_EQ(DumpDatabase(path), before);
      EXPECT_EQ(*SchemaVersion(*db), k > 1 ? 1 : 0);

      auto next = Migrate(*db, RaceMigrations());
      ASSERT_TRUE(next.has_value()) << testing::Describe(next);
      EXPECT_EQ(next->applied, Range(k > 1 ? 2 : 1, 6));
      EXPECT_EQ(RawQuery(path, "SELECT version, count(*) FROM runs GROUP BY version"),
                "1|1\n2|1\n3|1\n4|1\n5|1\n6|1\n");
      EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "6\n");
    }
  }
}

TEST(MigrateTest, DryRunReportsPendingAndWritesNothing) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Migrate(*db, FirstN(2)).has_value());
  const std::string before = DumpDatabase(path);
  std::vector<std::string> trace;
  internal::DatabaseAccess::TraceWriter(*db,
                                        [&](std::string_view sql) { trace.emplace_back(sql); });
  MigrateOptions dry;
  dry.dry_run = true;
  auto report = Migrate(*db, RaceMigrations(), dry);
  internal::DatabaseAccess::TraceWriter(*db, nullptr);
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);
  EXPECT_EQ(report->from_version, 2);
  EXPECT_EQ(report->to_version, 6);
  EXPECT_EQ(report->applied, Range(3, 6));
  EXPECT_THAT(trace, IsEmpty());
  EXPECT_EQ(DumpDatabase(path), before);
}

// ---------------------------------------------------------------------------
// Guards.

TEST(MigrateTest, ChangedTextOfAnAppliedMigrationIsRefusedByName) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Migrate(*db, FirstN(3)).has_value());
  const std::string before = DumpDatabase(path);

  auto edited = RaceMigrations();
  edited[1].sql += "\n-- a harmless-looking edit\n";
  auto report = Migrate(*db, edited);
  ASSERT_THAT(report, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(report.error().message()),
              HasSubstr("checksum mismatch: migration 0002_add_price"));
  EXPECT_THAT(std::string(report.error().hint()), HasSubstr("new migration"));
  EXPECT_EQ(DumpDatabase(path), before);  // 4..6 were not applied either.

  // A renamed C++ step counts as a change too.
  ASSERT_TRUE(Migrate(*db, RaceMigrations()).has_value());
  auto renamed = RaceMigrations();
  renamed[5].name = "reprice_all";
  EXPECT_THAT(Migrate(*db, renamed), StatusIs(StatusCode::kFailedPrecondition));

  // And at open.
  db.reset();
  Options options;
  options.after_open = MigrateOnOpen(edited);
  auto opened = Database::Open(path, options);
  ASSERT_THAT(opened, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(opened.error().message()), HasSubstr("checksum mismatch"));
}

TEST(MigrateTest, SchemaTooNewFailsOpenAndWritesNothing) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  {
    auto db = OpenDb(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(Migrate(*db, RaceMigrations()).has_value());
  }
  const std::string db_bytes = ReadFile(path);
  const std::string wal_bytes = ReadFile(path + "-wal");

  Options options;
  options.after_open = MigrateOnOpen(FirstN(4));
  auto opened = Database::Open(path, options);
  ASSERT_THAT(opened, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(opened.error().message()),
              HasSubstr("schema too new: database at version 6 (0006_reprice), this binary "
                        "knows up to 4"));
  EXPECT_THAT(std::string(opened.error().hint()), HasSubstr("roll forward"));
  EXPECT_THAT(std::string(opened.error().hint()), HasSubstr("newer binary"));
  EXPECT_EQ(ReadFile(path), db_bytes);
  EXPECT_EQ(ReadFile(path + "-wal"), wal_bytes);

  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  EXPECT_THAT(Migrate(*db, FirstN(4)), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(Migrate(*db, {}), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(*SchemaVersion(*db), 6);
}

TEST(MigrateTest, AMigrationMissingBelowTheAppliedOnesIsRefused) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Migrate(*db, FirstN(3)).has_value());
  RawQuery(path, "DELETE FROM schema_migrations WHERE version = 2");
  auto report = Migrate(*db, RaceMigrations());
  ASSERT_THAT(report, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(report.error().message()),
              HasSubstr("migration 0002_add_price was never applied"));

  // A binary whose first migration is beyond the database's next version.
  TempDir tmp2;
  auto db2 = OpenDb(tmp2.File("app.db"));
  ASSERT_NE(db2, nullptr);
  ASSERT_TRUE(Migrate(*db2, FirstN(2)).has_value());
  std::vector<Migration> later = {{5, "e", "CREATE TABLE e(x);", nullptr},
                                  {6, "f", "CREATE TABLE f(x);", nullptr}};
  EXPECT_THAT(Migrate(*db2, later), StatusIs(StatusCode::kFailedPrecondition));
}

TEST(MigrateTest, AdoptsAnMcdslLedgerWithoutChecksums) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  // The database as mcdsl leaves it: migrations 1 and 2 applied, a ledger
  // without a checksum column.
  auto list = RaceMigrations();
  RawQuery(path,
           "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, name TEXT, applied_at "
           "TEXT);" +
               list[0].sql + list[1].sql +
               "INSERT INTO runs VALUES(1, 0), (2, 0);"
               "INSERT INTO schema_migrations VALUES(1, 'create_items', '2024-05-01 10:00:00'),"
               "(2, 'add_price', '2024-05-02 10:00:00');");
  ::chmod(path.c_str(), 0600);
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  std::vector<std::string> warned;
  MigrateOptions options;
  options.on_warning = [&](std::string_view w) { warned.emplace_back(w); };
  auto report = Migrate(*db, list, options);
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);
  EXPECT_EQ(report->from_version, 2);
  EXPECT_EQ(report->applied, Range(3, 6));
  ASSERT_EQ(report->warnings.size(), 1u);
  EXPECT_THAT(report->warnings[0], HasSubstr("adopted"));
  EXPECT_THAT(report->warnings[0], HasSubstr("0001_create_items, 0002_add_price"));
  EXPECT_EQ(warned, report->warnings);
  EXPECT_EQ(RawQuery(path,
                     "SELECT version, applied_at, checksum FROM schema_migrations WHERE "
                     "version <= 2"),
            "1|2024-05-01 10:00:00|" + MigrationChecksum(list[0]) + "\n2|2024-05-02 10:00:00|" +
                MigrationChecksum(list[1]) + "\n");
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "6\n");

  auto again = Migrate(*db, list);
  ASSERT_TRUE(again.has_value()) << testing::Describe(again);
  EXPECT_THAT(again->warnings, IsEmpty());
  EXPECT_THAT(again->applied, IsEmpty());
}

TEST(MigrateTest, ALedgerOfAnotherShapeIsRefused) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  // golang-migrate's table.
  RawQuery(path,
           "CREATE TABLE schema_migrations(version uint64, dirty bool);"
           "INSERT INTO schema_migrations VALUES(3, 0);");
  ::chmod(path.c_str(), 0600);
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  auto report = Migrate(*db, RaceMigrations());
  ASSERT_THAT(report, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(report.error().message()), HasSubstr("not a migration ledger"));
  EXPECT_FALSE(HasTable(path, "items"));
}

TEST(MigrateTest, UserVersionFollowsTheLedger) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Migrate(*db, FirstN(3)).has_value());
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "3\n");
  RawQuery(path, "PRAGMA user_version = 0");
  auto report = Migrate(*db, FirstN(3));
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);
  EXPECT_THAT(report->applied, IsEmpty());
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "3\n");
}

// ---------------------------------------------------------------------------
// Concurrency in one process, and waiting for the lock.

TEST(MigrateTest, ConcurrentCallsOnSeveralHandlesApplyEachMigrationOnce) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto a = OpenDb(path);
  auto b = OpenDb(path);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<Result<MigrationReport>> reports(kThreads, Status(StatusCode::kInternal, "unset"));
  std::vector<std::thread> threads;
  const auto list = RaceMigrations();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      reports[static_cast<std::size_t>(t)] = Migrate(t % 2 == 0 ? *a : *b, list);
    });
  }
  for (auto& t : threads) t.join();
  std::map<std::int64_t, int> applied;
  for (const auto& r : reports) {
    ASSERT_TRUE(r.has_value()) << testing::Describe(r);
    EXPECT_EQ(r->to_version, 6);
    for (auto v : r->applied) ++applied[v];
  }
  EXPECT_EQ(applied.size(), 6u);
  for (auto [v, n] : applied) EXPECT_EQ(n, 1) << "version " << v;
  EXPECT_EQ(RawQuery(path, "SELECT version, count(*) FROM runs GROUP BY version"),
            "1|1\n2|1\n3|1\n4|1\n5|1\n6|1\n");
}

TEST(MigrateTest, WaitsForTheWriteLockUntilItsOwnTimeout) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  Child holder({"hold-write-lock", path});
  ASSERT_EQ(holder.ReadLine().rfind("holding ", 0), 0u);
  MigrateOptions quick;
  quick.timeout = std::chrono::milliseconds(300);
  auto report = Migrate(*db, RaceMigrations(), quick);
  ASSERT_THAT(report, StatusIs(StatusCode::kTimeout));
  EXPECT_THAT(std::string(report.error().message()), HasSubstr("held by pid"));
  EXPECT_FALSE(HasTable(path, "schema_migrations"));
  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  EXPECT_EQ(holder.Wait(), 0);
  auto later = Migrate(*db, RaceMigrations());
  ASSERT_TRUE(later.has_value()) << testing::Describe(later);
  EXPECT_EQ(later->applied, Range(1, 6));
}

TEST(MigrateOnOpenTest, OpenReturnsAMigratedDatabase) {
  TempDir tmp;
  std::string path = tmp.File("app.db");
  Options options;
  options.after_open = MigrateOnOpen(RaceMigrations());
  auto db = Database::Open(path, options);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ(*SchemaVersion(**db), 6);
  db->reset();
  // A second opener finds nothing to do.
  auto again = Database::Open(path, options);
  ASSERT_TRUE(again.has_value()) << testing::Describe(again);
  EXPECT_EQ((*again)->Metrics().write_batches, 0u);
}

TEST(MigrateTest, MigratesTheFixtureDirectory) {
  auto loaded = LoadMigrations(std::string(SQLSTEWARD_FIXTURES) + "/migrations/good");
  ASSERT_TRUE(loaded.has_value()) << testing::Describe(loaded);
  TempDir tmp;
  std::string path = tmp.File("app.db");
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  auto report = Migrate(*db, *loaded);
  ASSERT_TRUE(report.has_value()) << testing::Describe(report);
  EXPECT_THAT(report->applied, ElementsAre(1, 2, 3));
  SQLSTEWARD_ASSERT_OK(db->Write(
      [](Transaction& tx) { return tx.Exec("INSERT INTO orders(user_id, total) VALUES(1, 5)"); }));
  EXPECT_EQ(RawQuery(path, "SELECT name, order_count FROM users"), "first; user|1\n");
}

}  // namespace
}  // namespace sqlsteward
