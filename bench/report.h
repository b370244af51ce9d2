// Aggregation across repetitions, comparisons against goals, the printed
// table and the JSON document.
//
// Every figure is the median over repetitions with its min-max spread, per
// BENCHMARKS.md. A throughput ratio is median(side) / median(baseline); its
// spread is the range of the per-repetition ratios (each repetition runs the
// two sides back to back on the same filesystem).
#ifndef SQLSTEWARD_BENCH_REPORT_H_
#define SQLSTEWARD_BENCH_REPORT_H_

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"

namespace sqlsteward::bench {

struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
};
Spread SpreadOf(std::vector<double> values);

struct SideResults {
  std::string name;
  std::string description;
  std::vector<RunResult> reps;
};

enum class ComparisonKind {
  kThroughputRatio,  // side ops/s over baseline ops/s
  kMaxLatencyMs,     // side's max latency
  kBusyErrors,       // side's BUSY + BUSY_SNAPSHOT, summed over repetitions
  kFractionOfBound,  // side ops/s over a computed bound (`bound`, ops/s)
};

struct ComparisonSpec {
  std::string label;
  ComparisonKind kind = ComparisonKind::kThroughputRatio;
  std::string side;
  std::string baseline;        // kThroughputRatio only
  std::optional<double> goal;  // none: informational
  bool at_least = true;        // goal is a floor (>=) or a ceiling (<=)
  double bound = 0;            // kFractionOfBound only
};

struct ComparisonResult {
  ComparisonSpec spec;
  double value = 0;
  double min = 0;
  double max = 0;
  std::vector<double> per_rep;
  std::optional<bool> met;  // none when there is no goal
};

struct ScenarioResults {
  std::string id;
  std::string title;
  nlohmann::json parameters = nlohmann::json::object();
  std::vector<SideResults> sides;
  std::vector<ComparisonSpec> comparison_specs;
  std::vector<ComparisonResult> comparisons;  // filled by Evaluate
  std::vector<std::string> notes;

  const SideResults* FindSide(const std::string& name) const;
  // Computes `comparisons` from `comparison_specs`; specs that name a
  // missing side are skipped.
  void Evaluate();
  void Print(std::FILE* out) const;
  nlohmann::json ToJson() const;
};

// "812us", "1.24ms", "35.0ms", "5.01s".
std::string FormatLatencyUs(double us);
// "1,234,567" (>= 100) or "12.3".
std::string FormatRate(double per_s);

}  // namespace sqlsteward::bench

#endif  // SQLSTEWARD_BENCH_REPORT_H_
