// The turn queue (sidecar/turn_queue.h): processes that wait for the write
// lock get it in the order they asked; a waiter or a holder killed in line
// holds nobody up; a waiter that gives up keeps nobody waiting; garbage in
// the queue's area costs at most a stall timeout; a process outside the
// queue still excludes everyone.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/database_access.h"
#include "probe/probes.h"
#include "posix/fs.h"
#include "sidecar/format.h"
#include "sidecar/sidecar_file.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/database.h"
#include "support/fault_env.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Child;
using testing::StatusIs;
using testing::TempDir;

std::uint32_t ReadU32(const std::string& db, off_t offset) {
  const std::string sidecar = internal::SidecarPath(db);
  const int fd = ::open(sidecar.c_str(), O_RDONLY | O_CLOEXEC);
  std::uint32_t v = 0;
  if (fd < 0 || ::pread(fd, &v, sizeof v, offset) != sizeof v) ADD_FAILURE() << "read " << sidecar;
  if (fd >= 0) ::close(fd);
  return v;
}

// Tickets handed out so far: each wait for the write lock takes one.
std::uint32_t Tickets(const std::string& db) { return ReadU32(db, internal::kTurnNextOffset); }

// Waits until `n` tickets have been handed out: the last waiter is in line.
void WaitForTickets(const std::string& db, std::uint32_t n) {
  const auto give_up = Clock::now() + std::chrono::seconds(20);
  while (Tickets(db) < n && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GE(Tickets(db), n) << "a waiter never took its ticket";
}

class TurnQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = tmp_.File("turns.db");
    auto db = Database::Open(path_);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    SQLSTEWARD_ASSERT_OK((*db)->Write([](Transaction& tx) {
      return tx.Exec("CREATE TABLE turns(seq INTEGER PRIMARY KEY, tag TEXT NOT NULL)");
    }));
    SQLSTEWARD_ASSERT_OK((*db)->Close());
    // The queue exists only where shared memory is coherent; the test
    // directory (a local disk) must be such a place, or the tests below
    // would prove nothing.
    auto probed = probe_internal::ProbeDirectoryCached(posix::Env::Default(), tmp_.path());
    ASSERT_TRUE(probed.has_value()) << testing::Describe(probed);
    ASSERT_TRUE(probed->shared_memory_coherent) << "no turn queue on this filesystem";
  }

  // `n` writers, opened and waiting for their go.
  std::vector<std::unique_ptr<Child>> StartWriters(int n) {
    std::vector<std::unique_ptr<Child>> writers;
    for (int i = 1; i <= n; ++i) {
      writers.push_back(std::make_unique<Child>(
          std::vector<std::string>{"queue-write", path_, "w" + std::to_string(i)}));
      EXPECT_EQ(writers.back()->ReadLine(), "ready");
    }
    return writers;
  }

  // Lets each writer go in turn, each only once the one before is in line.
  void QueueInOrder(const std::vector<std::unique_ptr<Child>>& writers) {
    std::uint32_t tickets = Tickets(path_);
    for (const auto& w : writers) {
      w->CloseStdin();
      WaitForTickets(path_, ++tickets);
    }
  }

  std::string Order() { return testing::RawQuery(path_, "SELECT tag FROM turns ORDER BY seq"); }

  TempDir tmp_;
  std::string path_;
};

// Six processes queue one after the other behind a holder; when it lets
// go, they write in the order they queued. The kernel's own order for six
// waiters of one OFD lock is whoever runs first (1 chance in 720 to match).
TEST_F(TurnQueueTest, WaitersAreServedInTheOrderTheyQueued) {
  auto writers = StartWriters(6);
  Child holder({"hold-write-lock", path_});
  ASSERT_EQ(holder.ReadLine(), "holding " + std::to_string(holder.pid()));
  QueueInOrder(writers);
  EXPECT_EQ(testing::CountRows(path_, "turns"), 0);
  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  for (auto& w : writers) {
    EXPECT_EQ(w->ReadLine(), "wrote");
    EXPECT_EQ(w->Wait(), 0);
  }
  EXPECT_EQ(holder.Wait(), 0);
  EXPECT_EQ(Order(), "w1\nw2\nw3\nw4\nw5\nw6\n");
}

// A waiter killed in line: the ones behind it are served in order, the dead
// one's turn skipped (its slot lock is gone).
TEST_F(TurnQueueTest, AWaiterKilledInLineHoldsNobodyUp) {
  auto writers = StartWriters(4);
  Child holder({"hold-write-lock", path_});
  ASSERT_EQ(holder.ReadLine(), "holding " + std::to_string(holder.pid()));
  QueueInOrder(writers);
  writers[1]->Kill(SIGKILL);
  writers[1]->Wait();
  holder.CloseStdin();
  EXPECT_EQ(holder.ReadLine(), "released");
  for (int i : {0, 2, 3}) {
    EXPECT_EQ(writers[static_cast<std::size_t>(i)]->ReadLine(), "wrote");
    EXPECT_EQ(writers[static_cast<std::size_t>(i)]->Wait(), 0);
  }
  EXPECT_EQ(holder.Wait(), 0);
  EXPECT_EQ(Order(), "w1\nw3\nw4\n");
}

// The holder of the turn killed while it holds the lock: the kernel frees
// the lock, and the waiters, finding the turn's owner dead, go on in order.
TEST_F(TurnQueueTest, AHolderKilledHoldingItsTurnHoldsNobodyUp) {
  auto writers = StartWriters(3);
  Child holder({"hold-write-lock", path_});
  ASSERT_EQ(holder.ReadLine(), "holding " + std::to_string(holder.pid()));
  QueueInOrder(writers);
  holder.Kill(SIGKILL);
  holder.Wait();
  for (auto& w : writers) {
    EXPECT_EQ(w->ReadLine(), "wrote");
    EXPECT_EQ(w->Wait(), 0);
  }
  EXPECT_EQ(Order(), "w1\nw2\nw3\n");
  EXPECT_EQ(testing::IntegrityCheck(path_), "ok");
}

// A process that takes the OFD lock without the queue (an older version)
// still excludes a writer whose turn has come: it waits in the kernel until
// the lock is free, and writes only then.
TEST_F(TurnQueueTest, AProcessOutsideTheQueueStillExcludesEveryone) {
  auto writers = StartWriters(1);
  Child outsider({"hold-ofd-lock", path_});
  ASSERT_EQ(outsider.ReadLine(), "holding " + std::to_string(outsider.pid()));
  writers[0]->CloseStdin();
  const std::string sidecar = internal::SidecarPath(path_);
  const auto give_up = Clock::now() + std::chrono::seconds(20);
  while (!testing::KernelQueuesAWaiterOn(sidecar) && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(testing::KernelQueuesAWaiterOn(sidecar)) << "the writer never waited in the kernel";
  EXPECT_EQ(testing::CountRows(path_, "turns"), 0);
  outsider.CloseStdin();
  EXPECT_EQ(outsider.ReadLine(), "released");
  EXPECT_EQ(writers[0]->ReadLine(), "wrote");
  EXPECT_EQ(writers[0]->Wait(), 0);
  EXPECT_EQ(outsider.Wait(), 0);
  EXPECT_EQ(Order(), "w1\n");
}

// The mapping of the sidecar's header fails (ENOMEM): the handle writes as
// it would on a filesystem without coherent shared memory, queued on the
// OFD lock alone, and takes no ticket.
TEST_F(TurnQueueTest, AFailedMappingLeavesWritesUnorderedNotBroken) {
  using Op = testing::FaultEnv::Op;
  // Never destroyed: the write lock's waiter thread may close its
  // descriptor through it after the Database is gone (file_lock.h).
  static testing::FaultEnv* const faults = new testing::FaultEnv;
  faults->FailAlways(Op::kMapShared, ENOMEM, "-steward");
  ASSERT_GT(Tickets(path_), 0u);  // SetUp's handle took some.
  auto db = internal::DatabaseAccess::OpenWithEnv(path_, Options(), faults);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_GE(faults->Calls(Op::kMapShared, "-steward"), 1);
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO turns(tag) VALUES('unordered')");
  }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  faults->Clear();
  // Alone, the opener cleared the area; without the mapping it took none.
  EXPECT_EQ(Tickets(path_), 0u) << "a handle without the mapping took tickets";
  EXPECT_EQ(Order(), "unordered\n");
}

// Within one process, several write locks on one sidecar (each its own open
// file description, as separate Database handles have): the queue's rules
// one at a time.
class TurnQueueLocksTest : public TurnQueueTest {
 protected:
  std::unique_ptr<internal::WriteLock> NewLock() {
    auto file = internal::SidecarFile::Open(posix::Env::Default(), path_, owner_, {});
    EXPECT_TRUE(file.has_value()) << testing::Describe(file);
    files_.push_back(std::move(file).value());
    auto lock = internal::WriteLock::Create(*files_.back(), /*ordered=*/true);
    EXPECT_TRUE(lock.has_value()) << testing::Describe(lock);
    EXPECT_TRUE((*lock)->ordered());
    return std::move(lock).value();
  }

  internal::FileOwner owner_{::getuid(), ::getgid()};
  std::vector<std::unique_ptr<internal::SidecarFile>> files_;
};

// A waiter whose deadline passes gets kTimeout naming the holder, and the
// one behind it is served as soon as the holder lets go: an abandoned place
// is skipped, not waited out (kStallTimeout).
TEST_F(TurnQueueLocksTest, AWaiterThatGivesUpKeepsNobodyWaiting) {
  auto holder = NewLock();
  auto quitter = NewLock();
  auto next = NewLock();
  SQLSTEWARD_ASSERT_OK(holder->Acquire(Clock::now() + std::chrono::seconds(5), "holding"));
  const std::uint32_t first = Tickets(path_);
  EXPECT_THAT(quitter->Acquire(Clock::now() + std::chrono::milliseconds(50)),
              StatusIs(StatusCode::kTimeout));
  EXPECT_EQ(Tickets(path_), first + 1);
  // Asked again, it waits at the place it had: no new ticket.
  Status quit = quitter->Acquire(Clock::now() + std::chrono::milliseconds(20));
  EXPECT_EQ(Tickets(path_), first + 1);
  EXPECT_THAT(quit, StatusIs(StatusCode::kTimeout));
  EXPECT_NE(quit.message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << quit.ToString();
  EXPECT_NE(quit.message().find("holding"), std::string::npos) << quit.ToString();
  const std::uint32_t before = Tickets(path_);
  Status got;
  std::thread waiter([&] { got = next->Acquire(Clock::now() + std::chrono::seconds(20)); });
  WaitForTickets(path_, before + 1);
  const auto released = Clock::now();
  holder->Release();
  waiter.join();
  SQLSTEWARD_EXPECT_OK(got);
  EXPECT_LT(Clock::now() - released, internal::TurnQueue::kStallTimeout)
      << "the abandoned place was waited out, not skipped";
  EXPECT_EQ(quitter->turn_stats().turns, 0u);
  EXPECT_EQ(next->turn_stats().waited, 1u);
  next->Release();
  // The quitter rejoins its place, passed by now: it queues anew.
  SQLSTEWARD_EXPECT_OK(quitter->Acquire(Clock::now() + std::chrono::seconds(5)));
  quitter->Release();
}

// Garbage in the queue's area (a torn page, a process of another version
// that wrote there): a writer is delayed at most by the stall timeout, then
// bypasses the queue; the next opener alone resets the area.
TEST_F(TurnQueueLocksTest, GarbageInTheAreaCostsAtMostAStall) {
  {
    const int fd = ::open(internal::SidecarPath(path_).c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::vector<unsigned char> junk(
        static_cast<std::size_t>(internal::kTurnAreaEnd - internal::kTurnAreaBegin));
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<unsigned char>(i * 37 + 11);
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), internal::kTurnAreaBegin),
              static_cast<ssize_t>(junk.size()));
    ::close(fd);
  }
  auto lock = NewLock();
  const auto start = Clock::now();
  SQLSTEWARD_ASSERT_OK(lock->Acquire(Clock::now() + std::chrono::seconds(20)));
  lock->Release();
  EXPECT_LT(Clock::now() - start, 4 * internal::TurnQueue::kStallTimeout);

  // Alone, an opener clears the area: the next write takes ticket 0 at once.
  auto db = Database::Open(path_);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ(Tickets(path_), 1u) << "Open's own acquisition is ticket 0";
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO turns(tag) VALUES('after')");
  }));
  EXPECT_EQ(Tickets(path_), 2u);
  SQLSTEWARD_EXPECT_OK((*db)->Close());
}

}  // namespace
}  // namespace sqlsteward
