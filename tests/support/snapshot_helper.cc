// Helper binary for the snapshot tests. One mode per process; it talks to
// the test through stdout lines (the line protocol of child_process.h) and
// stops at stdin EOF where it waits. Any mode that fails says
// "error <code> <message>" and exits non-zero (helper_main.h):
//
//   transfers DB ACCOUNTS   open DB (shared) and move money between random
//                           accounts(id, balance) in one transaction each,
//                           logging each in transfers(n, amount), until
//                           stdin EOF; print "ready" after the first
//                           transfer and, at the end, "done <commits>
//                           <errors> <max_write_us>"; exit 1 if errors > 0
//   snapshot DB DEST [PAGES_PER_STEP [SLEEP_US]]
//                           Snapshot(DB, DEST); print "progress <phase>
//                           <pages_done> <pages_total>" at every report
//                           (sleeping SLEEP_US in each copy report, to make
//                           the copy slow), then "ok <path>" or
//                           "error <code> <message>", then "file <name>" for
//                           each entry of DEST and "end" (or "unlisted
//                           <errno>" when DEST cannot be read, so a test
//                           never takes "no file lines" for "empty");
//                           exit 0 or 1
//   snapshot-no-fallocate DB DEST
//                           as snapshot, through a FaultEnv whose fallocate
//                           fails with EOPNOTSUPP (a filesystem without it),
//                           so that nothing reserves the copy's space
//   snapshot-crash DB DEST OP N
//                           Snapshot(DB, DEST), 16 pages a step, through a
//                           FaultEnv that kills this process with SIGKILL
//                           just before its Nth OP call (fsync or rename) on
//                           a path under DEST, or at its Nth progress report
//                           of any phase (OP report); N 0: no crash, print
//                           "ok <fsyncs> <renames> <reports>", the calls
//                           made under DEST, to enumerate them
//   restore-crash SNAP DB WHERE N
//                           Restore(SNAP, DB) through a FaultEnv, killing
//                           this process with SIGKILL just before its Nth
//                           fsync or rename (WHERE fsync, rename: any path)
//                           or at its Nth progress report of the restore
//                           phase, 8 pages a step (WHERE restore); N 0: no
//                           crash, print "ok <fsyncs> <renames> <reports>"
//   ledger DB               open DB (shared) and, until stdin EOF, commit
//                           `UPDATE ledger SET version = version + 1`
//                           (every row, spread over many pages, in one
//                           transaction); print "ready" after the first
//                           commit and "done <commits> <errors>" at the end
//   checkpointer DB         open DB (shared); for each line read, commit
//                           `UPDATE cold SET version = version + 1`, run a
//                           checkpoint (Database::Checkpoint) and print
//                           "checkpointed" (or an error line)
//   hold DB                 open DB (shared), print "ready", print
//                           "handed-over" if asked to hand over, close at
//                           stdin EOF and print "closed" (or an error line)
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "snapshot/entry_points.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/sqlsteward.h"
#include "support/fault_env.h"
#include "support/helper_main.h"
#include "support/line_protocol.h"

namespace {

using sqlsteward::Database;
using sqlsteward::Status;
using sqlsteward::Transaction;
using sqlsteward::subprocess::SayOrExit;
using sqlsteward::subprocess::WaitForStdinEof;
using sqlsteward::testing::CloseAndReport;
using sqlsteward::testing::kExitFailed;
using sqlsteward::testing::kExitUsage;
using sqlsteward::testing::kExitSetup;
using sqlsteward::testing::ModeArgs;
using sqlsteward::testing::OpenOrExit;
using sqlsteward::testing::SayError;

int Transfers(const ModeArgs& args) {
  const int accounts = static_cast<int>(args.Int(1));
  auto db = OpenOrExit(args[0]);
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    WaitForStdinEof();
    stop = true;
  });
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> account(0, accounts - 1);
  std::uniform_int_distribution<int> amount(1, 100);
  long long commits = 0;
  long long errors = 0;
  long long max_us = 0;
  while (!stop.load()) {
    const int from = account(rng);
    const int to = account(rng);
    const int value = amount(rng);
    const auto start = std::chrono::steady_clock::now();
    Status st = db->Write([&](Transaction& tx) -> Status {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("UPDATE accounts SET balance = balance - ? WHERE id = ?", value, from));
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("UPDATE accounts SET balance = balance + ? WHERE id = ?", value, to));
      return tx.Exec("INSERT INTO transfers(amount) VALUES(?)", value);
    });
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    max_us = std::max<long long>(max_us, us);
    if (st.ok()) {
      ++commits;
    } else {
      ++errors;
      std::fprintf(stderr, "transfer failed: %s\n", st.ToString().c_str());
    }
    // Once the first transfer is in, snapshots taken from now on see
    // writers at work.
    if (commits + errors == 1) SayOrExit("ready");
  }
  watcher.join();
  if (CloseAndReport(*db) != 0) ++errors;
  SayOrExit("done " + std::to_string(commits) + " " + std::to_string(errors) + " " +
            std::to_string(max_us));
  return errors == 0 ? 0 : kExitFailed;
}

// SnapshotMode through `env`.
int SnapshotThrough(sqlsteward::posix::Env* env, const ModeArgs& args) {
  const std::string& dest = args[1];
  const long long sleep_us = args.Int(3, 0);
  sqlsteward::SnapshotOptions options;
  options.pages_per_step = static_cast<int>(args.Int(2, 1024));
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const sqlsteward::SnapshotProgress& p) {
    SayOrExit("progress " + std::string(sqlsteward::SnapshotPhaseName(p.phase)) + " " +
              std::to_string(p.pages_done) + " " + std::to_string(p.pages_total));
    if (p.phase == sqlsteward::SnapshotPhase::kCopy && sleep_us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    }
  };
  auto result = sqlsteward::internal::Snapshot(env, args[0], dest, options, {});
  if (result.has_value()) {
    SayOrExit("ok " + result->path);
  } else {
    SayError(result.error());
  }
  // The test may not see DEST (a tmpfs in our own mount namespace).
  DIR* d = ::opendir(dest.c_str());
  if (d == nullptr) {
    SayOrExit("unlisted " + std::to_string(errno));
    return kExitFailed;
  }
  while (struct dirent* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") SayOrExit("file " + name);
  }
  ::closedir(d);
  SayOrExit("end");
  return result.has_value() ? 0 : kExitFailed;
}

int SnapshotMode(const ModeArgs& args) {
  return SnapshotThrough(sqlsteward::posix::Env::Default(), args);
}

int SnapshotNoFallocate(const ModeArgs& args) {
  sqlsteward::testing::FaultEnv env;
  env.FailAlways(sqlsteward::testing::FaultEnv::Op::kFallocate, EOPNOTSUPP);
  return SnapshotThrough(&env, args);
}

int SnapshotCrash(const ModeArgs& args) {
  using sqlsteward::testing::FaultEnv;
  const std::string& dest = args[1];
  const std::string& op_name = args[2];
  if (op_name != "fsync" && op_name != "rename" && op_name != "report") {
    SayError("invalid_argument", "OP " + op_name + " is not fsync, rename or report");
    return kExitUsage;
  }
  const long long nth = args.Int(3);
  FaultEnv env;
  if (nth > 0 && op_name != "report") {
    env.CrashAt(op_name == "fsync" ? FaultEnv::Op::kFsync : FaultEnv::Op::kRename, dest,
                static_cast<int>(nth));
  }
  long long reports = 0;
  sqlsteward::SnapshotOptions options;
  options.pages_per_step = 16;
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const sqlsteward::SnapshotProgress&) {
    if (++reports == nth && op_name == "report") ::raise(SIGKILL);
  };
  auto result = sqlsteward::internal::Snapshot(&env, args[0], dest, options, {});
  if (!result.has_value()) {
    SayError(result.error());
    return kExitFailed;
  }
  SayOrExit("ok " + std::to_string(env.Calls(FaultEnv::Op::kFsync, dest)) + " " +
            std::to_string(env.Calls(FaultEnv::Op::kRename, dest)) + " " +
            std::to_string(reports));
  return 0;
}

int RestoreCrash(const ModeArgs& args) {
  using sqlsteward::testing::FaultEnv;
  const std::string& where = args[2];
  if (where != "fsync" && where != "rename" && where != "restore") {
    SayError("invalid_argument", "WHERE " + where + " is not fsync, rename or restore");
    return kExitUsage;
  }
  const long long nth = args.Int(3);
  FaultEnv env;
  if (nth > 0 && where != "restore") {
    env.CrashAt(where == "fsync" ? FaultEnv::Op::kFsync : FaultEnv::Op::kRename, "",
                static_cast<int>(nth));
  }
  long long reports = 0;
  sqlsteward::RestoreOptions options;
  options.pages_per_step = 8;
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const sqlsteward::SnapshotProgress& p) {
    if (p.phase != sqlsteward::SnapshotPhase::kRestore) return;
    if (++reports == nth && where == "restore") ::raise(SIGKILL);
  };
  auto result = sqlsteward::internal::Restore(&env, args[0], args[1], options, {});
  if (!result.has_value()) {
    SayError(result.error());
    return kExitFailed;
  }
  SayOrExit("ok " + std::to_string(env.Calls(FaultEnv::Op::kFsync)) + " " +
            std::to_string(env.Calls(FaultEnv::Op::kRename)) + " " + std::to_string(reports));
  return 0;
}

int Ledger(const ModeArgs& args) {
  auto db = OpenOrExit(args[0]);
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    WaitForStdinEof();
    stop = true;
  });
  long long commits = 0;
  long long errors = 0;
  while (!stop.load()) {
    Status st = db->Write(
        [](Transaction& tx) { return tx.Exec("UPDATE ledger SET version = version + 1"); });
    if (st.ok()) {
      ++commits;
    } else {
      ++errors;
      std::fprintf(stderr, "ledger commit failed: %s\n", st.ToString().c_str());
    }
    if (commits + errors == 1) SayOrExit("ready");
  }
  watcher.join();
  if (CloseAndReport(*db) != 0) ++errors;
  SayOrExit("done " + std::to_string(commits) + " " + std::to_string(errors));
  return errors == 0 ? 0 : kExitFailed;
}

int Checkpointer(const ModeArgs& args) {
  auto db = OpenOrExit(args[0]);
  SayOrExit("ready");
  while (sqlsteward::subprocess::ReadStdinLine().has_value()) {
    Status st = db->Write(
        [](Transaction& tx) { return tx.Exec("UPDATE cold SET version = version + 1"); });
    if (st.ok()) st = db->Checkpoint();
    if (!st.ok()) {
      SayError(st);
      return kExitFailed;
    }
    SayOrExit("checkpointed");
  }
  return CloseAndReport(*db);
}

int Hold(const ModeArgs& args) {
  sqlsteward::Options options;
  options.on_handed_over = [](std::int32_t) { SayOrExit("handed-over"); };
  auto db = OpenOrExit(args[0], options);
  SayOrExit("ready");
  WaitForStdinEof();
  const int status = CloseAndReport(*db);
  if (status == 0) SayOrExit("closed");
  return status;
}

constexpr sqlsteward::testing::HelperMode kModes[] = {
    {"transfers", "DB ACCOUNTS", Transfers},
    {"snapshot", "DB DEST [PAGES_PER_STEP [SLEEP_US]]", SnapshotMode},
    {"snapshot-no-fallocate", "DB DEST", SnapshotNoFallocate},
    {"snapshot-crash", "DB DEST OP N", SnapshotCrash},
    {"restore-crash", "SNAP DB WHERE N", RestoreCrash},
    {"ledger", "DB", Ledger},
    {"checkpointer", "DB", Checkpointer},
    {"hold", "DB", Hold},
};

}  // namespace

int main(int argc, char** argv) { return sqlsteward::testing::HelperMain(kModes, argc, argv); }
