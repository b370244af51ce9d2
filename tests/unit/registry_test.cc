// The instance registry: slots, ownership, crashed and reused pids, stale
// and foreign slots, malformed records, handover.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "sidecar/process_identity.h"
#include "sidecar/registry.h"
#include "sidecar/sidecar_file.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/database.h"
#include "sqlsteward/instances.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::Child;
using testing::StatusIs;
using testing::TempDir;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// A slot as docs/formats.md lays it out.
struct RawSlot {
  std::uint32_t magic = 0x544F4C53;
  std::uint32_t ownership = 1;
  std::int32_t pid = 0;
  std::uint32_t state = 1;
  std::uint64_t start_ticks = 0;
  std::uint64_t pid_namespace = 0;
  std::int64_t started_unix_ms = 0;
  std::uint64_t heartbeat = 1;
  std::int64_t heartbeat_unix_ms = 0;
  std::uint64_t handover_seq = 0;
  std::int32_t handover_requester = 0;
  std::uint32_t reserved0 = 0;
  std::uint64_t nonce = 7;
  char boot_id[40] = {};
  char host[64] = {};
  char reserved[72] = {};
};
static_assert(sizeof(RawSlot) == 256);

void WriteSlot(const std::string& db, int slot, const RawSlot& rec) {
  int fd = ::open((db + "-steward").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &rec, sizeof rec, 4096 + slot * 256), 256);
  ::close(fd);
}

// A slot that looks like a live instance on this machine, as far as the
// recorded identity goes.
RawSlot SlotOf(std::int32_t pid, std::uint64_t start_ticks) {
  const auto& self = internal::ProcessIdentity::Self();
  RawSlot rec;
  rec.pid = pid;
  rec.start_ticks = start_ticks;
  rec.pid_namespace = self.pid_namespace;
  std::strncpy(rec.boot_id, self.boot_id.c_str(), sizeof rec.boot_id - 1);
  std::strncpy(rec.host, self.host.c_str(), sizeof rec.host - 1);
  return rec;
}

// Field 22 of /proc/<pid>/stat, read independently of the library.
std::uint64_t StartTicksOf(pid_t pid) {
  int fd = ::open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY);
  char buf[1024] = {};
  ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0) ::close(fd);
  std::string text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) fields >> field;
  return std::stoull(field);
}

std::unique_ptr<Database> OpenOk(const std::string& path, const Options& options = {}) {
  auto db = Database::Open(path, options);
  EXPECT_TRUE(db.has_value()) << testing::Describe(db);
  return db.has_value() ? std::move(db).value() : nullptr;
}

Status CreateAcked(Database& db) {
  return db.Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE IF NOT EXISTS acked(id INTEGER PRIMARY KEY)");
  });
}

TEST(RegistryTest, EachHandleHoldsASlotUntilClose) {
  TempDir tmp;
  std::string path = tmp.File("r.db");
  auto a = OpenOk(path);
  auto b = OpenOk(path);
  auto status = ReadRegistry(path);
  ASSERT_TRUE(status.has_value()) << testing::Describe(status);
  ASSERT_EQ(status->instances.size(), 2u);
  for (const InstanceInfo& info : status->instances) {
    EXPECT_EQ(info.pid, ::getpid());
    EXPECT_EQ(info.domain, InstanceDomain::kThisDomain);
    EXPECT_EQ(info.ownership, Ownership::kShared);
  }
  EXPECT_FALSE(status->owner.has_value());
  SQLSTEWARD_ASSERT_OK(a->Close());
  EXPECT_EQ(ReadRegistry(path)->instances.size(), 1u);
  b.reset();
  EXPECT_TRUE(ReadRegistry(path)->instances.empty());
  EXPECT_THAT(ReadRegistry(tmp.File("never.db")), StatusIs(StatusCode::kNotFound));
}

int ThreadsOfThisProcess() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The heartbeat of this process's instance of `path`, read from the sidecar.
std::uint64_t OurHeartbeat(const std::string& path) {
  auto status = ReadRegistry(path);
  EXPECT_TRUE(status.has_value()) << testing::Describe(status);
  if (!status.has_value() || status->instances.size() != 1) return 0;
  return status->instances.front().heartbeat;
}

// One thread of the process beats for every handle: a warm process opens
// and closes without starting a thread (Close used to join one, which on a
// loaded machine waited milliseconds for it to be scheduled), and every
// open handle's heartbeat keeps advancing, also after others closed.
TEST(RegistryTest, OneHeartbeatThreadBeatsForEveryHandleAndOpenStartsNone) {
  TempDir tmp;
  Options opts;
  opts.heartbeat_interval = std::chrono::milliseconds(5);
  auto warm = OpenOk(tmp.File("warm.db"), opts);
  ASSERT_NE(warm, nullptr);
  const int threads = ThreadsOfThisProcess();
  for (int i = 0; i < 5; ++i) {
    auto db = OpenOk(tmp.File("cycle.db"), opts);
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(ThreadsOfThisProcess(), threads) << "an Open started a thread";
    SQLSTEWARD_ASSERT_OK(db->Close());
    EXPECT_EQ(ThreadsOfThisProcess(), threads);
  }
  auto other = OpenOk(tmp.File("other.db"), opts);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(ThreadsOfThisProcess(), threads);
  auto advances = [](const std::string& path) {
    const std::uint64_t first = OurHeartbeat(path);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (OurHeartbeat(path) < first + 3 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return OurHeartbeat(path) >= first + 3;
  };
  EXPECT_TRUE(advances(tmp.File("warm.db")));
  EXPECT_TRUE(advances(tmp.File("other.db")));
  SQLSTEWARD_ASSERT_OK(warm->Close());
  EXPECT_TRUE(advances(tmp.File("other.db")));
  EXPECT_TRUE(ReadRegistry(tmp.File("warm.db"))->instances.empty());
}

TEST(RegistryTest, ExclusiveOwnerRefusesASecondOpenerWithinASecondNamingIt) {
  TempDir tmp;
  std::string path = tmp.File("x.db");
  { auto db = OpenOk(path); }
  Child owner({"open-exclusive", path});
  std::string line = owner.ReadLine();
  ASSERT_EQ(line.rfind("open ", 0), 0u) << line;
  std::string pid = line.substr(5);

  auto start = Clock::now();
  auto second = Database::Open(path);
  auto took = Clock::now() - start;
  EXPECT_THAT(second, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(std::string(second.error().message()), HasSubstr("pid " + pid));
  EXPECT_THAT(std::string(second.error().message()), HasSubstr("started "));
  EXPECT_THAT(std::string(second.error().hint()), HasSubstr("take_over"));
  EXPECT_LT(took, std::chrono::seconds(1));

  auto status = ReadRegistry(path);
  ASSERT_TRUE(status->owner.has_value());
  EXPECT_EQ(std::to_string(status->owner->pid), pid);

  // An exclusive opener is refused by a shared instance just the same.
  auto shared = OpenOk(tmp.File("y.db"));
  Options exclusive;
  exclusive.ownership = Ownership::kExclusive;
  EXPECT_THAT(Database::Open(tmp.File("y.db"), exclusive), StatusIs(StatusCode::kUnavailable));
}

TEST(RegistryTest, WaitingOpenerProceedsWhenTheOwnerIsKilled) {
  TempDir tmp;
  std::string path = tmp.File("k.db");
  { auto db = OpenOk(path); }
  Child owner({"open-exclusive", path});
  ASSERT_EQ(owner.ReadLine().rfind("open ", 0), 0u);

  std::atomic<bool> opened{false};
  Clock::time_point opened_at;
  std::thread waiter([&] {
    Options options;
    options.wait_for_owner = std::chrono::seconds(20);
    auto db = Database::Open(path, options);
    opened_at = Clock::now();
    EXPECT_TRUE(db.has_value()) << testing::Describe(db);
    opened = db.has_value();
  });
  // The opener must be queued in the kernel on the owner's slot lock before
  // the kill, or this test would prove nothing about waiting.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!testing::KernelQueuesAWaiterOn(path + "-steward") && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool blocked = testing::KernelQueuesAWaiterOn(path + "-steward");
  const bool opened_before_the_kill = opened;
  auto killed_at = Clock::now();
  owner.Kill(SIGKILL);
  EXPECT_EQ(owner.Wait(), 128 + SIGKILL);
  waiter.join();
  EXPECT_TRUE(blocked) << "the opener never blocked on the owner's slot";
  EXPECT_FALSE(opened_before_the_kill);
  EXPECT_TRUE(opened);
  EXPECT_LT(opened_at - killed_at, std::chrono::seconds(1));
}

TEST(RegistryTest, CrashedInstanceSlotIsReclaimedAtOnce) {
  TempDir tmp;
  std::string path = tmp.File("c.db");
  { auto db = OpenOk(path); }
  {
    Child owner({"open-exclusive", path});
    ASSERT_EQ(owner.ReadLine().rfind("open ", 0), 0u);
    owner.Kill(SIGKILL);
    owner.Wait();
  }
  auto status = ReadRegistry(path);
  ASSERT_EQ(status->instances.size(), 1u);
  EXPECT_EQ(status->instances[0].domain, InstanceDomain::kDead);
  auto start = Clock::now();
  Options exclusive;
  exclusive.ownership = Ownership::kExclusive;
  auto db = OpenOk(path, exclusive);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(ReadRegistry(path)->instances.size(), 1u);  // Ours, in the reclaimed slot.
}

// A slot naming a running process with the wrong start time is a dead
// instance whose pid was reused: reclaimed. One naming a running process
// with the right start time, whose lock we cannot see, is an instance in
// another lock domain (this process table is the witness; its heartbeat
// bytes may be stale through such a mount): refused.
TEST(RegistryTest, PidReuseIsNotMistakenForALiveInstance) {
  TempDir tmp;
  std::string path = tmp.File("p.db");
  { auto db = OpenOk(path); }
  Child sleeper("sleep", {"30"});
  std::uint64_t ticks = StartTicksOf(sleeper.pid());

  WriteSlot(path, 5, SlotOf(sleeper.pid(), ticks + 1));
  {
    auto db = OpenOk(path);
    auto status = ReadRegistry(path);
    ASSERT_EQ(status->instances.size(), 1u);
    EXPECT_EQ(status->instances[0].pid, ::getpid());
  }

  WriteSlot(path, 5, SlotOf(sleeper.pid(), ticks));
  auto refused = Database::Open(path);
  ASSERT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("another lock domain"));
  EXPECT_THAT(std::string(refused.error().message()),
              HasSubstr("pid " + std::to_string(sleeper.pid())));
  EXPECT_FALSE(refused.error().hint().empty());

  // Once that process is gone (a zombie until reaped counts as gone), the
  // slot is reclaimed.
  sleeper.Kill(SIGKILL);
  auto reclaimed = OpenOk(path);
  EXPECT_NE(reclaimed, nullptr);
}

// From another machine (boot id), liveness is read from the heartbeat: a
// still one is reclaimed after two intervals, an advancing one refused.
TEST(RegistryTest, ForeignSlotsAreJudgedByTheirHeartbeat) {
  TempDir tmp;
  std::string path = tmp.File("f.db");
  { auto db = OpenOk(path); }
  RawSlot foreign = SlotOf(4242, 99);
  std::strncpy(foreign.boot_id, "00000000-1111-2222-3333-444444444444",
               sizeof foreign.boot_id - 1);
  std::strncpy(foreign.host, "other-host", sizeof foreign.host - 1);
  WriteSlot(path, 3, foreign);
  Options delete_mode;  // Visible instances on other hosts rule out WAL.
  delete_mode.journal_mode = JournalMode::kDelete;
  {
    auto start = Clock::now();
    auto db = OpenOk(path, delete_mode);
    EXPECT_GE(Clock::now() - start, 2 * Options().heartbeat_interval);
    EXPECT_EQ(ReadRegistry(path)->instances.size(), 1u);  // The still slot was reclaimed.
  }

  WriteSlot(path, 3, foreign);
  std::atomic<bool> stop{false};
  std::thread beat([&] {
    RawSlot live = foreign;
    while (!stop) {
      live.heartbeat++;
      WriteSlot(path, 3, live);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  auto refused = Database::Open(path, delete_mode);
  stop = true;
  beat.join();
  EXPECT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("other-host"));
}

// Instances that close while another one scans the slots must read as gone,
// not as live instances whose lock vanished (another lock domain).
TEST(RegistryTest, ConcurrentOpenAndCloseAcrossProcessesNeverRefuses) {
  TempDir tmp;
  std::string path = tmp.File("churn.db");
  { auto db = OpenOk(path); }
  std::vector<std::unique_ptr<Child>> children;
  for (int i = 0; i < 4; ++i) {
    children.push_back(std::make_unique<Child>(std::vector<std::string>{"open-close-loop", path, "40"}));
  }
  for (auto& c : children) ASSERT_EQ(c->ReadLine(), "ready");
  for (auto& c : children) c->CloseStdin();
  for (auto& c : children) {
    EXPECT_EQ(c->ReadLine(), "done 0 ");
    EXPECT_EQ(c->Wait(), 0);
  }
}

// An instance on another machine whose lock we can see (NFS with working
// locks) may share a rollback-journal database, never a WAL one: WAL's
// shared memory does not span machines. The "other machine" is a slot with
// a foreign boot id whose lock this test really holds.
TEST(RegistryTest, WalIsRefusedAcrossHostsWhoseLocksAreVisible) {
  TempDir tmp;
  std::string path = tmp.File("nfs.db");
  { auto db = OpenOk(path); }
  RawSlot remote = SlotOf(4242, 99);
  std::strncpy(remote.boot_id, "00000000-1111-2222-3333-444444444444", sizeof remote.boot_id - 1);
  std::strncpy(remote.host, "nfs-peer", sizeof remote.host - 1);
  WriteSlot(path, 7, remote);
  int fd = ::open((path + "-steward").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 4096 + 7 * 256;
  fl.l_len = 1;
  ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &fl), 0);

  Options wal;
  wal.journal_mode = JournalMode::kWal;
  auto refused = Database::Open(path, wal);
  EXPECT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("nfs-peer"));
  EXPECT_THAT(std::string(refused.error().hint()), HasSubstr("kDelete"));
  Options rollback;
  rollback.journal_mode = JournalMode::kDelete;
  auto shared = OpenOk(path, rollback);
  EXPECT_NE(shared, nullptr);
  ::close(fd);
}

TEST(RegistryTest, MalformedSlotIsATypedError) {
  TempDir tmp;
  std::string path = tmp.File("m.db");
  { auto db = OpenOk(path); }
  RawSlot bad = SlotOf(123, 1);
  bad.magic = 0xdeadbeef;
  WriteSlot(path, 0, bad);
  EXPECT_THAT(Database::Open(path), StatusIs(StatusCode::kCorruption));
  bad = SlotOf(123, 1);
  bad.ownership = 9;
  WriteSlot(path, 0, bad);
  auto db = Database::Open(path);
  EXPECT_THAT(db, StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(std::string(db.error().message()), HasSubstr("slot 0"));
  EXPECT_THAT(ReadRegistry(path), StatusIs(StatusCode::kCorruption));
}

// The old instance writes from four threads without pause; the new one takes
// over. Every write the old one acknowledged is in the database, none it
// rejected is, every write after the step-down is rejected with
// kUnavailable, and the new instance writes at once.
TEST(RegistryTest, HandoverUnderLoadLosesNothing) {
  TempDir tmp;
  std::string path = tmp.File("h.db");
  {
    auto db = OpenOk(path);
    SQLSTEWARD_ASSERT_OK(CreateAcked(*db));
  }
  Child old({"handover-writer", path});
  ASSERT_EQ(old.ReadLine(), "ready");
  std::set<long long> acked;
  while (acked.size() < 500) {
    std::string line = old.ReadLine();
    ASSERT_EQ(line.rfind("ack ", 0), 0u) << line;
    acked.insert(std::stoll(line.substr(4)));
  }
  Options successor;
  successor.ownership = Ownership::kExclusive;
  successor.take_over = true;
  auto db = OpenOk(path, successor);
  ASSERT_NE(db, nullptr);
  SQLSTEWARD_EXPECT_OK(db->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO acked(id) VALUES(-1)");
  }));

  // Lines of different threads interleave in any order; within one thread
  // (id / 1e9), no write is acknowledged after its first rejection.
  std::set<long long> rejected;
  std::set<long long> threads_rejected;
  for (std::string line = old.ReadLine(); !line.empty(); line = old.ReadLine()) {
    std::istringstream in(line);
    std::string word, code;
    long long id = 0;
    in >> word >> id >> code;
    long long thread = id / 1'000'000'000LL;
    if (word == "ack") {
      EXPECT_EQ(threads_rejected.count(thread), 0u)
          << "thread " << thread << " had a write acknowledged after the step-down";
      acked.insert(id);
    } else {
      ASSERT_EQ(word, "rejected") << line;
      EXPECT_EQ(code, "unavailable");
      threads_rejected.insert(thread);
      rejected.insert(id);
    }
  }
  EXPECT_EQ(old.Wait(), 0);
  EXPECT_EQ(threads_rejected.size(), 4u);
  std::size_t missing = 0, present_rejected = 0;
  SQLSTEWARD_ASSERT_OK(db->Read([&](ReadTransaction& tx) -> Status {
    for (long long id : acked) {
      if (**tx.QueryInt64("SELECT count(*) FROM acked WHERE id = ?", id) != 1) ++missing;
    }
    for (long long id : rejected) {
      if (**tx.QueryInt64("SELECT count(*) FROM acked WHERE id = ?", id) != 0) ++present_rejected;
    }
    return Status();
  }));
  EXPECT_EQ(missing, 0u) << "of " << acked.size();
  EXPECT_EQ(present_rejected, 0u);
  EXPECT_EQ(testing::IntegrityCheck(path), "ok");
}

TEST(RegistryTest, RequestHandoverFromOutsideWaitsUntilTheOwnerIsGone) {
  TempDir tmp;
  std::string path = tmp.File("o.db");
  { auto db = OpenOk(path); }
  std::atomic<std::int32_t> told{0};
  Options owner_options;
  owner_options.ownership = Ownership::kExclusive;
  owner_options.on_handed_over = [&](std::int32_t successor) { told = successor; };
  auto owner = OpenOk(path, owner_options);
  SQLSTEWARD_ASSERT_OK(RequestHandover(path, std::chrono::seconds(5)));
  EXPECT_EQ(told.load(), ::getpid());
  Status st = owner->Write([](Transaction&) { return Status(); });
  EXPECT_THAT(st, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(std::string(st.message()), HasSubstr("handed the database over"));
  EXPECT_FALSE(ReadRegistry(path)->owner.has_value());
  auto next = OpenOk(path, owner_options);  // The way is free.
}

// InspectSidecar gives the verdict Database::Open gives, without writing:
// none, a whole sidecar of this version, one that is not a sidecar (an empty
// one included), one that is not a regular file (never blocking on a FIFO).
TEST(RegistryTest, InspectSidecarAgreesWithOpen) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  EXPECT_THAT(InspectSidecar(path), StatusIs(StatusCode::kNotFound));
  {
    auto db = OpenOk(path);
    ASSERT_NE(db, nullptr);
    auto info = InspectSidecar(path);
    SQLSTEWARD_ASSERT_OK(info);
    EXPECT_EQ(info->format_version, 1u);
    EXPECT_EQ(info->path, path + "-steward");
  }
  // Empty: Open waits two seconds for a young file to become whole, then
  // refuses it; so does InspectSidecar.
  ASSERT_EQ(::truncate((path + "-steward").c_str(), 0), 0);
  EXPECT_THAT(InspectSidecar(path), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(Database::Open(path).status(), StatusIs(StatusCode::kCorruption));
  // A FIFO: refused as not a regular file, at once.
  ASSERT_EQ(::unlink((path + "-steward").c_str()), 0);
  ASSERT_EQ(::mkfifo((path + "-steward").c_str(), 0600), 0);
  auto fifo = InspectSidecar(path);
  EXPECT_THAT(fifo, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(fifo.error().message()), HasSubstr("not a regular file"));
  EXPECT_THAT(ReadWriteLock(path).status(), StatusIs(StatusCode::kFailedPrecondition));
}

// The holder record is decoded in one place: ReadWriteLock returns all of
// it, purpose included, while another open file description holds the lock.
TEST(RegistryTest, ReadWriteLockNamesTheHolderAndItsPurpose) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  auto db = OpenOk(path);
  ASSERT_NE(db, nullptr);
  auto free_lock = ReadWriteLock(path);
  SQLSTEWARD_ASSERT_OK(free_lock);
  EXPECT_FALSE(free_lock->held);

  auto file = internal::SidecarFile::Open(posix::Env::Default(), path,
                                          internal::FileOwner{::geteuid(), ::getegid()}, nullptr);
  SQLSTEWARD_ASSERT_OK(file);
  auto lock = internal::WriteLock::Create(**file, /*ordered=*/true);
  SQLSTEWARD_ASSERT_OK(lock);
  SQLSTEWARD_ASSERT_OK((*lock)->Acquire(Clock::now() + std::chrono::seconds(5),
                                        "migration 0003_orders"));
  auto held = ReadWriteLock(path);
  SQLSTEWARD_ASSERT_OK(held);
  EXPECT_TRUE(held->held);
  EXPECT_EQ(held->pid, static_cast<std::int32_t>(::getpid()));
  EXPECT_EQ(held->host, internal::ProcessIdentity::Self().host);
  EXPECT_EQ(held->purpose, "migration 0003_orders");
  EXPECT_THAT(DescribeWriteLockHolder(*held), HasSubstr("(migration 0003_orders)"));
  // A write through the handle names the holder when its deadline passes.
  Status st = db->Write([](Transaction& tx) { return tx.ExecScript("CREATE TABLE t(x)"); },
                        WriteOptions{std::chrono::milliseconds(200)});
  EXPECT_THAT(st, StatusIs(StatusCode::kTimeout));
  EXPECT_THAT(std::string(st.message()), HasSubstr("migration 0003_orders"));
  (*lock)->Release();
  SQLSTEWARD_EXPECT_OK(
      db->Write([](Transaction& tx) { return tx.ExecScript("CREATE TABLE t(x)"); }));
}

}  // namespace
}  // namespace sqlsteward
