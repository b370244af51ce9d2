// Helper binary for the migrator's multi-process tests. Each mode is one
// real process that talks to the test through stdout lines and takes its
// go signal from stdin (the line protocol of child_process.h; the lists are
// in tests/support/migrate_lists.h). Any mode that fails says
// "error <code> <message>" and exits non-zero (helper_main.h):
//
//   race                 print "ready"; for each stdin line "go PATH": open
//                        PATH with after_open = MigrateOnOpen(RaceMigrations),
//                        print "ok <schema version>" or an error line and
//                        keep the handle; "close": close it, print "closed";
//                        exit at stdin EOF, non-zero if any step failed
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
//                        "step-ran"), print "ok <version>" or an error line
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "sqlsteward/migrator.h"
#include "sqlsteward/sqlsteward.h"
#include "support/helper_main.h"
#include "support/line_protocol.h"
#include "support/migrate_lists.h"

namespace {

using sqlsteward::Database;
using sqlsteward::Options;
using sqlsteward::Status;
using sqlsteward::Transaction;
using sqlsteward::subprocess::ReadStdinLine;
using sqlsteward::subprocess::SayOrExit;
using sqlsteward::testing::CloseAndReport;
using sqlsteward::testing::kExitFailed;
using sqlsteward::testing::kExitSetup;
using sqlsteward::testing::ModeArgs;
using sqlsteward::testing::OpenOrExit;
using sqlsteward::testing::SayError;
using Clock = std::chrono::steady_clock;

// Exit status of a mode whose test sent something other than "go".
constexpr int kExitProtocol = 5;

void WaitForGo() {
  std::optional<std::string> line = ReadStdinLine();
  if (line == "go") return;
  SayError("invalid_argument", "expected \"go\" on stdin, got " +
                                   (line.has_value() ? "\"" + *line + "\"" : "EOF"));
  std::_Exit(kExitProtocol);
}

// Says "ok <version>" or an error line; false on the error.
bool SayVersion(Database& db) {
  auto version = sqlsteward::SchemaVersion(db);
  if (!version.has_value()) {
    SayError(version.error());
    return false;
  }
  SayOrExit("ok " + std::to_string(*version));
  return true;
}

int Race(const ModeArgs&) {
  SayOrExit("ready");
  std::unique_ptr<Database> db;
  int failures = 0;
  while (std::optional<std::string> line = ReadStdinLine()) {
    if (*line == "close") {
      if (db != nullptr) {
        Status closed = db->Close();
        db.reset();
        if (!closed.ok()) {
          SayError(closed);
          ++failures;
          continue;
        }
      }
      SayOrExit("closed");
      continue;
    }
    if (line->rfind("go ", 0) != 0) {
      SayError("invalid_argument", "expected \"go PATH\" or \"close\", got \"" + *line + "\"");
      return kExitProtocol;
    }
    Options options;
    options.after_open = sqlsteward::MigrateOnOpen(sqlsteward::testing::RaceMigrations());
    auto opened = Database::Open(line->substr(3), options);
    if (!opened.has_value()) {
      SayError(opened.error());
      ++failures;
      continue;
    }
    db = std::move(opened).value();
    if (!SayVersion(*db)) ++failures;
  }
  return failures == 0 ? 0 : kExitFailed;
}

int SlowMigrate(const ModeArgs& args) {
  const long long seconds = args.Int(1);
  auto db = OpenOrExit(args[0]);
  SayOrExit("ready");
  WaitForGo();
  auto report = sqlsteward::Migrate(*db, sqlsteward::testing::SlowMigrations([seconds] {
    SayOrExit("migrating");
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
  }));
  if (!report.has_value()) {
    SayError(report.error());
    return kExitFailed;
  }
  std::string applied;
  for (auto v : report->applied) applied += (applied.empty() ? "" : ",") + std::to_string(v);
  SayOrExit("done " + (applied.empty() ? "-" : applied) + " " +
            std::to_string(report->to_version));
  return CloseAndReport(*db);
}

int Writer(const ModeArgs& args) {
  auto db = OpenOrExit(args[0]);
  SayOrExit("ready");
  WaitForGo();
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    while (ReadStdinLine().has_value()) {
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
  Status closed = db->Close();
  if (!closed.ok()) {
    SayError(closed);
    ++errors;
  }
  SayOrExit("done " + std::to_string(acked) + " " + std::to_string(errors) + " " +
            std::to_string(max_ms));
  return errors == 0 ? 0 : kExitFailed;
}

// The write's outcome, timeout included, is what the test checks: a line,
// not a failure of the helper.
int ShortWrite(const ModeArgs& args) {
  const long long ms = args.Int(1);
  auto db = OpenOrExit(args[0]);
  SayOrExit("ready");
  WaitForGo();
  sqlsteward::WriteOptions wo;
  wo.timeout = std::chrono::milliseconds(ms);
  Status st = db->Write(
      [](Transaction& tx) { return tx.Exec("INSERT INTO events(pid, at) VALUES(0, 0)"); }, wo);
  SayOrExit("status " + std::string(sqlsteward::StatusCodeName(st.code())) + " " +
            std::string(st.message()));
  return CloseAndReport(*db);
}

int OpenMigrate(const ModeArgs& args) {
  Options options;
  options.after_open =
      sqlsteward::MigrateOnOpen(sqlsteward::testing::SlowMigrations([] { SayOrExit("step-ran"); }));
  auto db = OpenOrExit(args[0], options);
  if (!SayVersion(*db)) return kExitFailed;
  return CloseAndReport(*db);
}

constexpr sqlsteward::testing::HelperMode kModes[] = {
    {"race", "", Race},
    {"slow-migrate", "DB SECS", SlowMigrate},
    {"writer", "DB", Writer},
    {"short-write", "DB MS", ShortWrite},
    {"open-migrate", "DB", OpenMigrate},
};

}  // namespace

int main(int argc, char** argv) { return sqlsteward::testing::HelperMain(kModes, argc, argv); }
