// sqlsteward_bench: the core benchmark. Runs scenarios a..e (BENCHMARKS.md)
// with each baseline and sqlsteward interleaved on the same filesystem,
// prints a table of medians, spreads and ratios against the goals, and
// writes the same figures as JSON.
//
//   sqlsteward_bench                      # all scenarios, 3 reps x 3 s
//   sqlsteward_bench --scenario a,e --reps 5 --json out.json
//   sqlsteward_bench --smoke --json smoke.json   # CI: harness check only
//
// Exit status: 0 when every run completed and verified (goals missed or met
// do not matter); 1 on bad arguments or setup errors; 2 when a run failed or
// the table after a run does not match the acknowledged writes.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "baselines.h"
#include "processes.h"
#include "report.h"
#include "scenarios.h"
#include "steward.h"

namespace sqlsteward::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// "20250101-120000" (file names) or ISO 8601 (JSON), UTC.
std::string UtcTimestamp(bool iso) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  if (iso) {
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  } else {
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  }
  return buf;
}

std::string FilesystemName(const std::string& dir) {
  struct statfs st {};
  if (statfs(dir.c_str(), &st) != 0) return "unknown";
  const auto magic = static_cast<unsigned long>(st.f_type);
  switch (magic) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794c7630:
      return "overlayfs";
    case 0x2fc12fc1:
      return "zfs";
    case 0x6969:
      return "nfs";
    case 0x65735546:
      return "fuse";
    default:
      return fmt::format("{:#x}", magic);
  }
}

// fdatasync latency of a 4 KiB overwrite in `dir`, for `seconds`: the cost
// of one durable commit on this filesystem right now (the disk is shared, so
// it is taken before and after the scenarios). With `busy_cpus`, a spinning
// thread per core keeps every CPU from idling meanwhile: on a VM an idle
// vCPU can take a timer tick to notice the I/O completion, which makes an
// isolated fdatasync far slower than one issued while the machine is busy.
json ProbeSync(const std::string& dir, double seconds, bool busy_cpus) {
  const std::string path = (fs::path(dir) / "sync-probe.tmp").string();
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return json{{"error", "cannot create probe file"}};
  std::atomic<bool> stop{false};
  std::vector<std::thread> spinners;
  if (busy_cpus) {
    for (unsigned i = 0; i < std::max(1u, std::thread::hardware_concurrency()); ++i) {
      spinners.emplace_back([&stop] {
        while (!stop.load(std::memory_order_relaxed)) {
        }
      });
    }
  }
  std::vector<char> page(4096, 'x');
  std::vector<std::int64_t> ns;
  const Clock::time_point end = Clock::now() + Seconds(seconds);
  for (int i = 0; Clock::now() < end && i < 100'000; ++i) {
    const Clock::time_point t0 = Clock::now();
    if (pwrite(fd, page.data(), page.size(), static_cast<off_t>(i % 16) * 4096) < 0) break;
    if (fdatasync(fd) != 0) break;
    ns.push_back((Clock::now() - t0).count());
  }
  stop = true;
  for (auto& t : spinners) t.join();
  close(fd);
  unlink(path.c_str());
  const LatencyStats st = ComputeLatency(ns);
  return json{
      {"samples", st.samples}, {"p50_us", st.p50_us}, {"p99_us", st.p99_us}, {"max_us", st.max_us}};
}

json ProbeSyncBoth(const std::string& dir, double seconds) {
  return json{{"idle_cpus", ProbeSync(dir, seconds, false)},
              {"busy_cpus", ProbeSync(dir, seconds, true)}};
}

double SyncP50(const json& probe, const char* which) {
  const json& p = probe.at(which);
  return p.contains("p50_us") ? p["p50_us"].get<double>() : 0;
}

std::string SyncLine(const json& probe) {
  if (!probe.contains("p50_us")) return "unavailable";
  return fmt::format(
      "p50 {}, p99 {}, max {} ({} syncs)", FormatLatencyUs(probe["p50_us"].get<double>()),
      FormatLatencyUs(probe["p99_us"].get<double>()),
      FormatLatencyUs(probe["max_us"].get<double>()), probe["samples"].get<std::uint64_t>());
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return fmt::format("{} {} {}", one, five, fifteen);
}

json Environment(const std::string& dir) {
  utsname u{};
  uname(&u);
  return json{{"sqlite_version", SqliteVersion()},
              {"sqlsteward_version", StewardVersion()},
              {"cpu_cores", std::thread::hardware_concurrency()},
              {"kernel", fmt::format("{} {}", u.sysname, u.release)},
              {"machine", u.machine},
              {"dir_filesystem", FilesystemName(dir)}};
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The regression guard (--guard): what a gross regression of the write path
// would break, as ratios and counts, never absolute times. Returns what
// failed; empty when the run passes.
std::vector<std::string> GuardFailures(const std::vector<ScenarioResults>& results) {
  std::vector<std::string> failures;
  auto first_rep = [&](const std::string& id, const std::string& side) -> const RunResult* {
    for (const ScenarioResults& r : results) {
      if (r.id != id) continue;
      const SideResults* s = r.FindSide(side);
      if (s != nullptr && !s->reps.empty()) return &s->reps.front();
    }
    failures.push_back(fmt::format("scenario {} side {} did not run", id, side));
    return nullptr;
  };
  auto batch_mean = [](const RunResult& r) {
    auto it = r.extra.find("sqlsteward");
    return it == r.extra.end() ? 0.0 : it->value("mean_jobs_per_batch", 0.0);
  };
  if (const RunResult* a = first_rep("a", "sqlsteward")) {
    if (batch_mean(*a) < 4) {
      failures.push_back(fmt::format(
          "a: group commit collapsed: {:.1f} jobs per batch with 16 writers (expected >= 4)",
          batch_mean(*a)));
    }
  }
  const RunResult* raw = first_rep("d", "raw_own_conn");
  const RunResult* ours = first_rep("d", "sqlsteward");
  if (raw != nullptr && ours != nullptr) {
    const double ratio = raw->ops_per_s > 0 ? ours->ops_per_s / raw->ops_per_s : 0;
    if (ratio < 1.0) {
      failures.push_back(fmt::format(
          "d: 4 processes x 4 threads: sqlsteward is {:.2f}x own connections (expected >= 1x)",
          ratio));
    }
    if (ours->errors.busy + ours->errors.busy_snapshot > 0) {
      failures.push_back(fmt::format("d: sqlsteward saw {} BUSY errors (expected 0)",
                                     ours->errors.busy + ours->errors.busy_snapshot));
    }
    if (batch_mean(*ours) < 2) {
      failures.push_back(fmt::format(
          "d: {:.1f} jobs per batch with 4 threads per process (expected >= 2)", batch_mean(*ours)));
    }
    auto fair = ours->extra.find("fairness");
    const double spread = fair == ours->extra.end() ? 0 : fair->value("slowest_over_fastest", 0.0);
    if (spread < 0.25) {
      failures.push_back(fmt::format(
          "d: the slowest process wrote {:.2f}x as fast as the fastest (expected >= 0.25: the "
          "turn queue should serve processes in turn)",
          spread));
    }
  }
  return failures;
}

int Main(int argc, char** argv) {
  CLI::App app{"sqlsteward benchmarks: throughput and latency against raw-SQLite baselines"};
  Config config;
  std::string json_path;
  std::string scenario_list = "a,b,c,d,e,f,g";
  app.add_option("--scenario", scenario_list, "Comma-separated scenarios to run (a,b,c,d,e,f,g)")
      ->capture_default_str();
  app.add_option("--reps", config.reps, "Repetitions per side (median and spread over these)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--seconds", config.seconds, "Duration of each run")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--dir", config.dir,
                 "Directory for the database files (default: a fresh directory under "
                 "./data/bench)");
  app.add_option("--json", json_path, "Write the results as JSON to this file");
  app.add_option("--rows", config.prefill_rows, "Rows prefilled for the read scenario (c)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100'000'000}));
  std::string side_list;
  app.add_option("--sides", side_list,
                 "Run only these sides, comma-separated (e.g. sqlsteward), for profiling; "
                 "comparisons that need a missing side are skipped");
  app.add_flag("--keep", config.keep_files, "Keep each run's database files");
  app.add_flag("--smoke", config.smoke,
               "CI smoke run: 1 rep of 0.3 s per side, checks the harness, not speed");
  bool guard = false;
  app.add_flag("--guard", guard,
               "CI regression guard: scenarios a and d, 1 rep of 1 s; exit 3 when group commit, "
               "the cross-process ratio, BUSY or fairness regress grossly (twice in a row)");

  // Hidden: one process of scenario d (see processes.h).
  CLI::App* worker = app.add_subcommand(kWorkerCommand, "internal worker process")->group("");
  std::string worker_side, worker_db;
  int worker_threads = 4;
  double worker_seconds = 3;
  worker->add_option("--side", worker_side)->required();
  worker->add_option("--db", worker_db)->required();
  worker->add_option("--threads", worker_threads)->required();
  worker->add_option("--seconds", worker_seconds)->required();

  CLI11_PARSE(app, argc, argv);
  if (*worker) return WorkerMain(worker_side, worker_db, worker_threads, worker_seconds);

  if (guard) {
    config.reps = 1;
    config.seconds = 1;
    scenario_list = "a,d";
    side_list = "sqlsteward,raw_own_conn";
  }
  if (config.smoke) {
    config.reps = 1;
    config.seconds = 0.3;
    config.prefill_rows = std::min<std::int64_t>(config.prefill_rows, 10'000);
  }
  const std::set<std::string> wanted = [&] {
    const std::vector<std::string> list = SplitList(scenario_list);
    return std::set<std::string>(list.begin(), list.end());
  }();
  std::vector<Scenario> scenarios;
  const std::vector<std::string> sides_wanted = SplitList(side_list);
  for (Scenario& s : BuildScenarios(config)) {
    if (wanted.count(s.id) == 0) continue;
    if (!sides_wanted.empty()) {
      std::erase_if(s.sides, [&](const Side& side) {
        return std::find(sides_wanted.begin(), sides_wanted.end(), side.name) == sides_wanted.end();
      });
    }
    scenarios.push_back(std::move(s));
  }
  for (const std::string& id : wanted) {
    if (id.size() != 1 || id[0] < 'a' || id[0] > 'g') {
      fmt::print(stderr, "unknown scenario '{}' (expected a list of a,b,c,d,e,f,g)\n", id);
      return 1;
    }
  }

  const bool fresh_dir = config.dir.empty();
  if (fresh_dir) {
    config.dir =
        (fs::path("data") / "bench" / fmt::format("run-{}-{}", UtcTimestamp(false), getpid()))
            .string();
  }
  std::error_code ec;
  fs::create_directories(config.dir, ec);
  if (ec) {
    fmt::print(stderr, "cannot create {}: {}\n", config.dir, ec.message());
    return 1;
  }

  const std::string started_at = UtcTimestamp(true);
  fmt::print(stderr, "sqlsteward_bench: {} rep(s) x {} s per side, files in {}\n", config.reps,
             config.seconds, config.dir);

  const double probe_seconds = config.smoke ? 0.1 : 1.0;
  const std::string load_before = LoadAverage();
  const json sync_before = ProbeSyncBoth(config.dir, probe_seconds);
  fmt::print(stderr, "fdatasync before: idle CPUs {}; busy CPUs {}; load average {}\n",
             SyncLine(sync_before["idle_cpus"]), SyncLine(sync_before["busy_cpus"]), load_before);

  bool problems = false;
  std::vector<ScenarioResults> results;
  for (const Scenario& s : scenarios) results.push_back(RunScenario(s, config, &problems));
  std::vector<std::string> guard_failures;
  if (guard && !problems) {
    guard_failures = GuardFailures(results);
    if (!guard_failures.empty()) {
      // A noisy neighbour can spoil one short run; a regression spoils both.
      fmt::print(stderr, "guard: first run failed ({}); running again\n",
                 fmt::join(guard_failures, "; "));
      results.clear();
      for (const Scenario& s : scenarios) results.push_back(RunScenario(s, config, &problems));
      guard_failures = GuardFailures(results);
    }
  }

  const std::string load_after = LoadAverage();
  const json sync_after = ProbeSyncBoth(config.dir, probe_seconds);

  for (ScenarioResults& r : results) {
    if (r.id == "a") AddClosedLoopBound(&r, SyncP50(sync_before, "busy_cpus"));
  }

  int met = 0, missed = 0;
  for (const ScenarioResults& r : results) {
    r.Print(stdout);
    for (const ComparisonResult& c : r.comparisons) {
      if (c.met) ++(*c.met ? met : missed);
    }
  }
  fmt::print("\nfdatasync of 4 KiB in {}\n", config.dir);
  for (const auto& [when, probe] : {std::pair{"before", &sync_before}, {"after", &sync_after}}) {
    fmt::print("  {:<6} idle CPUs: {}\n", when, SyncLine((*probe)["idle_cpus"]));
    fmt::print("  {:<6} busy CPUs: {}\n", "", SyncLine((*probe)["busy_cpus"]));
  }
  const double idle_us = SyncP50(sync_before, "idle_cpus");
  const double busy_us = SyncP50(sync_before, "busy_cpus");
  if (busy_us > 0 && idle_us > 4 * busy_us) {
    fmt::print(
        "  note: an fdatasync issued while the CPUs idle takes {:.0f}x longer than one issued "
        "while they are busy (on a VM, an idle vCPU notices the I/O completion late). A "
        "baseline that serializes commits leaves the CPUs idle and pays this on every commit; "
        "ratios against such baselines are larger here than on a disk with a steady "
        "fdatasync cost.\n",
        idle_us / busy_us);
  }
  fmt::print("load average: before {}; after {} ({} cores)\n", load_before, load_after,
             std::thread::hardware_concurrency());
  fmt::print("goals: {} met, {} missed{}\n", met, missed,
             config.smoke ? " (smoke run: figures are not meaningful)" : "");

  if (!json_path.empty()) {
    json doc{{"benchmark", "sqlsteward_bench"},
             {"schema_version", 1},
             {"started_at", started_at},
             {"config",
              {{"reps", config.reps},
               {"seconds", config.seconds},
               {"smoke", config.smoke},
               {"dir", config.dir},
               {"rows", config.prefill_rows},
               {"scenarios", wanted},
               {"sides", sides_wanted}}},
             {"environment", Environment(config.dir)}};
    doc["environment"]["fdatasync_before"] = sync_before;
    doc["environment"]["fdatasync_after"] = sync_after;
    doc["environment"]["load_average_before"] = load_before;
    doc["environment"]["load_average_after"] = load_after;
    json scenario_json = json::object();
    for (const ScenarioResults& r : results) scenario_json[r.id] = r.ToJson();
    doc["scenarios"] = std::move(scenario_json);
    doc["summary"] = {{"goals_met", met}, {"goals_missed", missed}, {"problems", problems}};
    {
      std::ofstream out(json_path);
      out << doc.dump(2) << '\n';
      if (!out) {
        fmt::print(stderr, "cannot write {}\n", json_path);
        return 1;
      }
    }
    // The smoke test's contract: the file we wrote parses back.
    std::ifstream in(json_path);
    if (!json::accept(in)) {
      fmt::print(stderr, "{} does not parse back as JSON\n", json_path);
      return 1;
    }
    fmt::print(stderr, "wrote {}\n", json_path);
  }

  if (fresh_dir && !config.keep_files) fs::remove(config.dir, ec);  // only if empty
  if (problems) {
    fmt::print(stderr, "some runs failed or did not verify; see the notes above\n");
    return 2;
  }
  if (!guard_failures.empty()) {
    for (const std::string& f : guard_failures) fmt::print(stderr, "guard: REGRESSION: {}\n", f);
    return 3;
  }
  if (guard) fmt::print(stderr, "guard: passed\n");
  return 0;
}

}  // namespace
}  // namespace sqlsteward::bench

int main(int argc, char** argv) {
  try {
    return sqlsteward::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sqlsteward_bench: {}\n", e.what());
    return 1;
  }
}
