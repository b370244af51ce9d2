// Real processes against one file: contention between processes and a
// writer killed with SIGKILL in the middle of its stream.
#include <signal.h>

#include <set>

#include "sqlsteward/database.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::Child;
using testing::TempDir;

// 4 processes x 8 threads x 2,000 read-then-write closures, started behind
// a barrier: every closure reads max(n) and inserts max(n)+1 as the primary
// key, so any lost serialisation shows as a constraint error, a gap or a
// missing row.
TEST(MultiprocessTest, ReadThenWriteClosuresAcrossProcessesAreExact) {
  constexpr int kProcesses = 4;
  constexpr int kThreads = 8;
  constexpr int kEach = 2000;
  TempDir tmp;
  std::string path = tmp.File("closures.db");
  std::vector<std::unique_ptr<Child>> children;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(std::make_unique<Child>(std::vector<std::string>{
        "closures", path, std::to_string(kThreads), std::to_string(kEach)}));
  }
  for (auto& c : children) ASSERT_EQ(c->ReadLine(), "ready");
  for (auto& c : children) c->CloseStdin();  // Go, all at once.
  long long acked = 0;
  for (auto& c : children) {
    std::string done = c->ReadLine();
    long long ok = 0, errors = -1, timeouts = -1;
    ASSERT_EQ(std::sscanf(done.c_str(), "done %lld %lld %lld", &ok, &errors, &timeouts), 3)
        << done;
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(timeouts, 0);
    acked += ok;
    EXPECT_EQ(c->Wait(), 0);
  }
  const long long total = kProcesses * kThreads * kEach;
  EXPECT_EQ(acked, total);
  EXPECT_EQ(testing::CountRows(path, "ledger"), total);
  auto db = Database::Open(path);
  ASSERT_TRUE(db.has_value());
  SQLSTEWARD_EXPECT_OK((*db)->Read([&](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("SELECT max(n) FROM ledger"), total);  // No gaps.
    EXPECT_EQ(**tx.QueryInt64("SELECT count(DISTINCT pid) FROM ledger"), kProcesses);
    return Status();
  }));
  EXPECT_EQ(testing::IntegrityCheck(path), "ok");
}

// A writer prints "ack <id>" only after Write() returned OK. We kill it with
// SIGKILL mid-stream: every id it acknowledged must be in the database, the
// database must be intact, and the write lock it may have held must be free.
TEST(MultiprocessTest, SigkilledWriterLosesNoAcknowledgedWrite) {
  TempDir tmp;
  std::string path = tmp.File("kill.db");
  for (int round = 0; round < 3; ++round) {
    std::set<long long> acked;
    {
      Child writer({"ack-writer", path, "4", std::to_string(round * 100'000'000LL)});
      ASSERT_EQ(writer.ReadLine(), "ready");
      while (acked.size() < 1500) {
        std::string line = writer.ReadLine();
        ASSERT_EQ(line.rfind("ack ", 0), 0u) << "writer said: " << line;
        acked.insert(std::stoll(line.substr(4)));
      }
      writer.Kill(SIGKILL);
      EXPECT_EQ(writer.Wait(), 128 + SIGKILL);
      // Lines already in the pipe were acknowledged before the kill too;
      // an error the writer reported before the kill would show here.
      for (std::string line = writer.ReadLine(); !line.empty(); line = writer.ReadLine()) {
        ASSERT_EQ(line.rfind("ack ", 0), 0u) << "writer said: " << line;
        acked.insert(std::stoll(line.substr(4)));
      }
    }
    EXPECT_EQ(testing::IntegrityCheck(path), "ok");
    Options options;
    options.write_timeout = std::chrono::seconds(5);
    auto db = Database::Open(path, options);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    std::size_t missing = 0;
    SQLSTEWARD_ASSERT_OK((*db)->Read([&](ReadTransaction& tx) -> Status {
      for (long long id : acked) {
        SQLSTEWARD_ASSIGN_OR_RETURN(auto n,
                                    tx.QueryInt64("SELECT count(*) FROM acked WHERE id = ?", id));
        if (n != 1) ++missing;
      }
      return Status();
    }));
    EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged writes";
    // The dead writer's lock is gone: a write goes through at once.
    SQLSTEWARD_EXPECT_OK((*db)->Write([&](Transaction& tx) {
      return tx.Exec("INSERT INTO acked(id) VALUES(?)", -1 - round);
    }));
  }
}

}  // namespace
}  // namespace sqlsteward
