// Two bindfs mounts of one directory are two lock domains on one machine:
// a lock taken through one is invisible through the other, as between a
// Docker Desktop host and its container. These tests need bindfs and
// /dev/fuse (scripts/deps installs them) and fail, not skip, without.
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "sqlsteward/database.h"
#include "sqlsteward/instances.h"
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
  EXPECT_EQ(testing::IntegrityCheck(source_ + "/app.db"), "ok");
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

}  // namespace
}  // namespace sqlsteward
