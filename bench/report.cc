#include "report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

namespace sqlsteward::bench {

using nlohmann::json;

namespace {

// The figures that get a median/min/max per side.
struct Figure {
  const char* name;
  double (*get)(const RunResult&);
  bool latency;  // only for runs with latency samples
};

const Figure kFigures[] = {
    {"ops_per_s", [](const RunResult& r) { return r.ops_per_s; }, false},
    {"p50_us", [](const RunResult& r) { return r.latency.p50_us; }, true},
    {"p99_us", [](const RunResult& r) { return r.latency.p99_us; }, true},
    {"p99_9_us", [](const RunResult& r) { return r.latency.p999_us; }, true},
    {"max_us", [](const RunResult& r) { return r.latency.max_us; }, true},
};

std::vector<double> Collect(const SideResults& side, double (*get)(const RunResult&)) {
  std::vector<double> v;
  for (const RunResult& r : side.reps) v.push_back(get(r));
  return v;
}

bool HasLatency(const SideResults& side) {
  return std::all_of(side.reps.begin(), side.reps.end(),
                     [](const RunResult& r) { return r.has_latency; });
}

// The sqlsteward metrics a run carries, if any.
const json* StewardMetrics(const RunResult& r) {
  auto it = r.extra.find("sqlsteward");
  return it == r.extra.end() ? nullptr : &*it;
}

double Ratio(double num, double den) {
  return den > 0 ? num / den : std::numeric_limits<double>::infinity();
}

std::string FormatValue(ComparisonKind kind, double v) {
  switch (kind) {
    case ComparisonKind::kThroughputRatio:
      return fmt::format("{:.2f}x", v);
    case ComparisonKind::kMaxLatencyMs:
      return FormatLatencyUs(v * 1e3);
    case ComparisonKind::kBusyErrors:
      return fmt::format("{:.0f}", v);
    case ComparisonKind::kFractionOfBound:
      return fmt::format("{:.0f}%", v * 100);
  }
  return "?";
}

std::string FormatGoal(const ComparisonSpec& spec) {
  if (!spec.goal) return "-";
  const char* op = spec.at_least ? ">=" : "<=";
  if (spec.kind == ComparisonKind::kBusyErrors && *spec.goal == 0) return "= 0";
  if (spec.kind == ComparisonKind::kThroughputRatio) return fmt::format("{} {:g}x", op, *spec.goal);
  return fmt::format("{} {}", op, FormatValue(spec.kind, *spec.goal));
}

const char* KindName(ComparisonKind kind) {
  switch (kind) {
    case ComparisonKind::kThroughputRatio:
      return "throughput_ratio";
    case ComparisonKind::kMaxLatencyMs:
      return "max_latency_ms";
    case ComparisonKind::kBusyErrors:
      return "busy_errors";
    case ComparisonKind::kFractionOfBound:
      return "fraction_of_bound";
  }
  return "?";
}

// JSON has no infinity; an unbounded ratio (baseline did nothing) is null.
json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

Spread SpreadOf(std::vector<double> values) {
  Spread s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  s.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  s.min = values.front();
  s.max = values.back();
  return s;
}

std::string FormatLatencyUs(double us) {
  if (!std::isfinite(us)) return "-";
  if (us < 1e3) return fmt::format("{:.0f}us", us);
  if (us < 1e4) return fmt::format("{:.2f}ms", us / 1e3);
  if (us < 1e6) return fmt::format("{:.1f}ms", us / 1e3);
  return fmt::format("{:.2f}s", us / 1e6);
}

std::string FormatRate(double per_s) {
  if (!std::isfinite(per_s)) return "inf";
  if (per_s < 100) return fmt::format("{:.1f}", per_s);
  std::string digits = fmt::format("{:.0f}", per_s);
  std::string out;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[i]);
    const std::size_t left = n - 1 - i;
    if (left > 0 && left % 3 == 0) out.push_back(',');
  }
  return out;
}

const SideResults* ScenarioResults::FindSide(const std::string& name) const {
  for (const SideResults& s : sides) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void ScenarioResults::Evaluate() {
  comparisons.clear();
  for (const ComparisonSpec& spec : comparison_specs) {
    const SideResults* side = FindSide(spec.side);
    if (side == nullptr || side->reps.empty()) continue;
    ComparisonResult c;
    c.spec = spec;
    switch (spec.kind) {
      case ComparisonKind::kThroughputRatio: {
        const SideResults* base = FindSide(spec.baseline);
        if (base == nullptr || base->reps.empty()) continue;
        const std::size_t n = std::min(side->reps.size(), base->reps.size());
        for (std::size_t i = 0; i < n; ++i) {
          c.per_rep.push_back(Ratio(side->reps[i].ops_per_s, base->reps[i].ops_per_s));
        }
        c.value = Ratio(SpreadOf(Collect(*side, kFigures[0].get)).median,
                        SpreadOf(Collect(*base, kFigures[0].get)).median);
        break;
      }
      case ComparisonKind::kMaxLatencyMs: {
        for (const RunResult& r : side->reps) c.per_rep.push_back(r.latency.max_us / 1e3);
        c.value = SpreadOf(c.per_rep).median;
        break;
      }
      case ComparisonKind::kBusyErrors: {
        for (const RunResult& r : side->reps) {
          c.per_rep.push_back(static_cast<double>(r.errors.busy + r.errors.busy_snapshot));
          c.value += c.per_rep.back();
        }
        break;
      }
      case ComparisonKind::kFractionOfBound: {
        if (spec.bound <= 0) continue;
        for (const RunResult& r : side->reps) c.per_rep.push_back(r.ops_per_s / spec.bound);
        c.value = SpreadOf(Collect(*side, kFigures[0].get)).median / spec.bound;
        break;
      }
    }
    const Spread spread = SpreadOf(c.per_rep);
    c.min = spread.min;
    c.max = spread.max;
    if (spec.goal) c.met = spec.at_least ? c.value >= *spec.goal : c.value <= *spec.goal;
    comparisons.push_back(std::move(c));
  }
}

void ScenarioResults::Print(std::FILE* out) const {
  fmt::print(out, "\n== {}: {} ==\n", id, title);
  std::size_t reps = 0;
  for (const SideResults& s : sides) reps = std::max(reps, s.reps.size());
  fmt::print(out,
             "   {} rep(s); figures are median [min-max] over reps, errors summed over reps\n\n",
             reps);
  fmt::print(out, "   {:<20} {:>31} {:>9} {:>9} {:>9} {:>25} {:>8} {:>8} {:>6}\n", "side", "ops/s",
             "p50", "p99", "p99.9", "max", "BUSY", "B_SNAP", "other");
  for (const SideResults& s : sides) {
    if (s.reps.empty()) {
      fmt::print(out, "   {:<20} {:>31}\n", s.name, "no completed run");
      continue;
    }
    const Spread ops = SpreadOf(Collect(s, kFigures[0].get));
    const std::string ops_text =
        fmt::format("{} [{}-{}]", FormatRate(ops.median), FormatRate(ops.min), FormatRate(ops.max));
    std::string p50 = "-", p99 = "-", p999 = "-", max = "-";
    if (HasLatency(s)) {
      p50 = FormatLatencyUs(SpreadOf(Collect(s, kFigures[1].get)).median);
      p99 = FormatLatencyUs(SpreadOf(Collect(s, kFigures[2].get)).median);
      p999 = FormatLatencyUs(SpreadOf(Collect(s, kFigures[3].get)).median);
      const Spread m = SpreadOf(Collect(s, kFigures[4].get));
      max = fmt::format("{} [{}-{}]", FormatLatencyUs(m.median), FormatLatencyUs(m.min),
                        FormatLatencyUs(m.max));
    }
    ErrorCounts errors;
    for (const RunResult& r : s.reps) errors.Add(r.errors);
    fmt::print(out, "   {:<20} {:>31} {:>9} {:>9} {:>9} {:>25} {:>8} {:>8} {:>6}\n", s.name,
               ops_text, p50, p99, p999, max, errors.busy, errors.busy_snapshot, errors.other);
  }
  fmt::print(out, "\n");
  for (const SideResults& s : sides) {
    fmt::print(out, "   {:<20} {}\n", s.name, s.description);
    ErrorCounts errors;
    std::uint64_t abandoned = 0, failed = 0;
    for (const RunResult& r : s.reps) {
      errors.Add(r.errors);
      abandoned += r.abandoned;
      failed += r.failed;
    }
    if (abandoned > 0 || failed > 0) {
      fmt::print(out, "   {:<20} ops failed: {}, abandoned at the deadline while retrying: {}\n",
                 "", failed, abandoned);
    }
    for (const auto& [name, n] : errors.other_kinds) {
      fmt::print(out, "   {:<20} other error: {} x{}\n", "", name, n);
    }
    std::set<std::string> journal_modes;
    for (const RunResult& r : s.reps) {
      if (const json* m = StewardMetrics(r); m != nullptr && m->contains("journal_mode")) {
        journal_modes.insert(m->at("journal_mode").get<std::string>());
      }
    }
    if (!journal_modes.empty()) {
      fmt::print(out, "   {:<20} journal_mode: {}\n", "", fmt::join(journal_modes, ", "));
    }
    std::vector<double> per_batch, busy_calls, batch_max, lock_wait_max;
    for (const RunResult& r : s.reps) {
      if (const json* m = StewardMetrics(r)) {
        per_batch.push_back(m->value("mean_jobs_per_batch", 0.0));
        busy_calls.push_back(m->value("sqlite_busy_handler_calls", 0.0));
        if (m->contains("batch_jobs")) batch_max.push_back(m->at("batch_jobs").value("max", 0.0));
        if (m->contains("lock_wait_us")) {
          lock_wait_max.push_back(m->at("lock_wait_us").value("max", 0.0));
        }
      }
    }
    std::vector<double> cpu_per_op, switches_per_op;
    for (const RunResult& r : s.reps) {
      auto it = r.extra.find("process");
      if (it == r.extra.end() || r.ok == 0) continue;
      const double ops = static_cast<double>(r.ok);
      cpu_per_op.push_back(it->value("cpu_s", 0.0) * 1e6 / ops);
      switches_per_op.push_back(
          (it->value("voluntary_switches", 0.0) + it->value("involuntary_switches", 0.0)) / ops);
    }
    if (!cpu_per_op.empty()) {
      fmt::print(out, "   {:<20} cpu {}/op, {:.2f} context switches/op (process-wide, median)\n",
                 "", FormatLatencyUs(SpreadOf(cpu_per_op).median),
                 SpreadOf(switches_per_op).median);
    }
    std::vector<double> fair_ratio, fair_slowest, fair_fastest;
    for (const RunResult& r : s.reps) {
      auto it = r.extra.find("fairness");
      if (it == r.extra.end()) continue;
      fair_ratio.push_back(it->value("slowest_over_fastest", 0.0));
      fair_slowest.push_back(it->value("slowest_process_ops_per_s", 0.0));
      fair_fastest.push_back(it->value("fastest_process_ops_per_s", 0.0));
    }
    if (!fair_ratio.empty()) {
      const Spread fr = SpreadOf(fair_ratio);
      fmt::print(out,
                 "   {:<20} fairness: slowest/fastest process {:.2f} [{:.2f}-{:.2f}] "
                 "({} vs {} ops/s, median)\n",
                 "", fr.median, fr.min, fr.max, FormatRate(SpreadOf(fair_slowest).median),
                 FormatRate(SpreadOf(fair_fastest).median));
    }
    if (!per_batch.empty() && SpreadOf(per_batch).max > 0) {
      const Spread pb = SpreadOf(per_batch);
      fmt::print(out,
                 "   {:<20} metrics: jobs/batch mean {:.1f} [{:.1f}-{:.1f}], largest batch {:.0f}, "
                 "lock wait max {}, busy-handler calls {:.0f}\n",
                 "", pb.median, pb.min, pb.max, SpreadOf(batch_max).max,
                 FormatLatencyUs(SpreadOf(lock_wait_max).max), SpreadOf(busy_calls).max);
    }
  }
  if (!comparisons.empty()) {
    fmt::print(out, "\n   {:<52} {:>9} {:>22} {:>10}  {}\n", "comparison", "value",
               "[per-rep range]", "goal", "result");
    for (const ComparisonResult& c : comparisons) {
      const std::string range =
          fmt::format("[{}-{}]", FormatValue(c.spec.kind, c.min), FormatValue(c.spec.kind, c.max));
      const char* result = !c.met ? "info" : *c.met ? "met" : "MISSED";
      fmt::print(out, "   {:<52} {:>9} {:>22} {:>10}  {}\n", c.spec.label,
                 FormatValue(c.spec.kind, c.value), range, FormatGoal(c.spec), result);
    }
  }
  for (const std::string& note : notes) fmt::print(out, "   note: {}\n", note);
}

json ScenarioResults::ToJson() const {
  json j{{"id", id}, {"title", title}, {"parameters", parameters}};
  json side_json = json::object();
  for (const SideResults& s : sides) {
    json reps_json = json::array();
    for (const RunResult& r : s.reps) reps_json.push_back(r.ToJson());
    json median = json::object(), min = json::object(), max = json::object();
    const bool latency = HasLatency(s);
    for (const Figure& f : kFigures) {
      if (s.reps.empty() || (f.latency && !latency)) continue;
      const Spread sp = SpreadOf(Collect(s, f.get));
      median[f.name] = sp.median;
      min[f.name] = sp.min;
      max[f.name] = sp.max;
    }
    ErrorCounts errors;
    for (const RunResult& r : s.reps) errors.Add(r.errors);
    side_json[s.name] = json{{"description", s.description}, {"reps", std::move(reps_json)},
                             {"median", std::move(median)},  {"min", std::move(min)},
                             {"max", std::move(max)},        {"errors_total", errors.ToJson()}};
  }
  j["sides"] = std::move(side_json);
  json comparisons_json = json::array();
  for (const ComparisonResult& c : comparisons) {
    json cj{{"label", c.spec.label},
            {"kind", KindName(c.spec.kind)},
            {"side", c.spec.side},
            {"value", Number(c.value)},
            {"min", Number(c.min)},
            {"max", Number(c.max)},
            {"goal", c.spec.goal ? json(*c.spec.goal) : json(nullptr)},
            {"goal_op", c.spec.goal ? json(c.spec.at_least ? ">=" : "<=") : json(nullptr)},
            {"met", c.met ? json(*c.met) : json(nullptr)}};
    json per_rep = json::array();
    for (double v : c.per_rep) per_rep.push_back(Number(v));
    cj["per_rep"] = std::move(per_rep);
    if (c.spec.kind == ComparisonKind::kThroughputRatio ||
        c.spec.kind == ComparisonKind::kFractionOfBound) {
      cj["ratio"] = Number(c.value);
    }
    if (c.spec.kind == ComparisonKind::kThroughputRatio) cj["baseline"] = c.spec.baseline;
    if (c.spec.kind == ComparisonKind::kFractionOfBound) cj["bound_ops_per_s"] = c.spec.bound;
    comparisons_json.push_back(std::move(cj));
  }
  j["comparisons"] = std::move(comparisons_json);
  j["notes"] = notes;
  return j;
}

}  // namespace sqlsteward::bench
