// Issue 11, class 4: anything that is not a regular file, at every place a
// command reads a file. A FIFO used to make verify, restore, migrate and
// retention block forever; a migration that is a symbolic link was followed
// (to /dev/zero: out of memory; to a secret: its content printed). Each
// case puts a FIFO, a directory or a symbolic link at one position, runs
// the built CLI as a child process with a bounded wait (a blocked command
// fails the test by timing out, it cannot hang the suite), and checks the
// specific error code from --json and that no link's target appears in
// what the command printed.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sqlsteward/sqlsteward.h"
#include "support/child_process.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::nlohmann::json;
using testing::TempDir;

// Far longer than any of these commands takes; a command still running
// then is blocked, and is killed.
constexpr auto kBound = std::chrono::seconds(20);

// In every secret, so that a leak of any of them is found in the output.
constexpr char kSecret[] = "SECRET-7f3a9c";

struct CliRun {
  bool timed_out = false;
  int exit_code = -1;
  json doc;  // stdout parsed; discarded when not JSON
  std::string out;
  std::string err;

  std::string code() const {
    if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_object()) return "";
    return doc["error"].value("code", "");
  }
  std::string Describe() const {
    return "exit " + std::to_string(exit_code) + (timed_out ? " (timed out: it blocked)" : "") +
           "\nstdout:\n" + out + "\nstderr:\n" + err;
  }
};

// The CLI with `args`, killed after kBound.
CliRun RunCli(const std::vector<std::string>& args) {
  subprocess::RunResult r =
      subprocess::Run(SQLSTEWARD_CLI, args, subprocess::Clock::now() + kBound);
  CliRun run;
  run.timed_out = r.timed_out;
  run.exit_code = r.spawn_error != 0 ? -1 : r.status.ShellCode();
  run.out = std::move(r.out);
  run.err = std::move(r.err);
  run.doc = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  return run;
}

// What a run must show in every case: it ended by itself, and nothing of a
// secret reached stdout or stderr.
void ExpectBoundedAndNoLeak(const CliRun& run) {
  EXPECT_FALSE(run.timed_out) << run.Describe();
  EXPECT_EQ(run.out.find(kSecret), std::string::npos) << run.Describe();
  EXPECT_EQ(run.err.find(kSecret), std::string::npos) << run.Describe();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

enum class Kind { kFifo, kDirectory, kSymlink };

const char* Name(Kind kind) {
  switch (kind) {
    case Kind::kFifo:
      return "FIFO";
    case Kind::kDirectory:
      return "directory";
    case Kind::kSymlink:
      return "symbolic link";
  }
  return "?";
}

constexpr Kind kKinds[] = {Kind::kFifo, Kind::kDirectory, Kind::kSymlink};

// Replaces whatever is at `path` by a `kind`; a link points at `target`.
void Plant(const std::string& path, Kind kind, const std::string& target) {
  std::filesystem::remove_all(path);
  switch (kind) {
    case Kind::kFifo:
      ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << path << ": " << std::strerror(errno);
      break;
    case Kind::kDirectory:
      ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << path << ": " << std::strerror(errno);
      break;
    case Kind::kSymlink:
      ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0) << path << ": "
                                                            << std::strerror(errno);
      break;
  }
}

// The file type at `path`, not following links.
mode_t TypeAt(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & S_IFMT;
}

mode_t TypeOf(Kind kind) {
  switch (kind) {
    case Kind::kFifo:
      return S_IFIFO;
    case Kind::kDirectory:
      return S_IFDIR;
    case Kind::kSymlink:
      return S_IFLNK;
  }
  return 0;
}

// A database with one table, closed.
void MakeDatabase(const std::string& path, const std::string& marker) {
  auto db = Database::Open(path);
  ASSERT_TRUE(db.has_value()) << testing::Describe(db);
  SQLSTEWARD_ASSERT_OK((*db)->Write([&](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("CREATE TABLE IF NOT EXISTS t(v TEXT)"));
    return tx.Exec("INSERT INTO t VALUES(?)", marker);
  }));
  SQLSTEWARD_ASSERT_OK((*db)->Close());
}

// A database and one verified snapshot of it, in `dir`.
struct SnapshotFixture {
  std::string db;
  std::string snapshot;
  std::string manifest;
};

SnapshotFixture MakeSnapshot(const TempDir& dir) {
  SnapshotFixture f;
  f.db = dir.File("app.db");
  MakeDatabase(f.db, "before");
  auto snap = Snapshot(f.db, dir.File("snaps"));
  EXPECT_TRUE(snap.has_value()) << testing::Describe(snap);
  if (snap.has_value()) {
    f.snapshot = snap->path;
    f.manifest = snap->manifest_path;
  }
  return f;
}

// The snapshot and its manifest are the two files verify and restore read.
enum class SnapshotPosition { kSnapshot, kManifest };

// Puts `kind` in place of the snapshot or its manifest. A link points at
// a secret, so that a command following it would fail differently
// (malformed manifest, size mismatch) and could print it.
void PlantAt(const TempDir& dir, const SnapshotFixture& f, SnapshotPosition position, Kind kind) {
  const std::string secret = dir.File("secret.txt");
  WriteText(secret, std::string(kSecret) + "\n");
  Plant(position == SnapshotPosition::kSnapshot ? f.snapshot : f.manifest, kind, secret);
}

TEST(NonRegularFilesTest, VerifyRefusesASnapshotOrManifestThatIsNotARegularFile) {
  for (SnapshotPosition position : {SnapshotPosition::kSnapshot, SnapshotPosition::kManifest}) {
    for (Kind kind : kKinds) {
      SCOPED_TRACE(std::string(position == SnapshotPosition::kSnapshot ? "snapshot" : "manifest") +
                   " is a " + Name(kind));
      TempDir dir;
      SnapshotFixture f = MakeSnapshot(dir);
      ASSERT_FALSE(f.snapshot.empty());
      PlantAt(dir, f, position, kind);
      CliRun run = RunCli({"verify", f.snapshot, "--json"});
      ExpectBoundedAndNoLeak(run);
      EXPECT_EQ(run.exit_code, 1) << run.Describe();
      EXPECT_EQ(run.code(), "failed_precondition") << run.Describe();
    }
  }
}

TEST(NonRegularFilesTest, RestoreRefusesASnapshotOrManifestThatIsNotARegularFile) {
  for (SnapshotPosition position : {SnapshotPosition::kSnapshot, SnapshotPosition::kManifest}) {
    for (Kind kind : kKinds) {
      SCOPED_TRACE(std::string(position == SnapshotPosition::kSnapshot ? "snapshot" : "manifest") +
                   " is a " + Name(kind));
      TempDir dir;
      SnapshotFixture f = MakeSnapshot(dir);
      ASSERT_FALSE(f.snapshot.empty());
      // The live database moves on after the snapshot; a refused restore
      // must leave it exactly so.
      MakeDatabase(f.db, "after");
      const std::string before = ReadText(f.db);
      PlantAt(dir, f, position, kind);
      CliRun run = RunCli({"restore", f.snapshot, f.db, "--json"});
      ExpectBoundedAndNoLeak(run);
      EXPECT_EQ(run.exit_code, 1) << run.Describe();
      EXPECT_EQ(run.code(), "failed_precondition") << run.Describe();
      EXPECT_EQ(ReadText(f.db), before);
    }
  }
}

// A migrations directory whose 0002 is not a regular file. The link's
// target is valid SQL that would apply (and be printed by --dry-run) if it
// were followed.
TEST(NonRegularFilesTest, MigrateRefusesAMigrationThatIsNotARegularFile) {
  for (bool dry_run : {false, true}) {
    for (Kind kind : kKinds) {
      SCOPED_TRACE(std::string(dry_run ? "--dry-run, " : "") + "0002 is a " + Name(kind));
      TempDir dir;
      const std::string migrations = dir.File("migrations");
      ASSERT_EQ(::mkdir(migrations.c_str(), 0700), 0);
      WriteText(migrations + "/0001_init.sql", "CREATE TABLE a(x);\n");
      const std::string secret = dir.File("secret.sql");
      WriteText(secret, std::string("CREATE TABLE b(x); -- ") + kSecret + "\n");
      Plant(migrations + "/0002_more.sql", kind, secret);
      const std::string db = dir.File("app.db");
      std::vector<std::string> args = {"migrate", db, "--dir", migrations, "--json"};
      if (dry_run) args.push_back("--dry-run");
      CliRun run = RunCli(args);
      ExpectBoundedAndNoLeak(run);
      EXPECT_EQ(run.exit_code, 1) << run.Describe();
      EXPECT_EQ(run.code(), "failed_precondition") << run.Describe();
      // The directory is refused before the database is opened.
      EXPECT_FALSE(std::filesystem::exists(db));
    }
  }
}

// A link to /dev/zero used to be read until memory ran out.
TEST(NonRegularFilesTest, MigrateRefusesALinkToDevZeroWithoutReadingIt) {
  TempDir dir;
  const std::string migrations = dir.File("migrations");
  ASSERT_EQ(::mkdir(migrations.c_str(), 0700), 0);
  WriteText(migrations + "/0001_init.sql", "CREATE TABLE a(x);\n");
  ASSERT_EQ(::symlink("/dev/zero", (migrations + "/0002_zero.sql").c_str()), 0);
  CliRun run = RunCli({"migrate", dir.File("app.db"), "--dir", migrations, "--json", "--dry-run"});
  ExpectBoundedAndNoLeak(run);
  EXPECT_EQ(run.exit_code, 1) << run.Describe();
  EXPECT_EQ(run.code(), "failed_precondition") << run.Describe();
  EXPECT_NE(run.doc["error"].value("message", "").find("symbolic link"), std::string::npos)
      << run.Describe();
}

// What is not named like a migration is not looked at, whatever it is: a
// FIFO of notes, a link, a subfolder. The run applies the real files.
TEST(NonRegularFilesTest, MigrateIgnoresEntriesNotNamedLikeMigrations) {
  TempDir dir;
  const std::string migrations = dir.File("migrations");
  ASSERT_EQ(::mkdir(migrations.c_str(), 0700), 0);
  WriteText(migrations + "/0001_init.sql", "CREATE TABLE a(x);\n");
  const std::string secret = dir.File("secret.txt");
  WriteText(secret, std::string(kSecret) + "\n");
  Plant(migrations + "/notes", Kind::kFifo, "");
  Plant(migrations + "/README.md", Kind::kSymlink, secret);
  Plant(migrations + "/archive", Kind::kDirectory, "");
  Plant(migrations + "/2023", Kind::kDirectory, "");
  CliRun run = RunCli({"migrate", dir.File("app.db"), "--dir", migrations, "--json"});
  ExpectBoundedAndNoLeak(run);
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(run.doc.value("to_version", -1), 1) << run.Describe();
}

// Retention lists the snapshot directory and reads manifests: FIFOs,
// directories and links named like snapshots, manifests or stale
// temporaries are neither waited on, followed, counted nor removed.
TEST(NonRegularFilesTest, SnapshotKeepPassesOverAndLeavesNonRegularEntries) {
  for (Kind kind : kKinds) {
    SCOPED_TRACE(std::string("planted entries are each a ") + Name(kind));
    TempDir dir;
    SnapshotFixture f = MakeSnapshot(dir);
    ASSERT_FALSE(f.snapshot.empty());
    const std::string snaps = dir.File("snaps");
    // Links point at the real snapshot and manifest.
    const std::vector<std::string> planted = {
        // A snapshot name with a real manifest beside it.
        snaps + "/app-20000101T000000Z-1.db",
        // A manifest of a real-looking snapshot file.
        snaps + "/app-20000101T000000Z-2.manifest.json",
        // Both of a pair.
        snaps + "/app-20000101T000000Z-3.db",
        snaps + "/app-20000101T000000Z-3.manifest.json",
        // A stale temporary and an orphan manifest temporary.
        snaps + "/.snapshot-0011223344556677.tmp",
        snaps + "/.snapshot-8899aabbccddeeff.manifest.tmp",
    };
    WriteText(snaps + "/app-20000101T000000Z-1.manifest.json", ReadText(f.manifest));
    WriteText(snaps + "/app-20000101T000000Z-2.db", ReadText(f.snapshot));
    for (const std::string& p : planted) {
      Plant(p, kind, p.ends_with(".db") ? f.snapshot : f.manifest);
    }
    for (int i = 0; i < 2; ++i) {
      CliRun run = RunCli({"snapshot", f.db, snaps, "--keep", "1", "--json"});
      ExpectBoundedAndNoLeak(run);
      EXPECT_EQ(run.exit_code, 0) << run.Describe();
      EXPECT_EQ(run.doc.value("ok", false), true) << run.Describe();
      EXPECT_TRUE(run.doc.value("removed_temporary", json::array()).empty()) << run.Describe();
    }
    for (const std::string& p : planted) EXPECT_EQ(TypeAt(p), TypeOf(kind)) << p;
    EXPECT_EQ(TypeAt(snaps + "/app-20000101T000000Z-1.manifest.json"), S_IFREG);
    EXPECT_EQ(TypeAt(snaps + "/app-20000101T000000Z-2.db"), S_IFREG);
  }
}

// The severity of doctor's finding `id`, or "missing".
std::string Severity(const json& doc, const std::string& id) {
  if (!doc.is_object() || !doc.contains("findings")) return "missing";
  for (const json& f : doc["findings"]) {
    if (f.value("id", "") == id) return f.value("severity", "?");
  }
  return "missing";
}

// The sidecar `DB-steward` is read by status, handover and doctor (through
// posix::ReadRegularFile): a FIFO, a directory or a link in its place is
// refused, never waited on or followed.
TEST(NonRegularFilesTest, StatusHandoverAndDoctorRefuseASidecarThatIsNotARegularFile) {
  for (Kind kind : kKinds) {
    SCOPED_TRACE(std::string("sidecar is a ") + Name(kind));
    TempDir dir;
    const std::string db = dir.File("app.db");
    MakeDatabase(db, "x");
    const std::string secret = dir.File("secret");
    WriteText(secret, std::string(kSecret) + "\n");
    Plant(db + "-steward", kind, secret);
    for (const char* command : {"status", "handover"}) {
      SCOPED_TRACE(command);
      CliRun run = RunCli({command, db, "--json"});
      ExpectBoundedAndNoLeak(run);
      EXPECT_EQ(run.exit_code, 1) << run.Describe();
      EXPECT_EQ(run.code(), "failed_precondition") << run.Describe();
    }
    CliRun doctor = RunCli({"doctor", db, "--json"});
    ExpectBoundedAndNoLeak(doctor);
    EXPECT_EQ(doctor.exit_code, 2) << doctor.Describe();
    EXPECT_EQ(Severity(doctor.doc, "sidecar.header"), "problem") << doctor.Describe();
    EXPECT_EQ(Severity(doctor.doc, "instances.registered"), "problem") << doctor.Describe();
    EXPECT_EQ(TypeAt(db + "-steward"), TypeOf(kind));
  }
}

// The database path itself as a FIFO, a directory or a link: status and
// handover read only the sidecar (there is none: nothing has opened it, and
// they say so at once); doctor reports the file as a problem without
// waiting on it or printing a link's target.
TEST(NonRegularFilesTest, StatusHandoverAndDoctorOnADatabaseThatIsNotARegularFile) {
  for (Kind kind : kKinds) {
    SCOPED_TRACE(std::string("database is a ") + Name(kind));
    TempDir dir;
    const std::string db = dir.File("app.db");
    const std::string secret = dir.File("secret");
    WriteText(secret, std::string(kSecret) + "\n");
    Plant(db, kind, secret);
    CliRun status = RunCli({"status", db, "--json"});
    ExpectBoundedAndNoLeak(status);
    EXPECT_EQ(status.exit_code, 0) << status.Describe();
    EXPECT_EQ(status.doc.value("opened", true), false) << status.Describe();
    CliRun handover = RunCli({"handover", db, "--json"});
    ExpectBoundedAndNoLeak(handover);
    EXPECT_EQ(handover.exit_code, 0) << handover.Describe();
    EXPECT_EQ(handover.doc.value("nothing_to_hand_over", false), true) << handover.Describe();
    CliRun doctor = RunCli({"doctor", db, "--json"});
    ExpectBoundedAndNoLeak(doctor);
    EXPECT_EQ(doctor.exit_code, 2) << doctor.Describe();
    if (kind == Kind::kSymlink) {
      // Doctor looks through a database link (to diagnose it); a target
      // that is no database is a problem, its bytes never shown.
      EXPECT_EQ(Severity(doctor.doc, "files.symlinks"), "problem") << doctor.Describe();
      EXPECT_EQ(Severity(doctor.doc, "database.format"), "problem") << doctor.Describe();
    } else {
      EXPECT_EQ(Severity(doctor.doc, "database.file"), "problem") << doctor.Describe();
    }
    // Nothing was created beside it.
    EXPECT_FALSE(std::filesystem::exists(db + "-steward"));
  }
}

}  // namespace
}  // namespace sqlsteward
