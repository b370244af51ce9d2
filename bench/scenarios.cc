#include "scenarios.h"

#include <fmt/format.h>

#include <exception>
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include "baselines.h"
#include "processes.h"
#include "steward.h"

namespace sqlsteward::bench {
namespace {

namespace fs = std::filesystem;

constexpr int kWriterThreads = 16;  // a, b
constexpr int kReaderThreads = 8;   // c
constexpr int kProcesses = 4;       // d
constexpr int kThreadsPerProcess = 4;
constexpr int kAsyncDepth = 64;     // f: WriteAsync() in flight per thread
constexpr int kTinyProcesses = 16;  // g

// A database file and everything SQLite or sqlsteward keeps beside it
// (-wal, -shm, -journal, -steward, ...).
void RemoveDatabaseFiles(const std::string& path) {
  const fs::path p(path);
  const std::string base = p.filename().string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(p.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(base, 0) == 0) fs::remove_all(entry.path(), ec);
  }
}

Samples Threads(int threads, double seconds, const OpFactory& factory,
                std::size_t reserve_per_thread = 1 << 16) {
  LoopOptions options;
  options.threads = threads;
  options.duration = Seconds(seconds);
  options.reserve_per_thread = reserve_per_thread;
  return RunClosedLoop(options, factory);
}

// Runs a closed loop on a freshly opened sqlsteward Database and attaches
// its metrics.
Samples StewardThreads(const std::string& path, int threads, double seconds,
                       const std::function<Op(std::shared_ptr<StewardDb>, int)>& make,
                       std::size_t reserve_per_thread = 1 << 16) {
  auto db = std::make_shared<StewardDb>(path);
  Samples s = Threads(
      threads, seconds, [&](int t) { return make(db, t); }, reserve_per_thread);
  s.extra["sqlsteward"] = db->MetricsJson();
  db->Close();
  return s;
}

ComparisonSpec Ratio(std::string label, std::string side, std::string baseline,
                     std::optional<double> goal) {
  ComparisonSpec c;
  c.label = std::move(label);
  c.kind = ComparisonKind::kThroughputRatio;
  c.side = std::move(side);
  c.baseline = std::move(baseline);
  c.goal = goal;
  return c;
}

ComparisonSpec MaxLatency(std::string side, double goal_ms) {
  ComparisonSpec c;
  c.label = fmt::format("{} max latency (median of reps)", side);
  c.kind = ComparisonKind::kMaxLatencyMs;
  c.side = std::move(side);
  c.goal = goal_ms;
  c.at_least = false;
  return c;
}

ComparisonSpec NoBusy(std::string side) {
  ComparisonSpec c;
  c.label = fmt::format("{} BUSY + BUSY_SNAPSHOT (all reps)", side);
  c.kind = ComparisonKind::kBusyErrors;
  c.side = std::move(side);
  c.goal = 0;
  c.at_least = false;
  return c;
}

// Checks the table a run left; returns a description of what is wrong, or
// an empty string.
std::string VerifyRun(const Side& side, const RunResult& r, std::int64_t prefill,
                      nlohmann::json* verify_json, const std::string& path) {
  const TableCheck t = CheckTable(path);
  const auto ok = static_cast<std::int64_t>(r.ok);
  const auto failed = static_cast<std::int64_t>(r.failed);
  std::int64_t lo = prefill + ok, hi = prefill + ok + failed;
  std::string problem;
  switch (side.verify) {
    case Verify::kInserts:
    case Verify::kSequentialIds:
      if (t.rows < lo || t.rows > hi) {
        problem = fmt::format("table has {} rows, acknowledged writes say {}..{}", t.rows, lo, hi);
      } else if (side.verify == Verify::kSequentialIds && t.max_id != t.rows) {
        problem = fmt::format("ids are not 1..{}: max(id) = {}", t.rows, t.max_id);
      }
      break;
    case Verify::kReadOnly:
      lo = hi = prefill;
      if (t.rows != prefill)
        problem = fmt::format("table has {} rows, prefilled {}", t.rows, prefill);
      for (const char* kind : {"wrong value", "row missing"}) {
        auto it = r.errors.other_kinds.find(kind);
        if (it != r.errors.other_kinds.end()) {
          problem = fmt::format("{} reads returned {}", it->second, kind);
        }
      }
      break;
    case Verify::kBulk:
      lo = hi = ok;
      if (t.rows != ok) problem = fmt::format("table has {} rows, inserted {}", t.rows, ok);
      break;
  }
  *verify_json = nlohmann::json{{"rows", t.rows},
                                {"max_id", t.max_id},
                                {"expected_min", lo},
                                {"expected_max", hi},
                                {"ok", problem.empty()}};
  return problem;
}

}  // namespace

std::vector<Scenario> BuildScenarios(const Config& config) {
  const double secs = config.seconds;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<Scenario> all;

  {
    Scenario a;
    a.id = "a";
    a.title = fmt::format("{} threads x 1-row durable transactions, closed loop", kWriterThreads);
    a.parameters = {{"threads", kWriterThreads}, {"seconds", secs}};
    a.sides.push_back({"raw_own_conn",
                       "own connection per thread, BEGIN IMMEDIATE, busy_timeout 5000, retry BUSY",
                       Verify::kInserts, [secs](const std::string& path) {
                         return Threads(kWriterThreads, secs,
                                        [&](int t) { return MakeOwnConnectionInsert(path, t); });
                       }});
    a.sides.push_back(
        {"raw_mutex_shared", "one connection shared under a std::mutex, BEGIN IMMEDIATE",
         Verify::kInserts, [secs](const std::string& path) {
           auto shared = std::make_shared<SharedConnection>(path);
           return Threads(kWriterThreads, secs,
                          [&](int t) { return MakeSharedConnectionInsert(shared, t); });
         }});
    a.sides.push_back({"sqlsteward", "Database::Write(), one INSERT per job", Verify::kInserts,
                       [secs](const std::string& path) {
                         return StewardThreads(path, kWriterThreads, secs, MakeStewardInsert);
                       }});
    a.sides.push_back({"bulk", "one thread, all rows in one transaction (rows/s, timed as a whole)",
                       Verify::kBulk, [secs](const std::string& path) {
                         return RunBulkInsert(path, Seconds(secs));
                       }});
    a.comparisons.push_back(
        Ratio("sqlsteward / raw_mutex_shared (ops/s)", "sqlsteward", "raw_mutex_shared", 8));
    a.comparisons.push_back(
        Ratio("sqlsteward / bulk single transaction (rows/s)", "sqlsteward", "bulk", 0.25));
    a.comparisons.push_back(MaxLatency("sqlsteward", 10));
    a.comparisons.push_back(
        Ratio("sqlsteward / raw_own_conn (ops/s)", "sqlsteward", "raw_own_conn", std::nullopt));
    a.notes.push_back(
        "the bulk goal (0.25x) applies to the async API with deep queues (BENCHMARKS.md); with "
        "16 closed-loop writers a batch holds at most 16 jobs, so throughput is bounded by about "
        "16 / (t_sync + 16 t_row)");
    all.push_back(std::move(a));
  }

  {
    Scenario b;
    b.id = "b";
    b.title = fmt::format(
        "{} threads x read-then-write closure (SELECT max(id); INSERT max+1) in one transaction",
        kWriterThreads);
    b.parameters = {{"threads", kWriterThreads}, {"seconds", secs}};
    b.sides.push_back(
        {"raw_deferred",
         "own connection per thread, BEGIN DEFERRED, busy_timeout 5000; on BUSY/BUSY_SNAPSHOT "
         "ROLLBACK and retry at once",
         Verify::kSequentialIds, [secs](const std::string& path) {
           return Threads(kWriterThreads, secs,
                          [&](int t) { return MakeOwnConnectionReadThenWrite(path, t); });
         }});
    b.sides.push_back({"sqlsteward", "Database::Write(), SELECT and INSERT in one job",
                       Verify::kSequentialIds, [secs](const std::string& path) {
                         return StewardThreads(path, kWriterThreads, secs,
                                               MakeStewardReadThenWrite);
                       }});
    b.comparisons.push_back(
        Ratio("sqlsteward / raw_deferred (ops/s)", "sqlsteward", "raw_deferred", 50));
    b.comparisons.push_back(NoBusy("sqlsteward"));
    all.push_back(std::move(b));
  }

  {
    Scenario c;
    c.id = "c";
    const std::int64_t rows = config.prefill_rows;
    c.title = fmt::format("{} reader threads, point lookups by primary key over {} rows",
                          kReaderThreads, rows);
    c.parameters = {{"threads", kReaderThreads}, {"seconds", secs}, {"rows", rows}};
    c.prefill_rows = rows;
    const auto reserve = static_cast<std::size_t>(secs * 40'000) + 1024;
    c.sides.push_back(
        {"raw_mutex_shared", "one connection shared under a std::mutex, one cached prepared SELECT",
         Verify::kReadOnly, [secs, rows, reserve](const std::string& path) {
           auto shared = std::make_shared<SharedConnection>(path);
           return Threads(
               kReaderThreads, secs,
               [&](int t) { return MakeSharedConnectionPointLookup(shared, rows, t); }, reserve);
         }});
    c.sides.push_back({"sqlsteward", "Database::Read(), one SELECT per read transaction",
                       Verify::kReadOnly, [secs, rows, reserve](const std::string& path) {
                         return StewardThreads(
                             path, kReaderThreads, secs,
                             [rows](std::shared_ptr<StewardDb> db, int t) {
                               return MakeStewardPointLookup(std::move(db), rows, t);
                             },
                             reserve);
                       }});
    c.comparisons.push_back(
        Ratio("sqlsteward / raw_mutex_shared (ops/s)", "sqlsteward", "raw_mutex_shared", 1.8));
    c.notes.push_back(fmt::format(
        "reads scale with cores: this machine has {} core(s), which bounds {} readers to about "
        "{}x one serialized connection",
        cores, kReaderThreads, std::min<unsigned>(cores, kReaderThreads)));
    all.push_back(std::move(c));
  }

  {
    Scenario d;
    d.id = "d";
    d.title = fmt::format("{} processes x {} threads, 1-row durable transactions, closed loop",
                          kProcesses, kThreadsPerProcess);
    d.parameters = {
        {"processes", kProcesses}, {"threads_per_process", kThreadsPerProcess}, {"seconds", secs}};
    d.sides.push_back({"raw_own_conn",
                       "own connection per thread, BEGIN IMMEDIATE, busy_timeout 5000, retry BUSY",
                       Verify::kInserts, [secs](const std::string& path) {
                         return RunProcesses({"raw", path, kProcesses, kThreadsPerProcess, secs});
                       }});
    d.sides.push_back(
        {"sqlsteward", "one Database per process, Database::Write()", Verify::kInserts,
         [secs](const std::string& path) {
           return RunProcesses({"sqlsteward", path, kProcesses, kThreadsPerProcess, secs});
         }});
    d.comparisons.push_back(
        Ratio("sqlsteward / raw_own_conn (ops/s)", "sqlsteward", "raw_own_conn", 3));
    d.comparisons.push_back(MaxLatency("sqlsteward", 50));
    d.comparisons.push_back(NoBusy("sqlsteward"));
    all.push_back(std::move(d));
  }

  {
    Scenario e;
    e.id = "e";
    e.title = "1 thread, uncontended 1-row durable transactions";
    e.parameters = {{"threads", 1}, {"seconds", secs}};
    e.sides.push_back({"raw_prepared", "cached BEGIN IMMEDIATE / INSERT / COMMIT statements",
                       Verify::kInserts, [secs](const std::string& path) {
                         return Threads(1, secs,
                                        [&](int t) { return MakeOwnConnectionInsert(path, t); });
                       }});
    e.sides.push_back({"sqlsteward", "Database::Write(), one INSERT per job", Verify::kInserts,
                       [secs](const std::string& path) {
                         return StewardThreads(path, 1, secs, MakeStewardInsert);
                       }});
    e.comparisons.push_back(
        Ratio("sqlsteward / raw_prepared (ops/s)", "sqlsteward", "raw_prepared", 0.95));
    all.push_back(std::move(e));
  }

  {
    Scenario f;
    f.id = "f";
    f.title = fmt::format(
        "{} threads x {} WriteAsync() in flight each, durable, against one bulk transaction",
        kWriterThreads, kAsyncDepth);
    f.parameters = {{"threads", kWriterThreads}, {"in_flight", kAsyncDepth}, {"seconds", secs}};
    f.sides.push_back({"bulk", "one thread, all rows in one transaction (rows/s, timed as a whole)",
                       Verify::kBulk, [secs](const std::string& path) {
                         return RunBulkInsert(path, Seconds(secs));
                       }});
    f.sides.push_back({"sqlsteward_async",
                       fmt::format("{} threads, each keeping {} WriteAsync() inserts in flight",
                                   kWriterThreads, kAsyncDepth),
                       Verify::kInserts, [secs](const std::string& path) {
                         return RunStewardAsyncDeep(path, kWriterThreads, kAsyncDepth,
                                                    Seconds(secs));
                       }});
    f.comparisons.push_back(Ratio("sqlsteward_async / bulk single transaction (rows/s)",
                                  "sqlsteward_async", "bulk", 0.25));
    f.notes.push_back(
        "batches may grow past the thread count here (up to Options::max_batch_jobs, 512, or "
        "max_batch_duration, 5 ms); each batch is one durable commit, so the rate is bounded by "
        "about jobs_per_batch / (t_sync + jobs_per_batch t_row)");
    all.push_back(std::move(f));
  }

  {
    Scenario g;
    g.id = "g";
    g.title = fmt::format("{} processes x 1 thread, 1-row durable transactions, closed loop",
                          kTinyProcesses);
    g.parameters = {{"processes", kTinyProcesses}, {"threads_per_process", 1}, {"seconds", secs}};
    g.sides.push_back({"raw_own_conn",
                       "own connection per process, BEGIN IMMEDIATE, busy_timeout 5000, retry BUSY",
                       Verify::kInserts, [secs](const std::string& path) {
                         return RunProcesses({"raw", path, kTinyProcesses, 1, secs});
                       }});
    g.sides.push_back(
        {"sqlsteward", "one Database per process, Database::Write()", Verify::kInserts,
         [secs](const std::string& path) {
           return RunProcesses({"sqlsteward", path, kTinyProcesses, 1, secs});
         }});
    g.comparisons.push_back(
        Ratio("sqlsteward / raw_own_conn (ops/s)", "sqlsteward", "raw_own_conn", std::nullopt));
    g.comparisons.push_back(MaxLatency("sqlsteward", 50));
    g.comparisons.push_back(NoBusy("sqlsteward"));
    g.notes.push_back(
        "every batch holds one job (one thread per process), so every commit is a hand-off "
        "between processes: this measures the hand-off, not group commit");
    all.push_back(std::move(g));
  }
  return all;
}

ScenarioResults RunScenario(const Scenario& scenario, const Config& config, bool* problems) {
  ScenarioResults results;
  results.id = scenario.id;
  results.title = scenario.title;
  results.parameters = scenario.parameters;
  results.comparison_specs = scenario.comparisons;
  results.notes = scenario.notes;
  for (const Side& side : scenario.sides) {
    results.sides.push_back({side.name, side.description, {}});
  }
  for (int rep = 1; rep <= config.reps; ++rep) {
    for (std::size_t i = 0; i < scenario.sides.size(); ++i) {
      const Side& side = scenario.sides[i];
      const std::string path =
          (fs::path(config.dir) / fmt::format("{}-r{}-{}.db", scenario.id, rep, side.name))
              .string();
      const std::string tag =
          fmt::format("[{} {}/{}] {}", scenario.id, rep, config.reps, side.name);
      try {
        RemoveDatabaseFiles(path);
        CreateDatabase(path, scenario.prefill_rows);
        RunResult r = Summarize(side.run(path));
        nlohmann::json verify;
        std::string problem = VerifyRun(side, r, scenario.prefill_rows, &verify, path);
        if (problem.empty() && r.ok == 0) problem = "no operation completed";
        r.extra["verify"] = verify;
        fmt::print(stderr, "{:<32} {:>12} ops/s  p99 {:>8}  max {:>8}  errors {}\n", tag,
                   FormatRate(r.ops_per_s), r.has_latency ? FormatLatencyUs(r.latency.p99_us) : "-",
                   r.has_latency ? FormatLatencyUs(r.latency.max_us) : "-", r.errors.total());
        if (!problem.empty()) {
          *problems = true;
          fmt::print(stderr, "{}: VERIFY FAILED: {}\n", tag, problem);
          results.notes.push_back(
              fmt::format("VERIFY FAILED rep {} {}: {}", rep, side.name, problem));
        }
        results.sides[i].reps.push_back(std::move(r));
      } catch (const std::exception& e) {
        *problems = true;
        fmt::print(stderr, "{}: RUN FAILED: {}\n", tag, e.what());
        results.notes.push_back(fmt::format("RUN FAILED rep {} {}: {}", rep, side.name, e.what()));
      }
      if (!config.keep_files) RemoveDatabaseFiles(path);
    }
  }
  results.Evaluate();
  return results;
}

void AddClosedLoopBound(ScenarioResults* a, double t_sync_us) {
  const SideResults* bulk = a->FindSide("bulk");
  if (bulk == nullptr || bulk->reps.empty() || t_sync_us <= 0) {
    a->notes.push_back("closed-loop bound not computed: it needs the bulk side and a sync probe");
    return;
  }
  std::vector<double> bulk_rates;
  for (const RunResult& r : bulk->reps) bulk_rates.push_back(r.ops_per_s);
  const double t_row_us = 1e6 / SpreadOf(bulk_rates).median;
  const double n = kWriterThreads;
  const double bound = n / ((t_sync_us + n * t_row_us) / 1e6);
  ComparisonSpec c;
  c.label = "sqlsteward / closed-loop bound (ops/s)";
  c.kind = ComparisonKind::kFractionOfBound;
  c.side = "sqlsteward";
  c.bound = bound;
  a->comparison_specs.push_back(c);
  a->notes.push_back(fmt::format(
      "closed-loop bound {} ops/s = {} / (t_sync {:.0f}us [fdatasync p50, busy CPUs] + {} x "
      "t_row {:.2f}us [1 / bulk rate])",
      FormatRate(bound), kWriterThreads, t_sync_us, kWriterThreads, t_row_us));
  a->Evaluate();
}

}  // namespace sqlsteward::bench
