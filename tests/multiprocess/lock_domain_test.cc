// Two bindfs mounts of one directory are two lock domains on one machine:
// a lock taken through one is invisible through the other, as between a
// Docker Desktop host and its container. These tests need bindfs and
// /dev/fuse (scripts/deps installs them) and fail, not skip, without.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "core/database_access.h"
#include "sqlsteward/database.h"
#include "sqlsteward/instances.h"
#include "support/fault_env.h"
#include "support/stale_entry_vfs.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::BindfsMount;
using testing::Child;
using testing::StatusIs;
using testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class LockDomainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = tmp_.File("source");
    a_ = tmp_.File("a");
    b_ = tmp_.File("b");
    for (const std::string& dir : {source_, a_, b_}) ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    mount_a_ = std::make_unique<BindfsMount>(source_, a_);
    ASSERT_THAT(mount_a_->error(), IsEmpty());
    mount_b_ = std::make_unique<BindfsMount>(source_, b_);
    ASSERT_THAT(mount_b_->error(), IsEmpty());
  }
  void TearDown() override {
    mount_b_.reset();
    mount_a_.reset();
  }

  TempDir tmp_;
  std::string source_, a_, b_;
  std::unique_ptr<BindfsMount> mount_a_, mount_b_;
};

// The control: stock SQLite with a rollback journal and
// locking_mode=EXCLUSIVE, one writer through each mount. Both "succeed" at
// every commit, and acknowledged rows are lost (or the file is damaged):
// the failure sqlsteward exists to prevent.
TEST_F(LockDomainTest, ControlStockSqliteLosesAcknowledgedWrites) {
  constexpr int kEach = 600;
  Child one({"raw-writer", a_ + "/control.db", std::to_string(kEach), "0"});
  ASSERT_EQ(one.ReadLine(), "ready");
  Child two({"raw-writer", b_ + "/control.db", std::to_string(kEach), "1000000"});
  ASSERT_EQ(two.ReadLine(), "ready");
  one.CloseStdin();
  two.CloseStdin();
  long long acked = 0;
  for (Child* c : {&one, &two}) {
    long long n = 0;
    std::string line = c->ReadLine();
    ASSERT_EQ(std::sscanf(line.c_str(), "done %lld", &n), 1) << line;
    acked += n;
    EXPECT_EQ(c->Wait(), 0);
  }
  std::string integrity = testing::IntegrityCheck(source_ + "/control.db");
  long long present = integrity == "ok" ? testing::CountRows(source_ + "/control.db", "raw") : -1;
  std::printf("control: %lld acknowledged, %lld present, integrity_check: %s\n", acked, present,
              integrity.c_str());
  EXPECT_TRUE(integrity != "ok" || present < acked)
      << "stock SQLite kept every write across two lock domains; the control no longer "
         "demonstrates the failure";
}

// sqlsteward: the second opener, through the other mount, is refused while
// the first writes; nothing the first acknowledged is lost; once the first
// is gone (SIGKILL), its slot is reclaimed and the other mount may open.
TEST_F(LockDomainTest, SecondOpenerThroughAnotherMountIsRefused) {
  std::set<long long> acked;
  {
    Child writer({"ack-writer", a_ + "/app.db", "2", "0"});
    ASSERT_EQ(writer.ReadLine(), "ready");
    while (acked.size() < 300) {
      std::string line = writer.ReadLine();
      ASSERT_EQ(line.rfind("ack ", 0), 0u) << line;
      acked.insert(std::stoll(line.substr(4)));
    }
    auto refused = Database::Open(b_ + "/app.db");
    EXPECT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
    EXPECT_THAT(std::string(refused.error().message()), HasSubstr("another lock domain"));
    EXPECT_THAT(std::string(refused.error().message()),
                HasSubstr("pid " + std::to_string(writer.pid())));
    EXPECT_THAT(std::string(refused.error().hint()), HasSubstr("one mount"));

    auto seen = ReadRegistry(b_ + "/app.db");
    ASSERT_TRUE(seen.has_value()) << testing::Describe(seen);
    ASSERT_EQ(seen->instances.size(), 1u);
    EXPECT_EQ(seen->instances[0].domain, InstanceDomain::kOtherDomain);

    for (int i = 0; i < 200; ++i) {
      std::string line = writer.ReadLine();
      ASSERT_EQ(line.rfind("ack ", 0), 0u) << line;
      acked.insert(std::stoll(line.substr(4)));
    }
    writer.Kill(SIGKILL);
    writer.Wait();
    for (std::string line = writer.ReadLine(); !line.empty(); line = writer.ReadLine()) {
      // An error the writer reported before the kill would show here.
      ASSERT_EQ(line.rfind("ack ", 0), 0u) << line;
      acked.insert(std::stoll(line.substr(4)));
    }
  }
  // Read-write, as the next writer opens it: a kill inside a transaction of
  // the rollback journal this mount gets leaves a hot journal, which only a
  // read-write connection rolls back (a read-only one answers "attempt to
  // write a readonly database").
  EXPECT_EQ(testing::RawQuery(source_ + "/app.db", "PRAGMA integrity_check"), "ok\n");
  // Open waits out the -journal that mount b's entry cache may still show
  // (OpenWaitsOutAJournalTheOtherMountStillShows).
  auto db = Database::Open(b_ + "/app.db");
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  std::size_t missing = 0;
  SQLSTEWARD_ASSERT_OK((*db)->Read([&](ReadTransaction& tx) -> Status {
    for (long long id : acked) {
      if (**tx.QueryInt64("SELECT count(*) FROM acked WHERE id = ?", id) != 1) ++missing;
    }
    return Status();
  }));
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged writes";
}

// Two instances told to open at the same moment, one through each mount,
// 200 times: never may both proceed.
TEST_F(LockDomainTest, SimultaneousStartsInTwoDomainsNeverBothProceed) {
  constexpr int kTrials = 200;
  int both = 0, one = 0, none = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::string name = "/race" + std::to_string(trial % 4) + ".db";
    Child x({"try-open", a_ + name});
    Child y({"try-open", b_ + name});
    ASSERT_EQ(x.ReadLine(), "barrier");
    ASSERT_EQ(y.ReadLine(), "barrier");
    x.Send("g");
    y.Send("g");
    std::string rx = x.ReadLine();
    std::string ry = y.ReadLine();
    int ok = (rx == "ok") + (ry == "ok");
    for (const std::string& r : {rx, ry}) {
      if (r != "ok") {
        EXPECT_EQ(r, "refused failed_precondition") << "trial " << trial;
      }
    }
    both += ok == 2;
    one += ok == 1;
    none += ok == 0;
    x.CloseStdin();
    y.CloseStdin();
    EXPECT_EQ(x.Wait(), 0);
    EXPECT_EQ(y.Wait(), 0);
  }
  std::printf("simultaneous starts: %d trials, exactly one proceeded %d, none %d, both %d\n",
              kTrials, one, none, both);
  EXPECT_EQ(both, 0);
  EXPECT_EQ(one, kTrials);
}

// Through mount b the kernel caches directory entries for about a second
// (FUSE entry_timeout): a -journal created and removed through mount a can
// still look present there, and SQLite's open of it fails with ENOENT.
// Database::Open waits that out instead of failing with kNotFound.
TEST_F(LockDomainTest, OpenWaitsOutAJournalTheOtherMountStillShows) {
  {
    auto db = Database::Open(a_ + "/app.db");
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
      return tx.ExecScript("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    }));
    SQLSTEWARD_ASSERT_OK((*db)->Close());
  }
  // A journal as a writer through mount a leaves it mid-commit (SQLite
  // creates it with the database's mode): the magic, then zeros. b looks
  // it up (its entry is cached), then a removes it.
  const std::string header("\xd9\xd5\x05\xf9\x20\xa1\x63\xd7", 8);
  {
    std::ofstream journal(a_ + "/app.db-journal", std::ios::binary);
    journal << header << std::string(504, '\0');
  }
  ASSERT_EQ(::chmod((a_ + "/app.db-journal").c_str(), 0600), 0);
  struct stat st;
  ASSERT_EQ(::stat((b_ + "/app.db-journal").c_str(), &st), 0);
  ASSERT_EQ(::unlink((a_ + "/app.db-journal").c_str()), 0);
  ASSERT_EQ(::stat((b_ + "/app.db-journal").c_str(), &st), 0)
      << "mount b no longer shows the removed journal: the entry cache this test needs is off";

  auto db = Database::Open(b_ + "/app.db");
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ(testing::CountRows(source_ + "/app.db", "t"), 1);
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t VALUES (2)");
  }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  EXPECT_EQ(testing::CountRows(source_ + "/app.db", "t"), 2);
}

// Issue 13, faults: the stale -journal entry of the test above, made to
// last (testing::kStaleEntryVfs) on a FUSE mount, from the moment the
// sidecar is opened (after the library's check of the VFS, before the
// writer's connection). Open retries for kStaleEntryWait within its
// deadline, then gives up: kNotFound saying how often and how long, a hint
// about the entry cache, nothing registered, and the database unharmed.
class StaleEntryTest : public LockDomainTest {
 protected:
  void SetUp() override {
    LockDomainTest::SetUp();
    ASSERT_TRUE(testing::RegisterStaleEntryVfs());
    path_ = a_ + "/app.db";
    auto db = Database::Open(path_);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
      return tx.ExecScript("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    }));
    SQLSTEWARD_ASSERT_OK((*db)->Close());
  }
  void TearDown() override {
    testing::SetStaleJournalOpens(0);
    LockDomainTest::TearDown();
  }

  static Options StaleVfs(std::chrono::milliseconds timeout) {
    Options options;
    options.vfs = testing::kStaleEntryVfs;
    options.write_timeout = timeout;
    return options;
  }
  // Opens path_ through `env`; the journal goes stale for `stale_opens`
  // opens once the sidecar is opened.
  Result<std::unique_ptr<Database>> OpenWithStaleJournal(testing::FaultEnv& env, int stale_opens,
                                                         const Options& options) {
    env.RunBefore(testing::FaultEnv::Op::kOpen, path_ + "-steward",
                  [stale_opens] { testing::SetStaleJournalOpens(stale_opens); });
    return internal::DatabaseAccess::OpenWithEnv(path_, options, &env);
  }
  int LiveInstances() {
    auto registry = ReadRegistry(path_);
    EXPECT_TRUE(registry.has_value()) << testing::Describe(registry);
    if (!registry.has_value()) return -1;
    int live = 0;
    for (const InstanceInfo& info : registry->instances) {
      if (info.domain != InstanceDomain::kDead) ++live;
    }
    return live;
  }

  std::string path_;
};

TEST_F(StaleEntryTest, OpenGivesUpOnAJournalThatStaysStale) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kTimeout = std::chrono::milliseconds(1500);  // Below kStaleEntryWait (5 s).
  testing::FaultEnv env;  // Outlives the database's threads.
  const int failures_before = testing::StaleJournalFailures();
  const auto start = Clock::now();
  auto db = OpenWithStaleJournal(env, -1, StaleVfs(kTimeout));
  const auto took = Clock::now() - start;
  ASSERT_THAT(db, StatusIs(StatusCode::kNotFound));
  const std::string message(db.error().message());
  EXPECT_THAT(message, HasSubstr("open " + path_));
  EXPECT_THAT(message, HasSubstr(" attempts in "));
  EXPECT_THAT(std::string(db.error().hint()), HasSubstr("directory-entry cache"));
  EXPECT_THAT(std::string(db.error().hint()), HasSubstr("entry_timeout"));
  EXPECT_EQ(db.error().sys_errno(), ENOENT);
  // Each attempt opens the journal twice (SQLite's hot-journal check, then
  // its rollback), and attempts are 50 ms apart.
  EXPECT_GE(testing::StaleJournalFailures() - failures_before, 2 * 10);
  EXPECT_GE(took, kTimeout - std::chrono::milliseconds(100)) << "gave up before the deadline";
  EXPECT_LT(took, kTimeout + std::chrono::seconds(3)) << "waited past the deadline";
  EXPECT_EQ(LiveInstances(), 0) << "the failed open left an instance registered";

  testing::SetStaleJournalOpens(0);
  EXPECT_EQ(testing::IntegrityCheck(path_), "ok");
  EXPECT_EQ(testing::CountRows(path_, "t"), 1);
  auto again = internal::DatabaseAccess::OpenWithEnv(path_, StaleVfs(kTimeout), &env);
  ASSERT_TRUE(again.has_value()) << testing::Describe(again);
  SQLSTEWARD_EXPECT_OK((*again)->Close());
}

// The entry goes stale for a few opens only: Open retries past them and
// succeeds, and the database takes writes.
TEST_F(StaleEntryTest, OpenRetriesPastAShortStaleEntry) {
  testing::FaultEnv env;  // Outlives the database's threads.
  const int failures_before = testing::StaleJournalFailures();
  auto db = OpenWithStaleJournal(env, 5, StaleVfs(std::chrono::seconds(30)));
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ(testing::StaleJournalFailures() - failures_before, 5);
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t VALUES (2)");
  }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  EXPECT_EQ(testing::CountRows(path_, "t"), 2);
}

// The same stale entry met by a write (a -journal another mount's
// writer just removed, seen by BEGIN IMMEDIATE's hot-journal check): the
// batch has not started, so it is retried with the lock released, as Open
// does; the write succeeds, once. When the entry stays stale, the write
// fails with kNotFound and the hint, and nothing is written.
TEST_F(StaleEntryTest, WriteRetriesPastAShortStaleEntry) {
  testing::FaultEnv env;  // Outlives the database's threads.
  auto db = internal::DatabaseAccess::OpenWithEnv(path_, StaleVfs(std::chrono::seconds(30)), &env);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  const int failures_before = testing::StaleJournalFailures();
  testing::SetStaleJournalOpens(5);
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t VALUES (2)");
  }));
  EXPECT_EQ(testing::StaleJournalFailures() - failures_before, 5);
  EXPECT_EQ(testing::CountRows(path_, "t"), 2);

  testing::SetStaleJournalOpens(-1);
  WriteOptions short_wait;
  short_wait.timeout = std::chrono::milliseconds(500);
  Status stale = (*db)->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t VALUES (3)"); },
                              short_wait);
  EXPECT_THAT(stale, StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(std::string(stale.message()), HasSubstr(" attempts in "));
  EXPECT_THAT(std::string(stale.hint()), HasSubstr("directory-entry cache"));
  testing::SetStaleJournalOpens(0);
  EXPECT_EQ(testing::CountRows(path_, "t"), 2);
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t VALUES (4)");
  }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  EXPECT_EQ(testing::CountRows(path_, "t"), 3);
  EXPECT_EQ(testing::IntegrityCheck(path_), "ok");
}

}  // namespace
}  // namespace sqlsteward
