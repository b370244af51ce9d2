// Migrations across real processes (tests/support/migrate_helper.cc): many
// starters racing on a fresh database, a migrator killed with SIGKILL in the
// middle of its transaction, and ordinary writers with default deadlines
// running into a 10-second migration. Every ordering is arranged through
// pipes (a "go" line, a "migrating" line printed from inside the
// migration), never by sleeping.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <sstream>

#include "sqlsteward/database.h"
#include "sqlsteward/migrator.h"
#include "support/migrate_lists.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::Child;
using testing::DumpDatabase;
using testing::RawQuery;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TempDir;

const std::string kHelper = SQLSTEWARD_MIGRATE_HELPER;

// 8 processes open a fresh database at the same moment, each with
// after_open = MigrateOnOpen(six migrations), 50 times. Each migration must
// run exactly once (they are not idempotent, and each records its run), all
// six in one process's run, every process must succeed and see version 6.
TEST(MigrateMultiprocessTest, EightStartersAtOnceApplyEachMigrationExactlyOnce) {
  constexpr int kProcesses = 8;
  constexpr int kRounds = 50;
  TempDir tmp;
  std::vector<std::unique_ptr<Child>> children;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(std::make_unique<Child>(kHelper, std::vector<std::string>{"race"}));
    ASSERT_EQ(children.back()->ReadLine(), "ready");
  }
  int errors = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::string path = tmp.File("race-" + std::to_string(round) + ".db");
    for (auto& c : children) c->Send("go " + path + "\n");  // The barrier.
    for (auto& c : children) {
      std::string line = c->ReadLine();
      if (line != "ok 6") ++errors;
      EXPECT_EQ(line, "ok 6");
    }
    // Handles stay open until every starter has reported, as in a
    // deployment; closing them is not what this test is about.
    for (auto& c : children) c->Send("close\n");
    for (auto& c : children) EXPECT_EQ(c->ReadLine(), "closed");
    EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_migrations ORDER BY version"),
              "1\n2\n3\n4\n5\n6\n");
    EXPECT_EQ(RawQuery(path, "SELECT version, count(*) FROM runs GROUP BY version"),
              "1|1\n2|1\n3|1\n4|1\n5|1\n6|1\n");
    EXPECT_EQ(RawQuery(path, "SELECT count(DISTINCT pid) FROM runs"), "1\n");  // One run.
    EXPECT_EQ(RawQuery(path, "SELECT label, price FROM items ORDER BY id"), "apple|30\npear|40\n");
    EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "6\n");
    EXPECT_EQ(testing::IntegrityCheck(path), "ok");
  }
  EXPECT_EQ(errors, 0);
  for (auto& c : children) {
    c->CloseStdin();
    EXPECT_EQ(c->Wait(), 0);
  }
}

// A migrator is killed with SIGKILL inside its transaction, after migration
// 2's DDL and ledger row and 20,000 rows of migration 3: the database must be
// exactly as before, and the next start must apply both.
TEST(MigrateMultiprocessTest, SigkillInTheMiddleOfAMigrationChangesNothing) {
  TempDir tmp;
  std::string path = tmp.File("kill.db");
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    auto first = testing::SlowMigrations(nullptr);
    first.resize(1);
    ASSERT_TRUE(Migrate(**db, first).has_value());
  }
  const std::string before = DumpDatabase(path);

  Child migrator(kHelper, {"slow-migrate", path, "3600"});
  ASSERT_EQ(migrator.ReadLine(), "ready");
  migrator.Send("go\n");
  ASSERT_EQ(migrator.ReadLine(), "migrating");
  migrator.Kill(SIGKILL);
  EXPECT_EQ(migrator.Wait(), 128 + SIGKILL);

  EXPECT_EQ(testing::IntegrityCheck(path), "ok");
  EXPECT_EQ(DumpDatabase(path), before);

  Options options;
  options.write_timeout = std::chrono::seconds(5);  // The dead holder's lock is free.
  options.after_open = MigrateOnOpen(testing::SlowMigrations(nullptr));
  auto db = Database::Open(path, options);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ(*SchemaVersion(**db), 3);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_migrations ORDER BY version"), "1\n2\n3\n");
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM slow_data"), "20000\n");
}

// A migration holds the write lock for 10 s. Writers in other processes,
// opened before it with default options (30 s deadlines), keep writing into
// it: none may fail, and each must have waited it out. A process that opens
// during the migration with MigrateOnOpen waits too, then finds nothing to
// do. A write with a short deadline gets kTimeout naming the migration.
TEST(MigrateMultiprocessTest, TenSecondMigrationMakesNoDefaultWriterFail) {
  constexpr int kWriters = 3;
  TempDir tmp;
  std::string path = tmp.File("slow.db");
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    auto first = testing::SlowMigrations(nullptr);
    first.resize(1);
    ASSERT_TRUE(Migrate(**db, first).has_value());
  }
  std::vector<std::unique_ptr<Child>> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.push_back(std::make_unique<Child>(kHelper, std::vector<std::string>{"writer", path}));
    ASSERT_EQ(writers.back()->ReadLine(), "ready");
  }
  Child short_writer(kHelper, {"short-write", path, "500"});
  ASSERT_EQ(short_writer.ReadLine(), "ready");
  Child migrator(kHelper, {"slow-migrate", path, "10"});
  ASSERT_EQ(migrator.ReadLine(), "ready");

  migrator.Send("go\n");
  ASSERT_EQ(migrator.ReadLine(), "migrating");  // Inside the transaction now.
  auto start = std::chrono::steady_clock::now();
  for (auto& w : writers) w->Send("go\n");
  short_writer.Send("go\n");
  Child late(kHelper, {"open-migrate", path});

  std::string short_status = short_writer.ReadLine();
  EXPECT_THAT(short_status, StartsWith("status timeout "));
  EXPECT_THAT(short_status, HasSubstr("(migration 0002_create_slow..0003_slow_backfill)"));
  EXPECT_EQ(short_writer.Wait(), 0);

  EXPECT_EQ(migrator.ReadLine(), "done 2,3 3");
  EXPECT_EQ(migrator.Wait(), 0);
  EXPECT_EQ(late.ReadLine(), "ok 3");  // Not "step-ran": it applied nothing.
  EXPECT_EQ(late.Wait(), 0);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(waited, 5.0);

  long long total = 0;
  for (auto& w : writers) {
    w->CloseStdin();
    std::string done = w->ReadLine();
    long long acked = -1, errors = -1, max_ms = -1;
    ASSERT_EQ(std::sscanf(done.c_str(), "done %lld %lld %lld", &acked, &errors, &max_ms), 3)
        << done;
    EXPECT_EQ(errors, 0);
    EXPECT_GT(acked, 0);
    EXPECT_GT(max_ms, 5000) << "the writer should have waited for the migration";
    total += acked;
    EXPECT_EQ(w->Wait(), 0);
  }
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM events WHERE pid <> 0"),
            std::to_string(total) + "\n");
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_migrations ORDER BY version"), "1\n2\n3\n");
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM slow_data"), "20000\n");
  EXPECT_EQ(testing::IntegrityCheck(path), "ok");
}

}  // namespace
}  // namespace sqlsteward
