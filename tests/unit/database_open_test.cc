// Database::Open: files and modes it creates, and each error a user can hit.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <mutex>
#include <thread>

#include "core/database_access.h"
#include "posix/env.h"
#include "support/fault_env.h"
#include "sqlsteward/database.h"
#include "sqlsteward/instances.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::StatusIs;
using testing::TempDir;
using ::testing::HasSubstr;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::unique_ptr<Database> OpenOk(const std::string& path, const Options& options = {}) {
  auto db = Database::Open(path, options);
  EXPECT_TRUE(db.has_value()) << testing::Describe(db);
  return db.has_value() ? std::move(db).value() : nullptr;
}

Status CreateTable(Database& db) {
  return db.Write([](Transaction& tx) { return tx.ExecScript("CREATE TABLE t(v)"); });
}

// Runs fn as an unprivileged user (nobody) in a child process, so permission
// checks apply even when the suite runs as root. Returns the StatusCode the
// child saw, or -1 when it could not drop privileges.
int StatusCodeAsNobody(const std::function<Status()>& fn) {
  return testing::RunInChild([&] {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return 255;
    return static_cast<int>(fn().code());
  });
}

TEST(DatabaseOpenTest, CreatesDirectory0700AndEveryFile0600) {
  TempDir tmp;
  std::string dir = tmp.File("a/b");
  std::string path = dir + "/app.db";
  auto db = OpenOk(path);
  ASSERT_NE(db, nullptr);
  SQLSTEWARD_ASSERT_OK(CreateTable(*db));
  EXPECT_EQ(ModeOf(tmp.File("a")), 0700u);
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(ModeOf(path + "-wal"), 0600u);
  EXPECT_EQ(ModeOf(path + "-shm"), 0600u);
  EXPECT_EQ(ModeOf(path + "-steward"), 0600u);
  EXPECT_EQ(db->journal_mode(), JournalMode::kWal);
}

TEST(DatabaseOpenTest, TightensLooseModesAndSaysSo) {
  TempDir tmp;
  std::string path = tmp.File("loose.db");
  WriteFile(path, "");
  ::chmod(path.c_str(), 0644);
  std::vector<std::string> warnings;
  Options options;
  options.on_warning = [&](std::string_view w) { warnings.emplace_back(w); };
  auto db = OpenOk(path, options);
  EXPECT_EQ(ModeOf(path), 0600u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("tightened"));
}

// chmod answers EPERM inside a user namespace for files owned outside it.
TEST(DatabaseOpenTest, ChmodEpermIsAWarningNotAnError) {
  TempDir tmp;
  std::string path = tmp.File("userns.db");
  WriteFile(path, "");
  ::chmod(path.c_str(), 0644);
  testing::FaultEnv env;
  env.FailAlways(testing::FaultEnv::Op::kChmod, EPERM);
  std::vector<std::string> warnings;
  Options options;
  options.on_warning = [&](std::string_view w) { warnings.emplace_back(w); };
  auto db = internal::DatabaseAccess::OpenWithEnv(path, options, &env);
  SQLSTEWARD_ASSERT_OK(db);
  ASSERT_FALSE(warnings.empty());
  EXPECT_THAT(warnings[0], HasSubstr("EPERM"));
}

// Live instances in the registry of `path` (kThisDomain or kOtherDomain).
int LiveInstances(const std::string& path) {
  auto registry = ReadRegistry(path);
  EXPECT_TRUE(registry.has_value()) << testing::Describe(registry);
  if (!registry.has_value()) return -1;
  int live = 0;
  for (const InstanceInfo& info : registry->instances) {
    if (info.domain == InstanceDomain::kThisDomain || info.domain == InstanceDomain::kOtherDomain) {
      ++live;
    }
  }
  return live;
}

// Issue 13, faults: the sidecar cannot be opened (EACCES; injected, as root
// ignores mode bits). kPermissionDenied naming the sidecar and the call, a
// hint naming the file and what to check; no instance registered, the
// database unchanged, and it opens once the fault is gone.
TEST(DatabaseOpenTest, SidecarEaccesIsPermissionDeniedNamingIt) {
  TempDir tmp;
  const std::string path = tmp.File("app.db");
  const std::string sidecar = path + "-steward";
  {
    auto db = OpenOk(path);
    ASSERT_NE(db, nullptr);
    SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) {
      return tx.ExecScript("CREATE TABLE t(x); INSERT INTO t VALUES(1)");
    }));
  }
  const std::string before = testing::DumpDatabase(path);
  testing::FaultEnv env;
  env.FailAlways(testing::FaultEnv::Op::kOpen, EACCES, sidecar);
  auto denied = internal::DatabaseAccess::OpenWithEnv(path, Options(), &env);
  ASSERT_THAT(denied, StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(std::string(denied.error().message()), HasSubstr("open(" + sidecar + ")"));
  EXPECT_THAT(std::string(denied.error().hint()), HasSubstr("owner and mode of " + sidecar));
  EXPECT_EQ(denied.error().sys_errno(), EACCES);
  EXPECT_EQ(LiveInstances(path), 0);
  EXPECT_EQ(testing::DumpDatabase(path), before);
  EXPECT_EQ(testing::IntegrityCheck(path), "ok");
  env.Clear();
  SQLSTEWARD_EXPECT_OK(internal::DatabaseAccess::OpenWithEnv(path, Options(), &env));
}

// A signal interrupting Open's calls on the sidecar (creating it, writing
// its header and our slot, fsync, locks): each EINTR is retried, the open
// succeeds, the instance is registered and the database takes writes.
TEST(DatabaseOpenTest, EintrDuringOpenIsRetried) {
  using Op = testing::FaultEnv::Op;
  TempDir tmp;
  const std::string path = tmp.File("app.db");
  testing::FaultEnv env;  // Outlives the database's threads.
  for (Op op : {Op::kOpen, Op::kPwrite, Op::kPread, Op::kFsync, Op::kLock}) {
    env.Fail(op, EINTR, path + "-steward");
  }
  env.Fail(Op::kPwrite, EINTR, path + "-steward", 2);  // A later write: the slot's.
  auto db = internal::DatabaseAccess::OpenWithEnv(path, Options(), &env);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  EXPECT_EQ(env.Injected(), 6);
  EXPECT_EQ(LiveInstances(path), 1);
  SQLSTEWARD_EXPECT_OK((*db)->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE t(x); INSERT INTO t VALUES(1)");
  }));
  EXPECT_EQ(testing::CountRows(path, "t"), 1);
}

TEST(DatabaseOpenTest, SetsAndReadsBackPragmas) {
  TempDir tmp;
  Options options;
  options.synchronous = Synchronous::kNormal;
  auto db = OpenOk(tmp.File("p.db"), options);
  ASSERT_NE(db, nullptr);
  SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryText("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(**tx.QueryInt64("PRAGMA synchronous"), 1);
    EXPECT_EQ(**tx.QueryInt64("PRAGMA foreign_keys"), 1);
    EXPECT_EQ(**tx.QueryInt64("PRAGMA mmap_size"), 0);
    return Status();
  }));
  SQLSTEWARD_ASSERT_OK(db->Read([](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("PRAGMA query_only"), 1);
    EXPECT_EQ(**tx.QueryInt64("PRAGMA mmap_size"), 0);
    return Status();
  }));
}

TEST(DatabaseOpenTest, RollbackJournalModeOnRequest) {
  TempDir tmp;
  Options options;
  options.journal_mode = JournalMode::kDelete;
  auto db = OpenOk(tmp.File("d.db"), options);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->journal_mode(), JournalMode::kDelete);
  SQLSTEWARD_ASSERT_OK(CreateTable(*db));
  SQLSTEWARD_ASSERT_OK(db->Write([](Transaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryText("PRAGMA journal_mode"), "delete");
    // kFull in a rollback journal is SQLite's EXTRA: the journal's delete
    // is the commit, and only EXTRA syncs it to the directory.
    EXPECT_EQ(**tx.QueryInt64("PRAGMA synchronous"), 3);
    return Status();
  }));
}

TEST(DatabaseOpenTest, GarbageFileIsNotADatabase) {
  TempDir tmp;
  std::string path = tmp.File("garbage.db");
  WriteFile(path, std::string(8192, 'x'));
  ::chmod(path.c_str(), 0600);
  auto db = Database::Open(path);
  EXPECT_THAT(db, StatusIs(StatusCode::kCorruption));
  EXPECT_EQ(db.error().sqlite_code(), SQLITE_NOTADB);
  EXPECT_FALSE(db.error().hint().empty());
}

TEST(DatabaseOpenTest, PathIsADirectory) {
  TempDir tmp;
  ::mkdir(tmp.File("dir.db").c_str(), 0700);
  auto db = Database::Open(tmp.File("dir.db"));
  EXPECT_THAT(db, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(db.error().message()), HasSubstr("is a directory"));
}

TEST(DatabaseOpenTest, MissingParentWithCreateDisabled) {
  TempDir tmp;
  Options options;
  options.create_if_missing = false;
  auto db = Database::Open(tmp.File("nope/x.db"), options);
  EXPECT_THAT(db, StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(std::string(db.error().hint()), HasSubstr("create_if_missing"));
}

TEST(DatabaseOpenTest, MissingFileWithCreateDisabled) {
  TempDir tmp;
  Options options;
  options.create_if_missing = false;
  EXPECT_THAT(Database::Open(tmp.File("x.db"), options), StatusIs(StatusCode::kNotFound));
  EXPECT_NE(::access(tmp.File("x.db").c_str(), F_OK), 0) << "nothing may be created";
}

TEST(DatabaseOpenTest, RefusesAFileWithTwoHardLinks) {
  TempDir tmp;
  std::string path = tmp.File("h.db");
  { auto db = OpenOk(path); }
  ASSERT_EQ(::link(path.c_str(), tmp.File("h2.db").c_str()), 0);
  auto db = Database::Open(path);
  EXPECT_THAT(db, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(db.error().message()), HasSubstr("2 hard links"));
}

TEST(DatabaseOpenTest, RefusesASymlinkedDatabase) {
  TempDir tmp;
  std::string path = tmp.File("real.db");
  { auto db = OpenOk(path); }
  ASSERT_EQ(::symlink(path.c_str(), tmp.File("link.db").c_str()), 0);
  EXPECT_THAT(Database::Open(tmp.File("link.db")), StatusIs(StatusCode::kFailedPrecondition));
}

TEST(DatabaseOpenTest, RefusesASymlinkedSidecar) {
  TempDir tmp;
  WriteFile(tmp.File("elsewhere"), "");
  ASSERT_EQ(::symlink(tmp.File("elsewhere").c_str(), tmp.File("s.db-steward").c_str()), 0);
  auto db = Database::Open(tmp.File("s.db"));
  EXPECT_THAT(db, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(db.error().message()), HasSubstr("symbolic link"));
}

TEST(DatabaseOpenTest, RefusesAMalformedSidecar) {
  TempDir tmp;
  WriteFile(tmp.File("m.db-steward"), std::string(4096, 'z'));
  ::chmod(tmp.File("m.db-steward").c_str(), 0600);
  EXPECT_THAT(Database::Open(tmp.File("m.db")), StatusIs(StatusCode::kCorruption));
}

TEST(DatabaseOpenTest, UnreadableFileIsPermissionDenied) {
  TempDir tmp;
  ::chmod(tmp.path().c_str(), 0777);
  std::string path = tmp.File("secret.db");
  { auto db = OpenOk(path); }
  ::chmod(path.c_str(), 0000);
  int code = StatusCodeAsNobody([&] { return Database::Open(path).status(); });
  EXPECT_EQ(code, static_cast<int>(StatusCode::kPermissionDenied));
}

TEST(DatabaseOpenTest, ReadOnlyDirectoryIsPermissionDenied) {
  TempDir tmp;
  std::string dir = tmp.File("ro");
  ::mkdir(dir.c_str(), 0755);
  ::chmod(tmp.path().c_str(), 0755);
  int code = StatusCodeAsNobody([&] { return Database::Open(dir + "/new.db").status(); });
  EXPECT_EQ(code, static_cast<int>(StatusCode::kPermissionDenied));
}

TEST(DatabaseOpenTest, AfterOpenRunsOnTheNewHandleAndItsErrorFailsOpen) {
  TempDir tmp;
  Options options;
  int calls = 0;
  options.after_open = [&](Database& db) {
    ++calls;
    return CreateTable(db);
  };
  auto db = OpenOk(tmp.File("hook.db"), options);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(testing::CountRows(tmp.File("hook.db"), "t"), 0);  // The table exists.

  options.after_open = [](Database&) {
    return Status(StatusCode::kFailedPrecondition, "schema too new", "use the newer binary");
  };
  auto refused = Database::Open(tmp.File("hook.db"), options);
  EXPECT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("schema too new"));
  EXPECT_EQ(refused.error().hint(), "use the newer binary");
}

TEST(DatabaseOpenTest, ClosedHandleIsUnavailable) {
  TempDir tmp;
  auto db = OpenOk(tmp.File("c.db"));
  ASSERT_NE(db, nullptr);
  SQLSTEWARD_ASSERT_OK(db->Close());
  SQLSTEWARD_ASSERT_OK(db->Close());  // Idempotent.
  EXPECT_THAT(CreateTable(*db), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(db->Read([](ReadTransaction&) { return Status(); }),
              StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(db->WriteAsync([](Transaction&) { return Status(); }).get(),
              StatusIs(StatusCode::kUnavailable));
}

// The child of fork() must neither use the handle nor, when destroying it,
// release the parent's locks. The parent holds the cross-process write lock
// (inside a job) throughout; a fresh open in the child must still find it
// held.
TEST(DatabaseOpenTest, HandleUsedAfterForkIsRefusedAndParentLocksSurvive) {
  TempDir tmp;
  std::string path = tmp.File("fork.db");
  auto db = OpenOk(path);
  ASSERT_NE(db, nullptr);
  SQLSTEWARD_ASSERT_OK(CreateTable(*db));

  std::mutex mu;
  std::condition_variable cv;
  bool holding = false;
  bool release = false;
  std::thread holder([&] {
    SQLSTEWARD_EXPECT_OK(db->Write([&](Transaction& tx) {
      std::unique_lock lock(mu);
      holding = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      return tx.Exec("INSERT INTO t(v) VALUES(1)");
    }));
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return holding; });
  }
  int child = testing::RunInChild([&] {
    if (CreateTable(*db).code() != StatusCode::kFailedPrecondition) return 1;
    if (db->Read([](ReadTransaction&) { return Status(); }).code() !=
        StatusCode::kFailedPrecondition) {
      return 2;
    }
    db.reset();  // Must leave the parent's lock alone.
    // A fresh open must find the lock still held. It runs in a new program:
    // a forked child of a threaded process should not start threads.
    std::string helper = testing::HelperPath();
    ::execl(helper.c_str(), helper.c_str(), "expect-write-locked", path.c_str(),
            static_cast<char*>(nullptr));
    return 5;
  });
  EXPECT_EQ(child, 0);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  holder.join();
  EXPECT_EQ(testing::CountRows(path, "t"), 1);
}

// Every byte, mode and name in a directory, to compare before and after.
std::map<std::string, std::pair<std::string, mode_t>> DirectoryState(const std::string& dir) {
  std::map<std::string, std::pair<std::string, mode_t>> state;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    state[entry.path().filename().string()] = {bytes.str(), ModeOf(entry.path().string())};
  }
  return state;
}

void MakeForeignDatabase(const std::string& path, const char* journal_mode) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::string sql = std::string("PRAGMA journal_mode=") + journal_mode +
                    "; CREATE TABLE t(v); INSERT INTO t VALUES('a'), ('b');";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_close(db), SQLITE_OK);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
}

// A read-only handle writes nothing: not on a database another program
// made (mode 0644, rollback journal), not on a closed WAL database (a
// snapshot): no -wal, -shm, -journal or sidecar appear, no mode or journal
// mode changes, every byte stays.
TEST(DatabaseOpenTest, ReadOnlyHandleWritesNothing) {
  for (const char* mode : {"delete", "wal"}) {
    TempDir tmp;
    const std::string path = tmp.File("foreign.db");
    MakeForeignDatabase(path, mode);
    const auto before = DirectoryState(tmp.path());
    ASSERT_EQ(before.size(), 1u) << mode;
    Options options;
    options.read_only = true;
    std::vector<std::string> warnings;
    options.on_warning = [&](std::string_view w) { warnings.emplace_back(w); };
    {
      auto db = OpenOk(path, options);
      ASSERT_NE(db, nullptr) << mode;
      EXPECT_EQ(db->journal_mode(),
                std::string_view(mode) == "wal" ? JournalMode::kWal : JournalMode::kDelete);
      SQLSTEWARD_EXPECT_OK(db->Read([](ReadTransaction& tx) -> Status {
        EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), 2);
        return Status();
      }));
      EXPECT_THAT(db->Write([](Transaction& tx) { return tx.Exec("DELETE FROM t"); }),
                  StatusIs(StatusCode::kFailedPrecondition));
      EXPECT_THAT(db->Checkpoint(), StatusIs(StatusCode::kFailedPrecondition));
      SQLSTEWARD_EXPECT_OK(db->Close());
    }
    EXPECT_EQ(DirectoryState(tmp.path()), before) << mode;
    EXPECT_TRUE(warnings.empty()) << mode << ": " << warnings.front();
  }
}

// Beside a live writer (another handle of this process, whose POSIX locks
// the read-only open must not drop), a read-only handle sees what is
// committed and leaves the writer working.
TEST(DatabaseOpenTest, ReadOnlyHandleReadsBesideALiveWriter) {
  TempDir tmp;
  const std::string path = tmp.File("live.db");
  auto writer = OpenOk(path);
  ASSERT_NE(writer, nullptr);
  SQLSTEWARD_ASSERT_OK(CreateTable(*writer));
  SQLSTEWARD_ASSERT_OK(writer->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t(v) VALUES('first')");
  }));
  Options options;
  options.read_only = true;
  auto reader = OpenOk(path, options);
  ASSERT_NE(reader, nullptr);
  for (int i = 0; i < 3; ++i) {
    SQLSTEWARD_ASSERT_OK(writer->Write([](Transaction& tx) {
      return tx.Exec("INSERT INTO t(v) VALUES('more')");
    }));
    SQLSTEWARD_ASSERT_OK(reader->Read([&](ReadTransaction& tx) -> Status {
      EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), i + 2);
      return Status();
    }));
  }
  SQLSTEWARD_EXPECT_OK(reader->Close());
  // The writer's locks survived the reader's header read and close.
  SQLSTEWARD_EXPECT_OK(writer->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t(v) VALUES('after')");
  }));
}

// A writer killed mid-transaction in a rollback journal leaves a hot
// journal. A read-only open must not roll it back (a read writes nothing)
// and must not blame permissions: it is kFailedPrecondition naming the hot
// journal, and a read-write open then recovers the old content.
TEST(DatabaseOpenTest, ReadOnlyOpenOfAHotJournalSaysHowToRecover) {
  TempDir tmp;
  const std::string path = tmp.File("hot.db");
  const int died = testing::RunInChild([&] {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=delete; CREATE TABLE t(v); INSERT INTO t VALUES(1);"
                 "PRAGMA cache_size=2; BEGIN;"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)"
                 " INSERT INTO t SELECT randomblob(2000) FROM n;",
                 nullptr, nullptr, nullptr);
    ::raise(SIGKILL);  // Mid-transaction, its pages spilled into the file.
    return 0;
  });
  ASSERT_EQ(died, 128 + SIGKILL);
  ASSERT_TRUE(std::filesystem::exists(path + "-journal"));
  auto bytes = [](const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  };
  const std::string before = bytes(path);
  Options options;
  options.read_only = true;
  auto reader = Database::Open(path, options);
  ASSERT_THAT(reader.status(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(reader.status().message()), HasSubstr("hot -journal"));
  EXPECT_THAT(std::string(reader.status().hint()), HasSubstr("read-write once"));
  EXPECT_TRUE(bytes(path) == before) << "a read-only open wrote the database";
  EXPECT_TRUE(std::filesystem::exists(path + "-journal"));

  auto writer = OpenOk(path);  // Rolls the unfinished transaction back.
  ASSERT_NE(writer, nullptr);
  SQLSTEWARD_ASSERT_OK(writer->Close());
  reader = Database::Open(path, options);
  ASSERT_TRUE(reader.has_value()) << testing::Describe(reader);
  SQLSTEWARD_EXPECT_OK((*reader)->Read([](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), 1);
    return Status();
  }));
}

TEST(DatabaseOpenTest, ReadOnlyOpenOfAMissingFileCreatesNothing) {
  TempDir tmp;
  Options options;
  options.read_only = true;
  EXPECT_THAT(Database::Open(tmp.File("missing/app.db"), options).status(),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(Database::Open(tmp.File("app.db"), options).status(),
              StatusIs(StatusCode::kNotFound));
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  WriteFile(tmp.File("garbage.db"), std::string(4096, 'x'));
  EXPECT_THAT(Database::Open(tmp.File("garbage.db"), options).status(),
              StatusIs(StatusCode::kCorruption));
}

// A directory reached through a symbolic link is a normal deployment: the
// handle names every file after the canonical directory, so a process that
// uses the link and one that does not share one -wal and one sidecar.
TEST(DatabaseOpenTest, OpensThroughASymlinkedDirectory) {
  TempDir tmp;
  const std::string real = tmp.File("real");
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(real.c_str(), tmp.File("link").c_str()), 0);
  auto via_link = OpenOk(tmp.File("link/app.db"));
  ASSERT_NE(via_link, nullptr);
  const std::string canonical =
      std::filesystem::canonical(real).string() + "/app.db";
  EXPECT_EQ(via_link->path(), canonical);
  SQLSTEWARD_ASSERT_OK(CreateTable(*via_link));
  auto direct = OpenOk(real + "/app.db");
  ASSERT_NE(direct, nullptr);
  SQLSTEWARD_ASSERT_OK(direct->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t(v) VALUES('direct')");
  }));
  SQLSTEWARD_ASSERT_OK(via_link->Write([](Transaction& tx) {
    return tx.Exec("INSERT INTO t(v) VALUES('link')");
  }));
  SQLSTEWARD_EXPECT_OK(direct->Read([](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), 2);
    return Status();
  }));
  auto status = ReadRegistry(canonical);
  SQLSTEWARD_ASSERT_OK(status);
  EXPECT_EQ(status->instances.size(), 2u) << "one sidecar for both names";
}

}  // namespace
}  // namespace sqlsteward
