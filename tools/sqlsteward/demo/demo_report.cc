#include "demo/demo_report.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include "common/cli.h"
#include "demo/demo_protocol.h"

namespace sqlsteward::cli::demo {
namespace {

std::string FormatMicros(std::uint64_t us) {
  if (us < 1000) return fmt::format("{} µs", us);
  if (us < 1'000'000) return fmt::format("{:.1f} ms", static_cast<double>(us) / 1e3);
  return fmt::format("{:.2f} s", static_cast<double>(us) / 1e6);
}

double Rate(const RunSetup& setup, const Tally& tally) {
  return setup.wall_seconds > 0 ? static_cast<double>(tally.acked) / setup.wall_seconds : 0.0;
}

double MeanBatch(const Tally& tally) {
  return tally.batches > 0 ? static_cast<double>(tally.jobs) / static_cast<double>(tally.batches)
                           : 0.0;
}

// Adds one finished worker's "done" report to the tally.
void AddDone(const Worker& w, Tally* tally, std::vector<std::string>* failures) {
  const nlohmann::json& d = *w.done;
  tally->busy_like += d.value("busy_like", std::uint64_t{0});
  tally->batches += d.value("write_batches", std::uint64_t{0});
  tally->jobs += d.value("write_jobs", std::uint64_t{0});
  for (const auto& [code, count] : d.at("errors").items()) {
    tally->errors[code] += count.get<std::uint64_t>();
  }
  for (const auto& [code, message] : d.at("first_error").items()) {
    tally->first_error.try_emplace(code, message.get<std::string>());
  }
  if (d.contains("write_latency_us")) MergeHistogram(d["write_latency_us"], &tally->latency);
  if (d.contains("close_error")) {
    failures->push_back(fmt::format("worker {}: Close() failed: {}", w.pid(),
                                    StatusFromJson(d["close_error"]).ToString()));
  }
}

// Per process: each worker's acknowledged writes carry its pid.
void VerifyWorkers(const DbFacts& facts, const std::vector<Worker>& workers, Verdict* verdict,
                   std::vector<std::string>* failures) {
  for (const Worker& w : workers) {
    auto it = facts.rows_by_pid.find(w.pid());
    const std::int64_t present = it == facts.rows_by_pid.end() ? 0 : it->second;
    const bool match = w.done && static_cast<std::uint64_t>(present) == w.acked;
    if (match) ++verdict->workers_matching;
    if (w.done && !match) {
      failures->push_back(fmt::format("worker {}: {} writes acknowledged, {} rows with its pid",
                                      w.pid(), w.acked, present));
    }
    nlohmann::json entry = {{"pid", w.pid()},
                            {"acknowledged", w.acked},
                            {"rows", present},
                            {"finished", w.done.has_value()},
                            {"exit", w.exit.ToString()}};
    if (w.done) {
      entry["errors"] = (*w.done)["errors"];
      entry["write_batches"] = (*w.done).value("write_batches", std::uint64_t{0});
      entry["write_jobs"] = (*w.done).value("write_jobs", std::uint64_t{0});
    }
    verdict->per_worker.push_back(std::move(entry));
  }
}

}  // namespace

Tally SumWorkers(const std::vector<Worker>& workers, std::vector<std::string>* failures) {
  Tally tally;
  for (const Worker& w : workers) {
    tally.acked += w.acked;
    tally.all_finished = tally.all_finished && w.done.has_value();
    if (!w.protocol_error.empty()) failures->push_back(w.protocol_error);
    if (!w.done) {
      failures->push_back(fmt::format("worker {} did not finish ({}); its last report said {} "
                                      "writes acknowledged",
                                      w.pid(), w.exit.ToString(), w.acked));
      continue;
    }
    if (!w.exit.ok()) {
      failures->push_back(
          fmt::format("worker {} reported but then {}", w.pid(), w.exit.ToString()));
    }
    AddDone(w, &tally, failures);
  }
  for (const auto& [code, count] : tally.errors) tally.errors_total += count;
  return tally;
}

Verdict Verify(const Tally& tally, const DbFacts& facts, const std::vector<Worker>& workers,
               std::uint64_t expected, std::vector<std::string>* failures) {
  Verdict verdict;
  const auto rows = static_cast<std::uint64_t>(facts.rows);
  const std::uint64_t acked = tally.acked;
  // A worker that did not finish reported its acks only up to its last
  // progress line: rows beyond that count are expected, missing rows never.
  verdict.rows_match = rows == acked || (!tally.all_finished && rows > acked);
  verdict.contiguous = facts.rows == 0 || (facts.min_n == 1 && facts.max_n == facts.rows);
  verdict.integrity_ok = facts.integrity.size() == 1 && facts.integrity[0] == "ok";

  if (rows < acked) {
    failures->push_back(fmt::format("{} acknowledged writes are missing ({} acknowledged, {} rows)",
                                    acked - rows, acked, rows));
  } else if (rows > acked && tally.all_finished) {
    failures->push_back(
        fmt::format("{} rows are present that no caller saw acknowledged", rows - acked));
  }
  if (!verdict.contiguous) {
    failures->push_back(fmt::format("n is not contiguous: {} rows but min(n) = {}, max(n) = {}",
                                    facts.rows, facts.min_n, facts.max_n));
  }
  if (tally.errors_total > 0) {
    failures->push_back(fmt::format("callers saw {} errors ({} busy-like)", tally.errors_total,
                                    tally.busy_like));
  } else if (acked != expected && failures->empty()) {
    failures->push_back(fmt::format("only {} of {} writes were acknowledged", acked, expected));
  }
  if (!verdict.integrity_ok) {
    failures->push_back(fmt::format("integrity_check: {}", fmt::join(facts.integrity, "; ")));
  }
  VerifyWorkers(facts, workers, &verdict, failures);
  return verdict;
}

int PrintJsonReport(const RunSetup& setup, const Tally& tally, const DbFacts& facts,
                    const Verdict& verdict, const std::vector<std::string>& failures) {
  const bool ok = failures.empty();
  nlohmann::json report = {
      {"ok", ok},
      {"database", setup.db_path},
      {"journal_mode", setup.journal_mode},
      {"removed_files", setup.removed},
      {"processes", setup.processes},
      {"threads", setup.threads},
      {"writes_per_thread", setup.writes},
      {"writes_expected", setup.expected},
      {"acknowledged", tally.acked},
      {"rows", facts.rows},
      {"min_n", facts.min_n},
      {"max_n", facts.max_n},
      {"contiguous", verdict.contiguous},
      {"errors", tally.errors},
      {"errors_total", tally.errors_total},
      {"busy_like_errors", tally.busy_like},
      {"first_error", tally.first_error},
      {"integrity_check", facts.integrity},
      {"wall_seconds", setup.wall_seconds},
      {"writes_per_second", Rate(setup, tally)},
      {"group_commit",
       {{"batches", tally.batches},
        {"jobs", tally.jobs},
        {"mean_jobs_per_batch", MeanBatch(tally)}}},
      {"write_latency_us",
       {{"p50", tally.latency.Quantile(0.5)},
        {"p99", tally.latency.Quantile(0.99)},
        {"max", tally.latency.max}}},
      {"workers", verdict.per_worker},
      {"failures", failures},
  };
  PrintJson(report);
  return ok ? 0 : 1;
}

int PrintTextReport(const RunSetup& setup, const Tally& tally, const DbFacts& facts,
                    const Verdict& verdict, const std::vector<std::string>& failures) {
  const std::uint64_t acked = tally.acked;
  const auto rows = static_cast<std::uint64_t>(facts.rows);
  const std::size_t workers = verdict.per_worker.size();
  auto mark = [](bool good) { return good ? "ok" : "FAILED"; };
  fmt::print("\nverification (read back through a new handle)\n");
  fmt::print("  writes acknowledged     {} of {}\n", acked, setup.expected);
  fmt::print("  rows present            {:<34}{}\n",
             rows > acked && !tally.all_finished
                 ? fmt::format("{} (a worker did not finish)", rows)
                 : std::to_string(rows),
             mark(verdict.rows_match));
  fmt::print("  n contiguous            {:<34}{}\n",
             facts.rows == 0 ? std::string("(no rows)")
                             : fmt::format("{}..{}, max(n) = count", facts.min_n, facts.max_n),
             mark(verdict.contiguous));
  fmt::print("  per process             {:<34}{}\n",
             fmt::format("{} of {} match their acks", verdict.workers_matching, workers),
             mark(verdict.workers_matching == workers));
  fmt::print("  errors seen by callers  {:<34}{}\n",
             fmt::format("{} (busy-like: {})", tally.errors_total, tally.busy_like),
             mark(tally.errors_total == 0));
  for (const auto& [code, count] : tally.errors) {
    auto example = tally.first_error.find(code);
    fmt::print("    {:<20} {:>8}  e.g. {}\n", code, count,
               example != tally.first_error.end() ? example->second : "");
  }
  fmt::print("  integrity_check         {:<34}{}\n", fmt::join(facts.integrity, "; "),
             mark(verdict.integrity_ok));
  fmt::print("\nperformance\n");
  fmt::print("  throughput              {:.0f} durable writes/s ({} in {})\n", Rate(setup, tally),
             acked, FormatSeconds(setup.wall_seconds));
  fmt::print("  group commit            {} commits, {:.2f} jobs per commit (mean over {} "
             "process{})\n",
             tally.batches, MeanBatch(tally), setup.processes, setup.processes == 1 ? "" : "es");
  fmt::print("  write latency           p50 ≤ {}, p99 ≤ {}, max {}\n",
             FormatMicros(tally.latency.Quantile(0.5)), FormatMicros(tally.latency.Quantile(0.99)),
             FormatMicros(tally.latency.max));
  fmt::print("\n");
  if (failures.empty()) {
    fmt::print("PASSED: all {} acknowledged writes are present, n has no gaps or duplicates, no "
               "caller saw an error, integrity_check is ok\n",
               acked);
    return 0;
  }
  fmt::print("FAILED: {}\n", fmt::join(failures, "; "));
  return 1;
}

}  // namespace sqlsteward::cli::demo
