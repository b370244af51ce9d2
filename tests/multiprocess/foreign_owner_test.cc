// Issue 11, class 3: files of another user. In a shared sticky directory
// (01777, like /tmp) the database's files are created, planted and opened
// by different users: root, the service (`daemon`, uid 1) and an attacker
// (`nobody`, uid 65534). Each opener is a helper process that drops to its
// uid (open-as), read with a bounded wait, so a spin or a hang fails the
// test instead of stalling it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

#include "posix/env.h"
#include "sidecar/claim.h"
#include "sidecar/file_owner.h"
#include "sidecar/format.h"
#include "sqlsteward/sqlsteward.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::Child;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::StatusIs;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr uid_t kService = 1;       // daemon:daemon
constexpr uid_t kAttacker = 65534;  // nobody:nogroup

// A TempDir opened to everyone, as /tmp is.
class StickyDir {
 public:
  StickyDir() { ::chmod(tmp_.path().c_str(), 01777); }
  std::string File(const std::string& name) const { return tmp_.File(name); }

 private:
  TempDir tmp_;
};

// A database with table t, owned by `uid` (as its gid) with `mode`.
void MakeDatabase(const std::string& path, uid_t uid, mode_t mode) {
  testing::RawQuery(path, "CREATE TABLE t(x)");
  ASSERT_EQ(::chown(path.c_str(), uid, uid), 0);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// A file with `content`, owned by `uid` with `mode`.
void Plant(const std::string& path, const std::string& content, uid_t uid, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ASSERT_EQ(::fchown(fd, uid, uid), 0);
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ::close(fd);
}

struct Opened {
  std::string line;  // "wrote", or "error <code> <message>"
  Clock::duration elapsed;
};

// Opens `db` as `uid` in a helper process and writes a row; waits at most
// `bound` for its line.
Opened OpenAs(uid_t uid, const std::string& db, std::chrono::milliseconds write_timeout,
              std::chrono::milliseconds bound = std::chrono::seconds(60)) {
  const auto start = Clock::now();
  Child child({"open-as", std::to_string(uid), std::to_string(uid), db,
               std::to_string(write_timeout.count())});
  Opened opened;
  opened.line = child.ReadLine(bound);
  opened.elapsed = Clock::now() - start;
  return opened;
}

struct stat StatOf(const std::string& path) {
  struct stat st = {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

class ForeignOwnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as three users";
  }
};

// Root opening a service's database that has no sidecar yet used to create
// it root:root 0600, and the service could not open its database again.
TEST_F(ForeignOwnerTest, RootGivesTheFilesItCreatesToTheDatabaseOwner) {
  StickyDir dir;
  const std::string db = dir.File("app.db");
  MakeDatabase(db, kAttacker, 0600);  // Here nobody is the service.

  {
    auto opened = Database::Open(db);
    ASSERT_THAT(opened, StatusIs(StatusCode::kOk));
    SQLSTEWARD_ASSERT_OK(
        (*opened)->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t VALUES(0)"); }));
  }
  struct stat st = StatOf(internal::SidecarPath(db));
  EXPECT_EQ(st.st_uid, kAttacker);
  EXPECT_EQ(st.st_gid, kAttacker);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  // The claim file exists only while an instance registers: take it as
  // root would, and look at it.
  {
    internal::RegistrationClaim claim(posix::Env::Default(), internal::ClaimPath(db),
                                      internal::FileOwner{kAttacker, kAttacker});
    SQLSTEWARD_ASSERT_OK(claim.Lock(Clock::now() + std::chrono::seconds(10)));
    st = StatOf(internal::ClaimPath(db));
    EXPECT_EQ(st.st_uid, kAttacker);
    EXPECT_EQ(st.st_gid, kAttacker);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
  }

  EXPECT_EQ(OpenAs(kAttacker, db, std::chrono::seconds(5)).line, "wrote");
  EXPECT_EQ(testing::CountRows(db, "t"), 2);
}

// A sidecar root created before the rule (root:root 0600) is given back
// when root opens the database again; until then the service is told whose
// it is and what to run.
TEST_F(ForeignOwnerTest, RootOwnedSidecarIsNamedAndRepairedByRoot) {
  StickyDir dir;
  const std::string db = dir.File("app.db");
  MakeDatabase(db, kService, 0600);
  const std::string sidecar = internal::SidecarPath(db);
  { ASSERT_THAT(Database::Open(db), StatusIs(StatusCode::kOk)); }
  ASSERT_EQ(::chown(sidecar.c_str(), 0, 0), 0);

  Opened refused = OpenAs(kService, db, std::chrono::seconds(5));
  EXPECT_THAT(refused.line, StartsWith("error permission_denied"));
  EXPECT_THAT(refused.line, HasSubstr("chown 1:1 " + sidecar));

  { ASSERT_THAT(Database::Open(db), StatusIs(StatusCode::kOk)); }
  EXPECT_EQ(StatOf(sidecar).st_uid, kService);
  EXPECT_EQ(OpenAs(kService, db, std::chrono::seconds(5)).line, "wrote");
}

// A database another user left in a shared directory, open to everyone so
// that we would adopt it, is refused: the files we would create beside it
// would be ours, and whatever we wrote would be theirs to read.
TEST_F(ForeignOwnerTest, DatabaseOfAnotherUserIsRefused) {
  StickyDir dir;
  const std::string db = dir.File("app.db");
  MakeDatabase(db, kAttacker, 0666);

  Opened opened = OpenAs(kService, db, std::chrono::seconds(5));
  EXPECT_THAT(opened.line, StartsWith("error permission_denied"));
  EXPECT_THAT(opened.line, HasSubstr(db + " is owned by uid 65534"));
  EXPECT_THAT(opened.line, HasSubstr("remove it as root or as uid 65534"));
  // Nothing was created beside it.
  struct stat st;
  EXPECT_NE(::lstat(internal::SidecarPath(db).c_str(), &st), 0);
  EXPECT_NE(::lstat((db + "-wal").c_str(), &st), 0);
}

// A -journal planted beside the service's database would be rolled back
// into it by SQLite: refused before SQLite opens anything.
TEST_F(ForeignOwnerTest, PlantedJournalIsRefused) {
  StickyDir dir;
  const std::string db = dir.File("app.db");
  MakeDatabase(db, kService, 0600);
  Plant(db + "-journal", std::string(512, 'j'), kAttacker, 0666);

  Opened opened = OpenAs(kService, db, std::chrono::seconds(5));
  EXPECT_THAT(opened.line, StartsWith("error permission_denied"));
  EXPECT_THAT(opened.line, HasSubstr(db + "-journal is owned by uid 65534"));
}

// A valid-looking sidecar planted by another user, whose process holds the
// write lock under a made-up holder record: the service refuses it at once
// instead of queueing behind the attacker or believing the record.
TEST_F(ForeignOwnerTest, PlantedSidecarIsRefusedAndItsHolderIgnored) {
  StickyDir dir;
  const std::string db = dir.File("app.db");
  MakeDatabase(db, kService, 0600);
  const std::string sidecar = internal::SidecarPath(db);
  std::string whole(static_cast<std::size_t>(internal::kSidecarSize), '\0');
  const auto head = internal::EncodeHeader();
  whole.replace(0, head.size(), head.data(), head.size());
  const internal::HolderRecord fake = internal::EncodeHolder(4242, 0, "attacker-host", "planted");
  whole.replace(static_cast<std::size_t>(internal::kHolderOffset), sizeof fake,
                reinterpret_cast<const char*>(&fake), sizeof fake);
  Plant(sidecar, whole, kAttacker, 0666);

  // The attacker's process holds the write lock (an OFD lock of its own
  // open file description, as any process that opened the file could).
  int attacker_fd = ::open(sidecar.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(attacker_fd, 0);
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = internal::kWriteLockByte;
  lock.l_len = 1;
  ASSERT_EQ(::fcntl(attacker_fd, F_OFD_SETLK, &lock), 0);

  Opened opened = OpenAs(kService, db, std::chrono::seconds(3));
  EXPECT_THAT(opened.line, StartsWith("error permission_denied"));
  EXPECT_THAT(opened.line, HasSubstr("sidecar " + sidecar + " is owned by uid 65534"));
  EXPECT_THAT(opened.line, Not(HasSubstr("attacker-host")));
  EXPECT_EQ(testing::CountRows(db, "t"), 0);
  ::close(attacker_fd);

  // The hint's recovery: remove it (as root); the service recreates it as its own.
  ASSERT_EQ(::unlink(sidecar.c_str()), 0);
  EXPECT_EQ(OpenAs(kService, db, std::chrono::seconds(5)).line, "wrote");
  struct stat st = StatOf(sidecar);
  EXPECT_EQ(st.st_uid, kService);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// An hour-old claim file the service cannot remove (another user's, in a
// sticky directory) used to make every open spin at full speed forever.
// Now it is refused within the open's deadline, whoever owns it.
TEST_F(ForeignOwnerTest, PlantedClaimFileEndsTheOpenWithinItsDeadline) {
  constexpr auto kTimeout = std::chrono::seconds(2);
  // The open's deadline: write_timeout, or its default handover_timeout
  // (10 s) when that is longer. Generous, but far from forever.
  constexpr auto kBound = std::chrono::seconds(10) + std::chrono::seconds(10);
  for (uid_t planter : {kAttacker, uid_t{0}}) {
    SCOPED_TRACE("claim file planted by uid " + std::to_string(planter));
    StickyDir dir;
    const std::string db = dir.File("app.db");
    MakeDatabase(db, kService, 0600);
    const std::string claim = internal::ClaimPath(db);
    Plant(claim, "garbage\n", planter, 0644);
    const struct timespec hour_ago[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, claim.c_str(), hour_ago, 0), 0);

    Opened opened = OpenAs(kService, db, kTimeout, std::chrono::seconds(60));
    EXPECT_THAT(opened.line, StartsWith("error permission_denied"));
    EXPECT_THAT(opened.line, HasSubstr(claim));
    EXPECT_LT(opened.elapsed, kBound);
    EXPECT_EQ(testing::CountRows(db, "t"), 0);
  }
}

// A fresh claim file of an allowed owner (root's, of an instance that is
// registering) is waited for, and only until the deadline.
TEST_F(ForeignOwnerTest, FreshClaimFileIsWaitedForUntilTheDeadline) {
  StickyDir dir;
  const std::string db = dir.File("app.db");
  MakeDatabase(db, kService, 0600);
  const std::string claim = internal::ClaimPath(db);
  Plant(claim, "garbage\n", 0, 0644);
  internal::RegistrationClaim waiter(posix::Env::Default(), claim,
                                     internal::FileOwner{kService, kService});
  const auto start = Clock::now();
  EXPECT_THAT(waiter.Lock(start + std::chrono::milliseconds(300)), StatusIs(StatusCode::kTimeout));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_EQ(StatOf(claim).st_uid, 0u);  // Not ours to remove: it is not stale.
}

}  // namespace
}  // namespace sqlsteward
