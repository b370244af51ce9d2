// Helper binary for the power-loss tests: one workload per process, run
// through the power-loss model of power_loss.h (SQLite's files through the
// "powerloss" VFS, sqlsteward's own through PowerLossEnv). Every mode takes
// ASIDE (a directory on the same filesystem, for entries the model sets
// aside), MODE (drop-all or random), SEED and CRASH:
//
//   CRASH 0     no crash: run the workload (closing what it opened),
//               print "syncs <n>" (the sync points it passed) and exit 0;
//   CRASH n>0   lose power just before sync point n, or, when the workload
//               ends first, right after its last step.
//
// Modes (stdout lines, the line protocol of child_process.h):
//
//   writes DB JOURNAL SYNC THREADS EACH ASIDE MODE SEED CRASH
//           open DB (JOURNAL wal or delete; SYNC off, normal, full, extra),
//           THREADS threads each insert EACH rows into t(id), one Write
//           each, id = thread * 1,000,000 + i; print "ack <id>" after each
//           Write returned OK; in WAL, a checkpoint whenever the WAL
//           passes 48 KiB, so that checkpoints are among the crash points
//   ext-writes DB EXT JOURNAL SYNC THREADS EACH ASIDE MODE SEED CRASH
//           a stock SQLite client with sqlsteward's extension EXT loaded
//           (its VFS stacked on the model's): THREADS threads, each with
//           its own connection (busy_timeout 5000, PRAGMA journal_mode
//           JOURNAL and synchronous SYNC as the client sets them), insert
//           EACH rows into t(id), one BEGIN IMMEDIATE ... COMMIT each;
//           print "ack <id>" after each COMMIT returned SQLITE_OK. The
//           extension's own files (its sidecar) are written through the
//           default Env, outside the model: they keep every write, one of
//           the outcomes a power loss allows
//   migrate DB DIR ASIDE MODE SEED CRASH
//           open DB and Migrate() it with the migrations in DIR; print
//           "migrated <version>"
//   snapshot DB DEST KEEP ASIDE MODE SEED CRASH
//           Snapshot(DB, DEST) keeping the newest KEEP; print "ok <path>"
//   restore SNAP DB ASIDE MODE SEED CRASH
//           Restore(SNAP, DB); print "ok"
//   handover DB ASIDE MODE SEED CRASH
//           open DB exclusively and insert into t(id) from 2 threads
//           (id = thread * 1,000,000 + i), printing "ack <id>" for each
//           acknowledged write, until the first refusal; after 20
//           acknowledged writes, open a successor in this process with
//           take_over, print "successor", and insert ids 9,000,000 + i
//           (i < 10) through it, printing "ack <id>"
//
// A failure says "error <code> <message>" and exits non-zero.
#include <sqlite3.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/database_access.h"
#include "snapshot/entry_points.h"
#include "sqlsteward/sqlsteward.h"
#include "support/helper_main.h"
#include "support/line_protocol.h"
#include "support/power_loss.h"

namespace {

using sqlsteward::Database;
using sqlsteward::Options;
using sqlsteward::Status;
using sqlsteward::Transaction;
using sqlsteward::testing::kExitFailed;
using sqlsteward::testing::kExitSetup;
using sqlsteward::testing::kExitUsage;
using sqlsteward::testing::ModeArgs;
using sqlsteward::testing::PowerLoss;
using sqlsteward::testing::PowerLossEnv;
using sqlsteward::testing::PowerLossMode;
using sqlsteward::testing::SayError;
using sqlsteward::subprocess::SayOrExit;

PowerLossEnv g_env;

// Arms the model from the last four arguments: ASIDE MODE SEED CRASH.
// Returns the crash point, or -1 after saying a usage error.
long long Arm(const ModeArgs& args) {
  const std::size_t n = args.size();
  const std::string& mode = args[n - 3];
  if (mode != "drop-all" && mode != "random") {
    SayError("invalid_argument", "MODE " + mode + " is not drop-all or random");
    return -1;
  }
  const long long crash = args.Int(n - 1);
  PowerLoss::InstallVfs();
  PowerLoss::Get().Arm(static_cast<int>(crash),
                       mode == "random" ? PowerLossMode::kRandom : PowerLossMode::kDropAll,
                       static_cast<std::uint64_t>(args.Int(n - 2)), args[n - 4]);
  return crash;
}

// The end of a workload that did not crash on its way: closes `db` (its
// sync points count too), then loses power or says how many there were.
int Finish(long long crash, Database* db = nullptr) {
  if (db != nullptr) {
    if (Status closed = db->Close(); !closed.ok()) {
      SayError(closed);
      return kExitFailed;
    }
  }
  if (crash > 0) PowerLoss::Get().Crash();
  SayOrExit("syncs " + std::to_string(PowerLoss::Get().SyncPoints()));
  return 0;
}

std::unique_ptr<Database> OpenOrExit(const std::string& path, const Options& options) {
  auto db = sqlsteward::internal::DatabaseAccess::OpenWithEnv(path, options, &g_env);
  if (!db.has_value()) {
    SayError(db.error());
    std::exit(kExitSetup);
  }
  return std::move(db).value();
}

int Writes(const ModeArgs& args) {
  Options options;
  if (!sqlsteward::testing::ParseDurability(args[1], args[2], &options)) return kExitUsage;
  options.checkpoint_wal_bytes = 48 << 10;  // Checkpoints among the crash points.
  const long long threads = args.Int(3);
  const long long each = args.Int(4);
  const long long crash = Arm(args);
  if (crash < 0) return kExitUsage;
  auto db = OpenOrExit(args[0], options);
  std::vector<std::thread> workers;
  for (long long t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long long i = 0; i < each; ++i) {
        const long long id = t * 1'000'000 + i;
        Status w =
            db->Write([&](Transaction& tx) { return tx.Exec("INSERT INTO t(id) VALUES(?)", id); });
        if (!w.ok()) {
          SayError(w);
          std::_Exit(kExitFailed);
        }
        SayOrExit("ack " + std::to_string(id));
      }
    });
  }
  for (auto& w : workers) w.join();
  return Finish(crash, db.get());
}

// Loads the extension through a throwaway in-memory connection, as
// docs/extension.md tells clients to.
bool LoadExtension(const std::string& path) {
  sqlite3* memory = nullptr;
  sqlite3_open(":memory:", &memory);
  char* error = nullptr;
  const bool ok = sqlite3_enable_load_extension(memory, 1) == SQLITE_OK &&
                  sqlite3_load_extension(memory, path.c_str(), nullptr, &error) == SQLITE_OK;
  if (!ok) SayError("failed_precondition", "cannot load " + path + ": " + (error ? error : "?"));
  sqlite3_free(error);
  sqlite3_close(memory);
  return ok;
}

int ExtWrites(const ModeArgs& args) {
  const std::string& journal = args[2];
  const std::string& sync = args[3];
  const long long threads = args.Int(4);
  const long long each = args.Int(5);
  const long long crash = Arm(args);
  if (crash < 0) return kExitUsage;
  if (!LoadExtension(args[1])) return kExitSetup;
  std::vector<std::thread> workers;
  for (long long t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      sqlite3* db = nullptr;
      auto fail = [&](const std::string& what) {
        SayError("unavailable", what + ": " + sqlite3_errmsg(db));
        std::_Exit(kExitFailed);
      };
      if (sqlite3_open_v2(args[0].c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        fail("open");
      }
      sqlite3_busy_timeout(db, 5000);
      const std::string setup = "PRAGMA journal_mode=" + journal + "; PRAGMA synchronous=" + sync;
      if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(setup);
      for (long long i = 0; i < each; ++i) {
        const long long id = t * 1'000'000 + i;
        const std::string tx =
            "BEGIN IMMEDIATE; INSERT INTO t(id) VALUES(" + std::to_string(id) + "); COMMIT";
        if (sqlite3_exec(db, tx.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(tx);
        SayOrExit("ack " + std::to_string(id));
      }
      sqlite3_close(db);
    });
  }
  for (auto& w : workers) w.join();
  return Finish(crash);
}

int MigrateMode(const ModeArgs& args) {
  const long long crash = Arm(args);
  if (crash < 0) return kExitUsage;
  auto migrations = sqlsteward::LoadMigrations(args[1]);
  if (!migrations.has_value()) {
    SayError(migrations.error());
    return kExitSetup;
  }
  auto db = OpenOrExit(args[0], Options());
  auto report = sqlsteward::Migrate(*db, *migrations);
  if (!report.has_value()) {
    SayError(report.error());
    return kExitFailed;
  }
  SayOrExit("migrated " + std::to_string(report->to_version));
  return Finish(crash, db.get());
}

int SnapshotMode(const ModeArgs& args) {
  const long long crash = Arm(args);
  if (crash < 0) return kExitUsage;
  sqlsteward::SnapshotOptions options;
  options.keep = static_cast<int>(args.Int(2));
  auto result = sqlsteward::internal::Snapshot(&g_env, args[0], args[1], options, {});
  if (!result.has_value()) {
    SayError(result.error());
    return kExitFailed;
  }
  SayOrExit("ok " + result->path);
  return Finish(crash);
}

int RestoreMode(const ModeArgs& args) {
  const long long crash = Arm(args);
  if (crash < 0) return kExitUsage;
  auto result = sqlsteward::internal::Restore(&g_env, args[0], args[1], {}, {});
  if (!result.has_value()) {
    SayError(result.error());
    return kExitFailed;
  }
  SayOrExit("ok");
  return Finish(crash);
}

int Handover(const ModeArgs& args) {
  const long long crash = Arm(args);
  if (crash < 0) return kExitUsage;
  Options exclusive;
  exclusive.ownership = sqlsteward::Ownership::kExclusive;
  auto old = OpenOrExit(args[0], exclusive);
  std::atomic<int> acked{0};
  std::vector<std::thread> writers;
  for (long long t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (long long i = 0;; ++i) {
        const long long id = t * 1'000'000 + i;
        Status w =
            old->Write([&](Transaction& tx) { return tx.Exec("INSERT INTO t(id) VALUES(?)", id); });
        if (!w.ok()) return;  // Handed over: kUnavailable, checked by the test's counts.
        SayOrExit("ack " + std::to_string(id));
        ++acked;
      }
    });
  }
  while (acked.load() < 20) std::this_thread::yield();
  Options successor = exclusive;
  successor.take_over = true;
  auto next = OpenOrExit(args[0], successor);
  SayOrExit("successor");
  for (long long i = 0; i < 10; ++i) {
    const long long id = 9'000'000 + i;
    Status w =
        next->Write([&](Transaction& tx) { return tx.Exec("INSERT INTO t(id) VALUES(?)", id); });
    if (!w.ok()) {
      SayError(w);
      return kExitFailed;
    }
    SayOrExit("ack " + std::to_string(id));
  }
  for (auto& w : writers) w.join();
  if (Status closed = old->Close(); !closed.ok()) {
    SayError(closed);
    return kExitFailed;
  }
  return Finish(crash, next.get());
}

constexpr sqlsteward::testing::HelperMode kModes[] = {
    {"writes", "DB JOURNAL SYNC THREADS EACH ASIDE MODE SEED CRASH", Writes},
    {"ext-writes", "DB EXT JOURNAL SYNC THREADS EACH ASIDE MODE SEED CRASH", ExtWrites},
    {"migrate", "DB DIR ASIDE MODE SEED CRASH", MigrateMode},
    {"snapshot", "DB DEST KEEP ASIDE MODE SEED CRASH", SnapshotMode},
    {"restore", "SNAP DB ASIDE MODE SEED CRASH", RestoreMode},
    {"handover", "DB ASIDE MODE SEED CRASH", Handover},
};

}  // namespace

int main(int argc, char** argv) { return sqlsteward::testing::HelperMain(kModes, argc, argv); }
