// The core benchmark's scenarios (BENCHMARKS.md): each is a set of sides
// (baselines and sqlsteward) run interleaved, A B A B, on a fresh database
// file per run, and the comparisons that state the goals.
#ifndef SQLSTEWARD_BENCH_SCENARIOS_H_
#define SQLSTEWARD_BENCH_SCENARIOS_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.h"
#include "report.h"

namespace sqlsteward::bench {

struct Config {
  int reps = 3;
  double seconds = 3;
  bool smoke = false;
  std::string dir;
  bool keep_files = false;
  std::int64_t prefill_rows = 100'000;  // scenario c
};

// How a run is checked against the table it leaves behind.
enum class Verify {
  kInserts,        // prefill + ok <= rows <= prefill + ok + failed
  kSequentialIds,  // as kInserts, and ids are 1..rows without gaps
  kReadOnly,       // rows == prefill, every read saw the right value
  kBulk,           // rows == ok
};

struct Side {
  std::string name;
  std::string description;
  Verify verify = Verify::kInserts;
  // Runs once on a database that CreateDatabase just made.
  std::function<Samples(const std::string& path)> run;
};

struct Scenario {
  std::string id;
  std::string title;
  nlohmann::json parameters = nlohmann::json::object();
  std::int64_t prefill_rows = 0;
  std::vector<Side> sides;
  std::vector<ComparisonSpec> comparisons;
  std::vector<std::string> notes;
};

// Scenarios a..e in order.
std::vector<Scenario> BuildScenarios(const Config& config);

// Runs `scenario`: config.reps repetitions, each running every side once in
// order, on a fresh file per run. A run that throws, or whose table does not
// verify, is reported (notes, stderr) and sets *problems.
ScenarioResults RunScenario(const Scenario& scenario, const Config& config, bool* problems);

// Adds to scenario a the comparison with the closed-loop physical bound of
// BENCHMARKS.md, N / (t_sync + N * t_row): t_sync is the fdatasync latency
// measured in this run with busy CPUs (as they are under 16 writers), t_row
// the inverse of a's bulk rate.
void AddClosedLoopBound(ScenarioResults* a, double t_sync_us);

}  // namespace sqlsteward::bench

#endif  // SQLSTEWARD_BENCH_SCENARIOS_H_
