// Helper binary for the snapshot tests. One mode per process; it talks to
// the test through stdout lines (one write(2) per line, so that a SIGKILL
// never leaves half a line) and stops at stdin EOF where it waits:
//
//   transfers DB ACCOUNTS   open DB (shared) and move money between random
//                           accounts(id, balance) in one transaction each,
//                           logging each in transfers(n, amount), until
//                           stdin EOF; print "ready" after the first
//                           transfer and, at the end, "done <commits>
//                           <errors> <max_write_us>"
//   snapshot DB DEST [PAGES_PER_STEP [SLEEP_US]]
//                           Snapshot(DB, DEST); print "progress <phase>
//                           <pages_done> <pages_total>" at every report
//                           (sleeping SLEEP_US in each copy report, to make
//                           the copy slow), then "ok <path>" or
//                           "error <code> <message>", then "file <name>" for
//                           each entry of DEST and "end"; exit 0 or 1
//   hold DB                 open DB (shared), print "ready", print
//                           "handed-over" if asked to hand over, close at
//                           stdin EOF and print "closed"
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "sqlsteward/snapshot.h"
#include "sqlsteward/sqlsteward.h"

namespace {

using sqlsteward::Database;
using sqlsteward::Status;
using sqlsteward::Transaction;

void Say(const std::string& line) {
  std::string text = line + "\n";
  if (::write(STDOUT_FILENO, text.data(), text.size()) < 0) std::_Exit(3);
}

void WaitForStdinEof() {
  char buf[64];
  while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
}

std::unique_ptr<Database> OpenOrDie(const std::string& path,
                                    sqlsteward::Options options = {}) {
  auto db = Database::Open(path, options);
  if (!db.has_value()) {
    Say("error " + std::string(sqlsteward::StatusCodeName(db.error().code())) + " " +
        std::string(db.error().message()));
    std::exit(2);
  }
  return std::move(db).value();
}

int Transfers(const std::string& path, int accounts) {
  auto db = OpenOrDie(path);
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
    if (commits + errors == 1) Say("ready");
  }
  watcher.join();
  Status closed = db->Close();
  if (!closed.ok()) ++errors;
  Say("done " + std::to_string(commits) + " " + std::to_string(errors) + " " +
      std::to_string(max_us));
  return 0;
}

int SnapshotMode(const std::string& path, const std::string& dest, int pages_per_step,
                 int sleep_us) {
  sqlsteward::SnapshotOptions options;
  options.pages_per_step = pages_per_step;
  options.progress_interval = std::chrono::milliseconds(0);
  options.progress = [&](const sqlsteward::SnapshotProgress& p) {
    Say("progress " + std::string(sqlsteward::SnapshotPhaseName(p.phase)) + " " +
        std::to_string(p.pages_done) + " " + std::to_string(p.pages_total));
    if (p.phase == sqlsteward::SnapshotPhase::kCopy && sleep_us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    }
  };
  auto result = sqlsteward::Snapshot(path, dest, options);
  if (result.has_value()) {
    Say("ok " + result->path);
  } else {
    Say("error " + std::string(sqlsteward::StatusCodeName(result.error().code())) + " " +
        std::string(result.error().message()));
  }
  // The test may not see DEST (a tmpfs in our own mount namespace).
  if (DIR* d = ::opendir(dest.c_str())) {
    while (struct dirent* entry = ::readdir(d)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") Say("file " + name);
    }
    ::closedir(d);
  }
  Say("end");
  return result.has_value() ? 0 : 1;
}

int Hold(const std::string& path) {
  sqlsteward::Options options;
  options.on_handed_over = [](std::int32_t) { Say("handed-over"); };
  auto db = OpenOrDie(path, options);
  Say("ready");
  WaitForStdinEof();
  db->Close().IgnoreError();
  Say("closed");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "transfers" && argc == 4) return Transfers(argv[2], std::atoi(argv[3]));
  if (mode == "snapshot" && argc >= 4) {
    return SnapshotMode(argv[2], argv[3], argc > 4 ? std::atoi(argv[4]) : 1024,
                        argc > 5 ? std::atoi(argv[5]) : 0);
  }
  if (mode == "hold" && argc == 3) return Hold(argv[2]);
  std::fprintf(stderr, "usage: see the comment at the top of snapshot_helper.cc\n");
  return 64;
}
