// Helper binary for the migrator's multi-process tests. Each mode is one
// real process that talks to the test through stdout lines and takes its
// go signal from stdin (see tests/support/migrate_lists.h for the lists):
//
//   race                 print "ready"; for each stdin line "go PATH": open
//                        PATH with after_open = MigrateOnOpen(RaceMigrations),
//                        print "ok <schema version>" or "error <status>" and
//                        keep the handle; "close": close it, print "closed";
//                        exit at stdin EOF
//   slow-migrate DB SECS open DB (default options), print "ready", wait for a
//                        "go" line, run Migrate(SlowMigrations) whose long
//                        step prints "migrating" and then sleeps SECS inside
//                        the transaction; print "done <applied,...> <version>"
//                        or "error <code> <message>"
//   writer DB            open DB (default options), print "ready", wait for
//                        "go", insert into events until stdin EOF, print
//                        "done <acked> <errors> <max latency ms>"
//   short-write DB MS    open DB, print "ready", wait for "go", one write
//                        with a MS deadline, print "status <code> <message>"
//   open-migrate DB      open DB with after_open =
//                        MigrateOnOpen(SlowMigrations) (its step would print
//                        "step-ran"), print "ok <version>" or "error <status>"
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "sqlsteward/migrator.h"
#include "sqlsteward/sqlsteward.h"
#include "support/migrate_lists.h"

namespace {

using sqlsteward::Database;
using sqlsteward::Options;
using sqlsteward::Status;
using sqlsteward::Transaction;
using Clock = std::chrono::steady_clock;

std::mutex g_out_mu;

void Say(const std::string& line) {
  std::lock_guard lock(g_out_mu);
  std::string text = line + "\n";
  // One write per line so that a SIGKILL never leaves half a line.
  if (::write(STDOUT_FILENO, text.data(), text.size()) < 0) std::_Exit(3);
}

std::string NextLine() {
  std::string line;
  if (!std::getline(std::cin, line)) return {};
  return line;
}

void WaitForGo() {
  if (NextLine() != "go") std::_Exit(5);
}

std::unique_ptr<Database> OpenOrDie(const std::string& path, const Options& options = {}) {
  auto db = Database::Open(path, options);
  if (!db.has_value()) {
    Say("error " + db.error().ToString());
    std::exit(2);
  }
  return std::move(db).value();
}

std::string Code(const Status& st) { return std::string(sqlsteward::StatusCodeName(st.code())); }

int Race() {
  Say("ready");
  std::unique_ptr<Database> db;
  for (std::string line = NextLine(); !line.empty(); line = NextLine()) {
    if (line == "close") {
      db.reset();
      Say("closed");
      continue;
    }
    if (line.rfind("go ", 0) != 0) return 5;
    std::string path = line.substr(3);
    Options options;
    options.after_open = sqlsteward::MigrateOnOpen(sqlsteward::testing::RaceMigrations());
    auto opened = Database::Open(path, options);
    if (!opened.has_value()) {
      Say("error " + opened.error().ToString());
      continue;
    }
    db = std::move(opened).value();
    auto version = sqlsteward::SchemaVersion(*db);
    Say(version.has_value() ? "ok " + std::to_string(*version)
                            : "error " + version.error().ToString());
  }
  return 0;
}

int SlowMigrate(const std::string& path, int seconds) {
  auto db = OpenOrDie(path);
  Say("ready");
  WaitForGo();
  auto report = sqlsteward::Migrate(*db, sqlsteward::testing::SlowMigrations([seconds] {
    Say("migrating");
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
  }));
  if (!report.has_value()) {
    Say("error " + Code(report.error()) + " " + std::string(report.error().message()));
    return 1;
  }
  std::string applied;
  for (auto v : report->applied) applied += (applied.empty() ? "" : ",") + std::to_string(v);
  Say("done " + (applied.empty() ? "-" : applied) + " " + std::to_string(report->to_version));
  return 0;
}

int Writer(const std::string& path) {
  auto db = OpenOrDie(path);
  Say("ready");
  WaitForGo();
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    while (!NextLine().empty()) {
    }
    stop = true;
  });
  long long acked = 0;
  long long errors = 0;
  long long max_ms = 0;
  const long long pid = ::getpid();
  while (!stop.load()) {
    auto start = Clock::now();
    Status st = db->Write([&](Transaction& tx) {
      return tx.Exec("INSERT INTO events(pid, at) VALUES(?, ?)", pid,
                     static_cast<long long>(start.time_since_epoch().count()));
    });
    long long ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    max_ms = std::max(max_ms, ms);
    if (st.ok()) {
      ++acked;
    } else {
      ++errors;
      std::fprintf(stderr, "writer: %s\n", st.ToString().c_str());
    }
  }
  watcher.join();
  Say("done " + std::to_string(acked) + " " + std::to_string(errors) + " " +
      std::to_string(max_ms));
  return errors == 0 ? 0 : 1;
}

int ShortWrite(const std::string& path, int ms) {
  auto db = OpenOrDie(path);
  Say("ready");
  WaitForGo();
  sqlsteward::WriteOptions wo;
  wo.timeout = std::chrono::milliseconds(ms);
  Status st = db->Write(
      [](Transaction& tx) { return tx.Exec("INSERT INTO events(pid, at) VALUES(0, 0)"); }, wo);
  Say("status " + Code(st) + " " + std::string(st.message()));
  return 0;
}

int OpenMigrate(const std::string& path) {
  Options options;
  options.after_open =
      sqlsteward::MigrateOnOpen(sqlsteward::testing::SlowMigrations([] { Say("step-ran"); }));
  auto db = Database::Open(path, options);
  if (!db.has_value()) {
    Say("error " + db.error().ToString());
    return 1;
  }
  auto version = sqlsteward::SchemaVersion(**db);
  Say(version.has_value() ? "ok " + std::to_string(*version)
                          : "error " + version.error().ToString());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "race") == 0) return Race();
  if (argc >= 4 && std::strcmp(argv[1], "slow-migrate") == 0) {
    return SlowMigrate(argv[2], std::atoi(argv[3]));
  }
  if (argc >= 3 && std::strcmp(argv[1], "writer") == 0) return Writer(argv[2]);
  if (argc >= 4 && std::strcmp(argv[1], "short-write") == 0) {
    return ShortWrite(argv[2], std::atoi(argv[3]));
  }
  if (argc >= 3 && std::strcmp(argv[1], "open-migrate") == 0) return OpenMigrate(argv[2]);
  std::fprintf(stderr, "usage: %s race|slow-migrate|writer|short-write|open-migrate ...\n",
               argv[0]);
  return 64;
}
