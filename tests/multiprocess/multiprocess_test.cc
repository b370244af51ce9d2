// Real processes against one file: contention between processes and a
// writer killed with SIGKILL in the middle of its stream.
#include <signal.h>

#include <chrono>
#include <future>
#include <ostream>
#include <set>
#include <string>
#include <thread>

#include "core/database_access.h"
#include "sqlsteward/database.h"
#include "support/fault_env.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::Child;
using testing::TempDir;

// Issue 13, faults: a signal interrupts the wait for the write lock (EINTR
// injected twice) while another process holds it. The wait resumes: the
// write is neither failed nor run early, and it commits once the holder
// lets go. Two waits: for the turn, behind a holder in the turn queue (a
// futex wait), and in the kernel's F_OFD_SETLKW, behind a process outside
// the queue.
struct EintrCase {
  const char* holder_mode;
  testing::FaultEnv::Op wait;
};

class EintrTest : public ::testing::TestWithParam<EintrCase> {};

TEST_P(EintrTest, InTheWriteLockWaitKeepsWaiting) {
  TempDir tmp;
  const std::string path = tmp.File("app.db");
  // Never destroyed: the write lock's waiter thread, detached, closes its
  // descriptor through it after the Database is gone (file_lock.h).
  static testing::FaultEnv* const faults = new testing::FaultEnv;
  testing::FaultEnv& env = *faults;
  auto opened = internal::DatabaseAccess::OpenWithEnv(path, Options(), &env);
  ASSERT_TRUE(opened.has_value()) << testing::Describe(opened);
  Database& db = **opened;
  SQLSTEWARD_ASSERT_OK(db.Write([](Transaction& tx) { return tx.Exec("CREATE TABLE t(x)"); }));

  Child holder({GetParam().holder_mode, path});
  ASSERT_EQ(holder.ReadLine(), "holding " + std::to_string(holder.pid()));
  const std::string sidecar = path + "-steward";
  const testing::FaultEnv::Op op = GetParam().wait;
  env.Fail(op, EINTR, sidecar);
  env.Fail(op, EINTR, sidecar);
  const int waits_before = env.Calls(op, sidecar);
  const int injected_before = env.Injected();
  std::future<Status> write = db.WriteAsync(
      [](Transaction& tx) { return tx.Exec("INSERT INTO t VALUES(1)"); });
  // Observable: two interrupted waits, then a third that waits.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (env.Calls(op, sidecar) < waits_before + 3 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(env.Calls(op, sidecar), waits_before + 3);
  EXPECT_EQ(env.Injected() - injected_before, 2);
  EXPECT_EQ(write.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "the write ran while another process held the lock";
  EXPECT_EQ(testing::CountRows(path, "t"), 0);

  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  EXPECT_EQ(holder.Wait(), 0);
  SQLSTEWARD_EXPECT_OK(write.get());
  EXPECT_EQ(testing::CountRows(path, "t"), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Waits, EintrTest,
    ::testing::Values(EintrCase{"hold-write-lock", testing::FaultEnv::Op::kFutexWait},
                      EintrCase{"hold-ofd-lock", testing::FaultEnv::Op::kLockWait}),
    [](const ::testing::TestParamInfo<EintrCase>& p) {
      return p.param.wait == testing::FaultEnv::Op::kFutexWait ? std::string("ForTheTurn")
                                                                   : std::string("InTheKernel");
    });

// 4 processes x 8 threads x 2,000 read-then-write closures, started behind
// a barrier: every closure reads max(n) and inserts max(n)+1 as the primary
// key, so any lost serialisation shows as a constraint error, a gap or a
// missing row. The processes queue on the write lock, never on SQLite's
// locks: SQLite's busy handler (a sleep-and-retry loop) is never called.
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
    long long ok = 0, errors = -1, timeouts = -1, busy_calls = -1;
    ASSERT_EQ(std::sscanf(done.c_str(), "done %lld %lld %lld %lld", &ok, &errors, &timeouts,
                          &busy_calls),
              4)
        << done;
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(timeouts, 0);
    EXPECT_EQ(busy_calls, 0) << "SQLite's busy handler ran: a writer slept and retried";
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
// A process crash loses nothing at any synchronous level, in either journal
// mode: the kernel holds what was written (docs/durability's table; power
// loss is the crash harness's part).
struct Durability {
  std::string journal;  // "wal" or "delete"
  std::string sync;     // "off", "normal", "full" or "extra"
  int pragma;           // PRAGMA synchronous as SQLite reads it back
};

void PrintTo(const Durability& d, std::ostream* os) { *os << d.journal << "/" << d.sync; }

class SigkillTest : public ::testing::TestWithParam<Durability> {};

TEST_P(SigkillTest, SigkilledWriterLosesNoAcknowledgedWrite) {
  const Durability& d = GetParam();
  TempDir tmp;
  std::string path = tmp.File("kill.db");
  for (int round = 0; round < 2; ++round) {
    std::set<long long> acked;
    {
      Child writer({"ack-writer", path, "4", std::to_string(round * 100'000'000LL), d.journal,
                    d.sync});
      ASSERT_EQ(writer.ReadLine(), "ready " + d.journal + " " + std::to_string(d.pragma));
      while (acked.size() < 600) {
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
    // Opened read-write first: in rollback-journal mode the kill can leave
    // a hot journal, which only a writer may roll back.
    Options options;
    options.write_timeout = std::chrono::seconds(5);
    options.journal_mode = d.journal == "wal" ? JournalMode::kWal : JournalMode::kDelete;
    auto db = Database::Open(path, options);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    EXPECT_EQ(testing::IntegrityCheck(path), "ok");
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

INSTANTIATE_TEST_SUITE_P(
    EveryLevel, SigkillTest,
    ::testing::Values(Durability{"wal", "off", 0}, Durability{"wal", "normal", 1},
                      Durability{"wal", "full", 2}, Durability{"wal", "extra", 3},
                      Durability{"delete", "off", 0}, Durability{"delete", "normal", 2},
                      Durability{"delete", "full", 3}, Durability{"delete", "extra", 3}),
    [](const ::testing::TestParamInfo<Durability>& param_info) {
      return param_info.param.journal + "_" + param_info.param.sync;
    });

}  // namespace
}  // namespace sqlsteward
