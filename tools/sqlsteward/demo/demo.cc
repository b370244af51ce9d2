// sqlsteward demo: many processes and threads hammer one database with the
// read-then-write transaction that breaks naive SQLite code, then the demo
// checks that nothing was lost.
//
// The parent removes the previous run's files, creates the `ledger` table,
// closes its handle and starts --processes copies of itself as hidden
// `demo-worker` processes (/proc/self/exe, started by the spawner the tests
// share, tests/support/child_process.h; the protocol is in
// demo_protocol.h). They start together behind a barrier, each with
// --threads threads doing --writes writes. While they run the parent shows
// progress; afterwards it opens the database again, reads it back through
// the library and compares what callers were told with what is on disk.
//
// The parent owns no writes: each worker's group-commit numbers come from
// its own Database::Metrics() in its final protocol line.
//
// Files: demo.cc runs the steps below in order; demo_database.* prepares
// the database and reads it back; demo_workers.* starts and follows the
// workers; demo_report.* checks and prints the result; demo_worker.cc is
// the worker itself.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include "common/cli.h"
#include "common/progress.h"
#include "common/run_files.h"
#include "demo/demo_database.h"
#include "demo/demo_protocol.h"
#include "demo/demo_report.h"
#include "demo/demo_workers.h"
#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli {
namespace {

using demo::WorkerSet;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kAbout =
    "Run many processes x threads of read-then-write transactions against one\n"
    "database, then verify that every acknowledged write is present, that no\n"
    "caller saw `database is locked`, and that the file is intact.\n"
    "\n"
    "Each write reads max(n) and inserts max(n)+1 into the table\n"
    "ledger(n INTEGER PRIMARY KEY, pid, thread, at). With a connection per\n"
    "thread this fails with SQLITE_BUSY or duplicate keys; through sqlsteward\n"
    "every write is queued, group-committed and durable (synchronous=FULL).\n"
    "DIR/demo.db and its -wal, -shm, -journal and -steward files are deleted\n"
    "first: every run starts from an empty database.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward demo
  sqlsteward demo --dir /tmp/demo --processes 8 --threads 4 --writes 1000
  sqlsteward demo --json | jq '{ok, acknowledged, rows, writes_per_second}'

Exit status: 0 when every check passed, 1 when one failed (a "FAILED:" line
says which) or the demo could not run (an "error:" line says why).)";

// Open() may wait up to its write_timeout (30 s) for the write lock.
constexpr auto kReadyTimeout = seconds(60);
// Longer than the default write_timeout, so that lock waits surface as
// kTimeout errors in the workers before the parent gives up on them.
constexpr auto kStallTimeout = seconds(60);

struct DemoOptions {
  std::string dir = "./data";
  int processes = 4;
  int threads = 8;
  int writes = 500;
  bool json = false;
};

// "8000/16000 writes acknowledged  5321 writes/s  1.50 s": \r-updated on a
// terminal, a plain line each second otherwise, nothing with --json.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::uint64_t total) : line_(enabled, 1.0), total_(total) {}

  void Update(std::uint64_t acked, double elapsed, bool final) {
    if (!line_.Due(elapsed, final)) return;
    const double rate = elapsed > 0 ? static_cast<double>(acked) / elapsed : 0.0;
    line_.Show(fmt::format("{:>{}}/{} writes acknowledged  {:>7.0f} writes/s  {}", acked,
                           fmt::formatted_size("{}", total_), total_, rate,
                           FormatSeconds(elapsed)),
               final);
  }

 private:
  StatusLine line_;
  std::uint64_t total_;
};

// Removes the previous run, creates the ledger table and says so; fills
// setup->removed and setup->journal_mode.
Status PrepareDatabase(const DemoOptions& options, demo::RunSetup* setup) {
  SQLSTEWARD_ASSIGN_OR_RETURN(setup->removed, RemoveDatabaseFiles(setup->db_path));
  const bool text = !options.json;
  if (text) {
    fmt::print("sqlsteward demo: {} processes × {} threads × {} read-then-write transactions = "
               "{} durable writes\n",
               options.processes, options.threads, options.writes, setup->expected);
    if (!setup->removed.empty()) {
      fmt::print("removed the previous run's files in {}: {}\n", options.dir,
                 fmt::join(setup->removed, ", "));
    }
  }
  SQLSTEWARD_RETURN_IF_ERROR(demo::CreateSchema(setup->db_path, &setup->journal_mode));
  if (text) {
    fmt::print("database {} (journal mode {}), table ledger created\n", setup->db_path,
               setup->journal_mode);
    std::fflush(stdout);
  }
  return Status();
}

// Starts the workers and waits behind the barrier: all open the database
// and start their threads, then all start writing at once.
Status StartWorkers(const DemoOptions& options, const std::string& db_path, WorkerSet* set) {
  const std::vector<std::string> args = {std::string(demo::kWorkerCommand),
                                         "--db",
                                         db_path,
                                         "--threads",
                                         std::to_string(options.threads),
                                         "--writes",
                                         std::to_string(options.writes)};
  for (int i = 0; i < options.processes; ++i) SQLSTEWARD_RETURN_IF_ERROR(set->Spawn(args));
  SQLSTEWARD_RETURN_IF_ERROR(set->AwaitReady(kReadyTimeout));
  if (!options.json) {
    std::vector<pid_t> pids;
    for (const demo::Worker& w : set->workers()) pids.push_back(w.pid());
    fmt::print("{} worker processes ready (pids {}), go\n", pids.size(), fmt::join(pids, " "));
    std::fflush(stdout);
  }
  return Status();
}

// Gives the go and follows the workers to their end, showing progress;
// kills them all when no write was acknowledged for kStallTimeout. Returns
// the wall time from the go.
double RunWorkers(WorkerSet* set, bool text, std::uint64_t expected,
                  std::vector<std::string>* failures) {
  const auto start = Clock::now();
  set->Release();
  ProgressLine progress(text, expected);
  std::uint64_t last_acked = 0;
  auto last_change = start;
  while (!set->AllEof()) {
    set->Pump(milliseconds(100));
    const std::uint64_t acked = demo::Acked(set->workers());
    progress.Update(acked, SecondsSince(start), false);
    if (acked != last_acked) {
      last_acked = acked;
      last_change = Clock::now();
    } else if (Clock::now() - last_change > kStallTimeout) {
      failures->push_back(fmt::format("no write was acknowledged for {} s; workers killed",
                                      kStallTimeout.count()));
      set->KillAll();
      break;
    }
  }
  const double wall = SecondsSince(start);
  set->ReapAll(Clock::now() + demo::kExitGrace);
  progress.Update(demo::Acked(set->workers()), wall, true);
  return wall;
}

Result<int> RunDemo(const DemoOptions& options) {
  demo::RunSetup setup;
  setup.db_path = (std::filesystem::path(options.dir) / "demo.db").string();
  setup.processes = options.processes;
  setup.threads = options.threads;
  setup.writes = options.writes;
  setup.expected = static_cast<std::uint64_t>(options.threads) *
                   static_cast<std::uint64_t>(options.writes) *
                   static_cast<std::uint64_t>(options.processes);

  SQLSTEWARD_RETURN_IF_ERROR(demo::MakeDirectories(options.dir));
  SQLSTEWARD_ASSIGN_OR_RETURN(UniqueFd dir_lock, LockDirectory(options.dir));
  SQLSTEWARD_RETURN_IF_ERROR(PrepareDatabase(options, &setup));

  WorkerSet set;
  SQLSTEWARD_RETURN_IF_ERROR(StartWorkers(options, setup.db_path, &set));
  std::vector<std::string> failures;
  setup.wall_seconds = RunWorkers(&set, !options.json, setup.expected, &failures);

  const demo::Tally tally = demo::SumWorkers(set.workers(), &failures);
  SQLSTEWARD_ASSIGN_OR_RETURN(demo::DbFacts facts,
                              demo::ReadFacts(setup.db_path, &setup.journal_mode));
  const demo::Verdict verdict =
      demo::Verify(tally, facts, set.workers(), setup.expected, &failures);
  if (options.json) return demo::PrintJsonReport(setup, tally, facts, verdict, failures);
  return demo::PrintTextReport(setup, tally, facts, verdict, failures);
}

}  // namespace

Command RegisterDemo(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Hammer one database from many processes and "
                                             "threads, then verify nothing was lost.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("--dir", options->dir, "Directory for demo.db (created 0700 if missing)")
      ->capture_default_str();
  cmd->add_option("--processes", options->processes, "Worker processes")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--threads", options->threads, "Writer threads per process")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--writes", options->writes, "Writes per thread")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_flag("--json", options->json, "Print the report as one JSON object");
  return {cmd, [options] { return RunDemo(*options); }};
}

}  // namespace sqlsteward::cli
