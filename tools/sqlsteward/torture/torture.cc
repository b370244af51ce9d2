// sqlsteward torture DIR: is this mount safe for a database? Processes
// write through the library in DIR and are killed with SIGKILL at random
// moments, cycle after cycle; after each cycle every write the library
// acknowledged must still be there, once, and integrity_check must be ok.
//
// A cycle:
//   1. start --processes workers (hidden `torture-worker`, this binary; the
//      protocol is in torture_protocol.h), each opening the database
//      (with --two-mounts, half through A and half through B), behind a
//      barrier; a worker refused for another lock domain is counted and
//      leaves;
//   2. let them write; wait until every worker has said "ack" at least
//      once in this cycle -- the acknowledgements, not a sleep, say that
//      writes are in flight;
//   3. kill each worker with SIGKILL after its own random delay of 0 to
//      kMaxKillDelay, reading acks until each dies;
//   4. reap them, read the acks still in the pipes, and check the database
//      (torture_check.h) through a new handle, as the next process would.
// The delays come from one generator seeded with --seed (printed), so a
// failure's kill schedule can be run again; process scheduling still
// varies from run to run.
//
// The verdict (docs/cli.md): safe, refused (the paths are two lock domains
// and sqlsteward refused the second, nothing lost), or unsafe (a write lost
// or duplicated, or integrity_check failed). The run stops at the first
// unsafe cycle and keeps the files.
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/cli_hints.h"
#include "common/help.h"
#include "common/progress.h"
#include "common/run_files.h"
#include "common/worker_set.h"
#include "sidecar/format.h"
#include "torture/torture_check.h"
#include "torture/torture_files.h"
#include "torture/torture_protocol.h"

namespace sqlsteward::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using torture::CheckResult;

constexpr const char* kAbout =
    "Answer \"is this mount safe for a database?\" by trying to lose a write.\n"
    "\n"
    "--processes worker processes write through sqlsteward to\n"
    "DIR/sqlsteward-torture.db (synchronous=FULL: a write is acknowledged only\n"
    "when it is durable). Once every worker has acknowledged a write, each is\n"
    "killed with SIGKILL at a random moment while it writes; new workers start\n"
    "for the next cycle. After every cycle the database is opened as the next\n"
    "process would open it, and every acknowledged write must be present, once,\n"
    "and PRAGMA integrity_check must say ok.\n"
    "\n"
    "With --two-mounts A B, half the workers open A/sqlsteward-torture.db and\n"
    "half B/sqlsteward-torture.db, where A and B are two paths to one\n"
    "directory (two bind mounts, a host path and a container's view of it).\n"
    "If locks taken through one are not seen through the other, sqlsteward\n"
    "must refuse the second lock domain rather than lose writes.\n"
    "\n"
    "SIGKILL is a process crash, not a power loss: the kernel still writes\n"
    "back what the process wrote. Torture never touches a file it did not\n"
    "create; its files are removed at the end unless --keep (and kept after\n"
    "an UNSAFE verdict or an error).";

constexpr const char* kExamples = R"(Examples:
  sqlsteward torture /srv/app/data
  sqlsteward torture /srv/app/data --cycles 1000 --processes 8
  sqlsteward torture /srv/app/data --seconds 600 --seed 42
  sqlsteward torture --two-mounts /mnt/a /mnt/b --cycles 100
  sqlsteward torture /data --json | jq '{verdict, cycles, acknowledged, lost}'

Exit status: 0 safe, or refused (two lock domains, sqlsteward refused the
second and nothing was lost; --json "verdict" tells them apart); 1 UNSAFE:
an acknowledged write lost or duplicated, or integrity_check failed; 2 the
test could not run ("error:" and "hint:" lines on stderr); 100 or more: the
command line was wrong.)";

constexpr int kExitUnsafe = 1;
constexpr int kExitError = 2;

// Open() may wait up to its write_timeout (30 s) for the write lock.
constexpr auto kReadyTimeout = seconds(60);
// Longer than the library's default write_timeout: a stuck write fails in
// its worker first.
constexpr auto kAckTimeout = seconds(60);
// How long after the last worker's first ack of the cycle each worker may
// live: long enough for many commits, short enough for many cycles.
constexpr auto kMaxKillDelay = std::chrono::microseconds(50'000);
constexpr int kDefaultCycles = 100;

struct TortureOptions {
  std::string dir;
  std::vector<std::string> two_mounts;
  int processes = 4;
  int cycles = 0;  // 0: not given
  double seconds = 0;
  std::optional<std::uint64_t> seed;
  bool json = false;
  bool keep = false;
};

// One worker process of a cycle, as the parent sees it.
struct Worker : WorkerProcess {
  torture::AckedWrites* acked = nullptr;
  std::string path;
  std::uint64_t acks = 0;  // in this cycle
  bool killed = false;

  void HandleEvent(const subprocess::Event& event) {
    if (event.verb != torture::kAck) {
      protocol_error =
          fmt::format("unexpected line from worker {}: {} {}", pid(), event.verb, event.rest);
      return;
    }
    std::int64_t id = 0;
    const auto [end, ec] =
        std::from_chars(event.rest.data(), event.rest.data() + event.rest.size(), id);
    if (ec != std::errc() || end != event.rest.data() + event.rest.size() || id <= 0) {
      protocol_error = fmt::format("unreadable ack from worker {}: {}", pid(), event.rest);
      return;
    }
    acked->Add(id);
    ++acks;
  }
};

// The message registry.cc gives a newcomer that sees a live instance whose
// locks it cannot see (DESIGN.md, "When locks do not propagate").
bool IsLockDomainRefusal(const Status& status) {
  return status.code() == StatusCode::kFailedPrecondition &&
         status.message().find("another lock domain") != std::string_view::npos;
}

// The run as set up, and what it has seen so far.
struct Run {
  std::vector<std::string> paths;  // one, or A and B: each a database path
  std::string journal_mode;
  std::uint64_t seed = 0;
  int cycles_asked = 0;  // 0 with --seconds
  double seconds_asked = 0;

  int cycles = 0;  // completed and checked
  std::uint64_t kills = 0;
  std::uint64_t refused = 0;
  std::optional<Status> refusal;  // the first
  std::uint64_t write_errors = 0;
  std::optional<Status> write_error;  // the first
  CheckResult last;                   // the last cycle's check
  int checked_through = 0;            // index into paths of the last check
  double wall_seconds = 0;
  std::vector<std::string> kept;  // files left, when kept

  bool unsafe() const { return cycles > 0 && !last.sound(); }
  std::string_view Verdict() const {
    if (unsafe()) return "unsafe";
    return refused > 0 ? "refused" : "safe";
  }
};

// "cycle 17/100  killed 68  acknowledged 5123  lost 0  corrupt 0  12.3 s":
// \r-updated on a terminal, a plain line every 2 s otherwise, nothing with
// --json.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : line_(enabled, 2.0) {}

  void Update(const Run& run, double elapsed, bool final) {
    if (!line_.Due(elapsed, final)) return;
    const std::string cycles = run.cycles_asked > 0
                                   ? fmt::format("{}/{}", run.cycles, run.cycles_asked)
                                   : fmt::format("{}", run.cycles);
    std::string text =
        fmt::format("cycle {}  killed {}  acknowledged {}  lost {}  corrupt {}", cycles, run.kills,
                    run.last.acknowledged, run.last.lost + run.last.gaps + run.last.duplicates,
                    run.cycles > 0 && !run.last.integrity_ok() ? 1 : 0);
    if (run.refused > 0) text += fmt::format("  refused {}", run.refused);
    text += "  " + FormatSeconds(elapsed);
    line_.Show(text, final);
  }

 private:
  StatusLine line_;
};

// Step 1: starts the cycle's workers and waits until each is ready or
// refused. A refusal for another lock domain is counted; any other failure
// to start stops the run.
Status StartWorkers(const TortureOptions& options, Run* run, std::int64_t* next_writer,
                    torture::AckedWrites* acked, WorkerSet<Worker>* set) {
  for (int i = 0; i < options.processes; ++i) {
    const std::string& path = run->paths[static_cast<std::size_t>(i) % run->paths.size()];
    SQLSTEWARD_RETURN_IF_ERROR(set->Spawn({std::string(torture::kWorkerCommand), "--db", path,
                                           "--writer", std::to_string(*next_writer)}));
    *next_writer += torture::kThreadsPerWorker;
    set->workers().back().acked = acked;
    set->workers().back().path = path;
  }
  SQLSTEWARD_RETURN_IF_ERROR(set->AwaitSettled(kReadyTimeout));
  for (Worker& w : set->workers()) {
    if (!w.protocol_error.empty()) return Status(StatusCode::kInternal, w.protocol_error);
    if (w.ready) continue;
    if (w.fail && IsLockDomainRefusal(*w.fail)) {
      ++run->refused;
      if (!run->refusal) run->refusal = *w.fail;
      continue;
    }
    if (w.fail) return w.fail->WithContext(fmt::format("worker {} opening {}", w.pid(), w.path));
    set->ReapAll(Clock::now() + kWorkerExitGrace);
    return Status(
        StatusCode::kInternal,
        fmt::format("worker {} ended before it opened {} ({})", w.pid(), w.path, w.exit.ToString()),
        "see the worker's messages above");
  }
  return Status();
}

bool Running(const Worker& w) { return w.ready && !w.killed && !w.eof; }

// Step 2: every running worker has acknowledged a write in this cycle (or
// ended on its own, after saying why).
Status AwaitFirstAcks(WorkerSet<Worker>* set, int cycle) {
  const auto deadline = Clock::now() + kAckTimeout;
  for (;;) {
    bool all = true;
    for (const Worker& w : set->workers()) all = all && (!Running(w) || w.acks > 0);
    if (all) return Status();
    if (Clock::now() >= deadline) {
      return Status(StatusCode::kTimeout,
                    fmt::format("cycle {}: a worker acknowledged no write within {} s", cycle,
                                kAckTimeout.count()),
                    "the filesystem may be very slow, or a process outside the test holds the "
                    "database's write lock (`sqlsteward status DB`)");
    }
    set->Pump(milliseconds(100));
  }
}

// Step 3: each running worker dies at its own random moment; acks are read
// meanwhile, so that no worker blocks on a full pipe.
void KillAtRandom(WorkerSet<Worker>* set, std::mt19937_64* rng, Run* run) {
  std::uniform_int_distribution<std::int64_t> delay(0, kMaxKillDelay.count());
  const auto start = Clock::now();
  std::vector<Clock::time_point> at(set->workers().size());
  for (Clock::time_point& t : at) t = start + std::chrono::microseconds(delay(*rng));
  for (;;) {
    std::optional<Clock::time_point> next;
    auto& workers = set->workers();
    for (std::size_t i = 0; i < workers.size(); ++i) {
      Worker& w = workers[i];
      if (!w.ready || w.killed || w.process->reaped()) continue;
      if (Clock::now() >= at[i]) {
        // A worker that ended on its own (a write error it reported) is
        // not running any more; Kill() of a zombie is harmless.
        w.process->Kill();
        w.killed = true;
        if (!w.eof) ++run->kills;
        continue;
      }
      next = next ? std::min(*next, at[i]) : at[i];
    }
    if (!next) return;
    const auto wait = std::chrono::duration_cast<milliseconds>(*next - Clock::now());
    set->Pump(std::max(wait, milliseconds(0)));
  }
}

// Step 4, first half: reaps the workers and reads every line they wrote
// before they died.
Status Drain(WorkerSet<Worker>* set, Run* run) {
  set->KillAll();
  set->ReapAll(Clock::now() + kWorkerExitGrace);
  while (!set->AllEof()) set->Pump(milliseconds(100));
  for (const Worker& w : set->workers()) {
    if (!w.protocol_error.empty()) return Status(StatusCode::kInternal, w.protocol_error);
    // A write that failed after the worker was ready: not acknowledged, so
    // not a loss; reported beside the verdict.
    if (w.ready && w.fail) {
      ++run->write_errors;
      if (!run->write_error) run->write_error = *w.fail;
    }
  }
  return Status();
}

Status RunCycles(const TortureOptions& options, Run* run) {
  std::mt19937_64 rng(run->seed);
  torture::AckedWrites acked;
  std::int64_t next_writer = 1;
  ProgressLine progress(!options.json);
  const auto start = Clock::now();
  for (int cycle = 1;; ++cycle) {
    if (run->cycles_asked > 0 && run->cycles >= run->cycles_asked) break;
    if (run->cycles_asked == 0 && SecondsSince(start) >= run->seconds_asked) break;
    {
      WorkerSet<Worker> set;
      SQLSTEWARD_RETURN_IF_ERROR(StartWorkers(options, run, &next_writer, &acked, &set));
      set.Release();
      SQLSTEWARD_RETURN_IF_ERROR(AwaitFirstAcks(&set, cycle));
      KillAtRandom(&set, &rng, run);
      SQLSTEWARD_RETURN_IF_ERROR(Drain(&set, run));
    }
    acked.Merge();
    // With two paths, the check alternates between them: each is a view
    // some process of the user's would open the database through.
    run->checked_through = cycle % static_cast<int>(run->paths.size());
    SQLSTEWARD_ASSIGN_OR_RETURN(
        run->last, torture::CheckDatabase(
                       run->paths[static_cast<std::size_t>(run->checked_through)], acked.ids()));
    run->cycles = cycle;
    run->wall_seconds = SecondsSince(start);
    progress.Update(*run, run->wall_seconds, false);
    if (!run->last.sound()) break;
  }
  run->wall_seconds = SecondsSince(start);
  progress.Update(*run, run->wall_seconds, true);
  return Status();
}

std::string Cycles(int n) { return fmt::format("{} cycle{}", n, n == 1 ? "" : "s"); }

std::string Ids(const std::vector<std::int64_t>& ids, std::uint64_t total) {
  std::vector<std::string> text;
  for (std::int64_t id : ids) {
    text.push_back(fmt::format("{}:{}", torture::WriterOf(id), torture::SeqOf(id)));
  }
  std::string out = fmt::format("{}", fmt::join(text, ", "));
  if (total > ids.size()) out += ", ...";
  return out;
}

nlohmann::json IdsJson(const std::vector<std::int64_t>& ids) {
  nlohmann::json out = nlohmann::json::array();
  for (std::int64_t id : ids) {
    out.push_back({{"writer", torture::WriterOf(id)}, {"seq", torture::SeqOf(id)}});
  }
  return out;
}

std::string Directory(const std::string& db_path) {
  return std::filesystem::path(db_path).parent_path().string();
}

int ExitCode(const Run& run) { return run.unsafe() ? kExitUnsafe : 0; }

int PrintJsonReport(const TortureOptions& options, const Run& run) {
  const CheckResult& c = run.last;
  nlohmann::json doc = {
      {"ok", !run.unsafe()},
      {"verdict", run.Verdict()},
      {"exit_code", ExitCode(run)},
      {"database", AbsolutePath(run.paths[0])},
      {"two_mounts", nullptr},
      {"journal_mode", run.journal_mode},
      {"processes", options.processes},
      {"seed", run.seed},
      {"cycles_requested", run.cycles_asked > 0 ? nlohmann::json(run.cycles_asked) : nullptr},
      {"seconds_requested", run.cycles_asked > 0 ? nullptr : nlohmann::json(run.seconds_asked)},
      {"cycles", run.cycles},
      {"kills", run.kills},
      {"acknowledged", c.acknowledged},
      {"rows", c.rows},
      {"lost", c.lost},
      {"gaps", c.gaps},
      {"duplicates", c.duplicates},
      {"corrupt", run.cycles > 0 && !c.integrity_ok() ? 1 : 0},
      {"integrity_check", c.integrity},
      {"unacknowledged_present", c.unacknowledged},
      {"lost_ids", IdsJson(c.lost_ids)},
      {"gap_ids", IdsJson(c.gap_ids)},
      {"duplicate_ids", IdsJson(c.duplicate_ids)},
      {"failed_cycle", run.unsafe() ? nlohmann::json(run.cycles) : nullptr},
      {"refused", run.refused},
      {"refusal", run.refusal ? StatusToJson(*run.refusal) : nlohmann::json(nullptr)},
      {"write_errors", run.write_errors},
      {"first_write_error",
       run.write_error ? StatusToJson(*run.write_error) : nlohmann::json(nullptr)},
      {"seconds", run.wall_seconds},
      {"files_kept", !run.kept.empty()},
  };
  if (run.paths.size() == 2) {
    doc["two_mounts"] = {AbsolutePath(Directory(run.paths[0])),
                         AbsolutePath(Directory(run.paths[1]))};
  }
  PrintJson(doc);
  return ExitCode(run);
}

int PrintTextReport(const Run& run) {
  const CheckResult& c = run.last;
  const std::string cycles = Cycles(run.cycles);
  if (run.unsafe()) {
    fmt::print("UNSAFE: after cycle {}, checked through {}:\n", run.cycles,
               Printable(run.paths[static_cast<std::size_t>(run.checked_through)]));
    if (c.lost > 0) {
      fmt::print("  {} of {} acknowledged writes lost (writer:seq {})\n", c.lost, c.acknowledged,
                 Ids(c.lost_ids, c.lost));
    }
    if (c.gaps > 0) {
      fmt::print("  {} writes missing before a later write of the same writer (writer:seq {})\n",
                 c.gaps, Ids(c.gap_ids, c.gaps));
    }
    if (c.duplicates > 0) {
      fmt::print("  {} writes present more than once (writer:seq {})\n", c.duplicates,
                 Ids(c.duplicate_ids, c.duplicates));
    }
    if (!c.integrity_ok()) {
      fmt::print("  integrity_check: {}\n",
                 Printable(fmt::format("{}", fmt::join(c.integrity, "; "))));
    }
    fmt::print(
        "The files are kept for inspection in {}. Run again with --seed {} to replay the "
        "kill schedule.\n",
        Printable(Directory(run.paths[0])), run.seed);
    return ExitCode(run);
  }
  const std::string checked = fmt::format(
      "{} acknowledged writes checked after every cycle: 0 lost, 0 duplicated, integrity_check ok",
      c.acknowledged);
  if (run.refused > 0) {
    fmt::print(
        "REFUSED (nothing lost): {} and {} are two lock domains: a lock taken through one "
        "is not seen through the other, so sharing the database through both would "
        "corrupt it or lose writes. sqlsteward refused the second domain {} times in {}, "
        "{} processes killed mid-write; {}.\n",
        Printable(Directory(run.paths[0])), Printable(Directory(run.paths.back())), run.refused,
        cycles, run.kills, checked);
    if (run.refusal) fmt::print("  refusal: {}\n", Printable(run.refusal->message()));
    fmt::print("hint: use the database through one of the two paths only\n");
  } else if (run.paths.size() == 2) {
    fmt::print(
        "SAFE: {} and {} are one lock domain: processes through both shared the database. "
        "{}, {} processes killed mid-write; {}.\n",
        Printable(Directory(run.paths[0])), Printable(Directory(run.paths[1])), cycles, run.kills,
        checked);
  } else {
    fmt::print("SAFE: {}, {} processes killed mid-write; {}.\n", cycles, run.kills, checked);
  }
  if (run.write_errors > 0) {
    fmt::print(
        "note: {} workers stopped on a failed write (not acknowledged, so not lost); "
        "first: {}\n",
        run.write_errors, Printable(run.write_error->ToString()));
  }
  if (!run.kept.empty()) {
    fmt::print("kept (--keep): {}\n", Printable(fmt::format("{}", fmt::join(run.kept, ", "))));
  }
  return ExitCode(run);
}

Result<int> RunTorture(const TortureOptions& options) {
  Run run;
  std::vector<std::string> dirs =
      options.two_mounts.empty() ? std::vector<std::string>{options.dir} : options.two_mounts;
  for (const std::string& dir : dirs) {
    run.paths.push_back((std::filesystem::path(dir) / torture::kDatabaseName).string());
  }
  run.cycles_asked =
      options.seconds > 0 ? 0 : (options.cycles > 0 ? options.cycles : kDefaultCycles);
  run.seconds_asked = options.seconds;
  run.seed = options.seed ? *options.seed
                          : std::random_device()() * 0x100000000ULL + std::random_device()();

  auto fail = [&](Status status) -> Result<int> {
    nlohmann::json fields = {{"verdict", "error"},
                             {"exit_code", kExitError},
                             {"database", AbsolutePath(run.paths[0])},
                             {"seed", run.seed},
                             {"cycles", run.cycles}};
    Result<int> failed = FailWithJson(options.json, std::move(fields), std::move(status));
    PrintError(failed.error());
    return kExitError;
  };

  // Everything the user can get wrong is checked before anything is
  // created.
  for (const std::string& dir : dirs) {
    if (Status s = torture::CheckDirectory(dir); !s.ok()) return fail(std::move(s));
  }
  if (dirs.size() == 2) {
    if (Status s = torture::CheckSameDirectory(dirs[0], dirs[1]); !s.ok())
      return fail(std::move(s));
  }
  auto dir_lock = LockDirectory(dirs[0]);
  if (!dir_lock.has_value()) return fail(std::move(dir_lock).error());
  auto removed = torture::RemovePreviousRun(run.paths[0]);
  if (!removed.has_value()) return fail(std::move(removed).error());
  auto journal_mode = torture::CreateDatabase(run.paths[0]);
  if (!journal_mode.has_value()) return fail(std::move(journal_mode).error());
  run.journal_mode = *journal_mode;

  if (!options.json) {
    const std::string span =
        run.cycles_asked > 0 ? Cycles(run.cycles_asked) : FormatSeconds(run.seconds_asked);
    if (dirs.size() == 2) {
      fmt::print(
          "sqlsteward torture: {} processes, half through {} and half through {} (two paths "
          "to one directory), write to {} (journal mode {}) and are killed with SIGKILL "
          "at random moments, {}; seed {}\n",
          options.processes, Printable(dirs[0]), Printable(dirs[1]), torture::kDatabaseName,
          run.journal_mode, span, run.seed);
    } else {
      fmt::print(
          "sqlsteward torture: {} processes write to {} (journal mode {}) and are killed "
          "with SIGKILL at random moments, {}; seed {}\n",
          options.processes, Printable(AbsolutePath(run.paths[0])), run.journal_mode, span,
          run.seed);
    }
    if (!removed->empty()) {
      fmt::print("removed the previous run's files: {}\n", fmt::join(*removed, ", "));
    }
    std::fflush(stdout);
  }

  if (Status s = RunCycles(options, &run); !s.ok()) {
    return fail(s.WithContext(fmt::format("cycle {}", run.cycles + 1)));
  }

  if (options.keep || run.unsafe()) {
    const std::string& db = run.paths[0];
    for (const std::string& path :
         {db, db + "-wal", db + "-shm", db + "-journal", internal::SidecarPath(db)}) {
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) run.kept.push_back(path);
    }
  } else if (auto cleaned = RemoveDatabaseFiles(run.paths[0]); !cleaned.has_value()) {
    PrintWarning(fmt::format("the test finished, but its files could not be removed: {}",
                             cleaned.error().ToString()));
  }
  if (options.json) return PrintJsonReport(options, run);
  return PrintTextReport(run);
}

}  // namespace

Command RegisterTorture(CLI::App& app) {
  auto options = std::make_shared<TortureOptions>();
  CLI::App* cmd = AddCommand(app, "torture",
                             "Kill writers at random moments and check that no acknowledged "
                             "write is lost: is this mount safe?",
                             kAbout);
  cmd->footer(kExamples);
  CLI::Option* dir = cmd->add_option("DIR", options->dir,
                                     "Directory to test (on the filesystem or mount in question)");
  CLI::Option* two =
      cmd->add_option("--two-mounts", options->two_mounts,
                      "Two paths A B to one directory (two mounts of it): one lock domain or two?")
          ->expected(2)
          ->type_name("A B");
  dir->excludes(two);
  two->excludes(dir);
  // One of them is needed: a usage error (exit >= 100) like the others,
  // not exit 1, which would read as "unsafe".
  cmd->parse_complete_callback([options] {
    if (options->dir.empty() && options->two_mounts.empty()) {
      throw CLI::RequiredError("DIR or --two-mounts A B");
    }
  });
  cmd->add_option("--processes", options->processes, "Worker processes per cycle")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  CLI::Option* cycles =
      cmd->add_option("--cycles", options->cycles, "Kill cycles to run (default 100)")
          ->check(CLI::Range(1, 10'000'000));
  CLI::Option* secs =
      cmd->add_option("--seconds", options->seconds, "Run cycles for this long instead of --cycles")
          ->check(SecondsFlag(ZeroSeconds::kRefused));
  cycles->excludes(secs);
  secs->excludes(cycles);
  cmd->add_option("--seed", options->seed, "Seed of the kill schedule (printed; to replay a run)");
  cmd->add_flag("--json", options->json, "Print the report as one JSON object");
  cmd->add_flag("--keep", options->keep, "Keep the database for inspection");
  return {cmd, [options] { return RunTorture(*options); }};
}

}  // namespace sqlsteward::cli
