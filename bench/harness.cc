#include "harness.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <latch>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <utility>

namespace sqlsteward::bench {

using nlohmann::json;

void ErrorCounts::Count(ErrorKind kind, std::string_view name) {
  switch (kind) {
    case ErrorKind::kBusy:
      ++busy;
      break;
    case ErrorKind::kBusySnapshot:
      ++busy_snapshot;
      break;
    case ErrorKind::kOther:
      ++other;
      ++other_kinds[std::string(name)];
      break;
  }
}

void ErrorCounts::Add(const ErrorCounts& other_counts) {
  busy += other_counts.busy;
  busy_snapshot += other_counts.busy_snapshot;
  other += other_counts.other;
  for (const auto& [name, n] : other_counts.other_kinds) other_kinds[name] += n;
}

json ErrorCounts::ToJson() const {
  return json{{"busy", busy},
              {"busy_snapshot", busy_snapshot},
              {"other", other},
              {"other_kinds", other_kinds}};
}

ErrorCounts ErrorCounts::FromJson(const json& j) {
  ErrorCounts e;
  e.busy = j.at("busy").get<std::uint64_t>();
  e.busy_snapshot = j.at("busy_snapshot").get<std::uint64_t>();
  e.other = j.at("other").get<std::uint64_t>();
  e.other_kinds = j.at("other_kinds").get<std::map<std::string, std::uint64_t>>();
  return e;
}

void Samples::Add(Recorder&& r) {
  ok += r.ok_;
  failed += r.failed_;
  abandoned += r.abandoned_;
  errors.Add(r.errors_);
  if (latencies_ns.empty()) {
    latencies_ns = std::move(r.latencies_ns_);
  } else {
    latencies_ns.insert(latencies_ns.end(), r.latencies_ns_.begin(), r.latencies_ns_.end());
  }
}

void Samples::MergeConcurrent(Samples&& other_run) {
  ok += other_run.ok;
  failed += other_run.failed;
  abandoned += other_run.abandoned;
  seconds = std::max(seconds, other_run.seconds);
  errors.Add(other_run.errors);
  latencies_ns.insert(latencies_ns.end(), other_run.latencies_ns.begin(),
                      other_run.latencies_ns.end());
}

std::vector<std::uint8_t> Samples::Serialize() const {
  json j{{"ok", ok},           {"failed", failed},          {"abandoned", abandoned},
         {"seconds", seconds}, {"errors", errors.ToJson()}, {"latencies_ns", latencies_ns},
         {"extra", extra}};
  return json::to_cbor(j);
}

Samples Samples::Deserialize(const std::vector<std::uint8_t>& bytes) {
  const json j = json::from_cbor(bytes);
  Samples s;
  s.ok = j.at("ok").get<std::uint64_t>();
  s.failed = j.at("failed").get<std::uint64_t>();
  s.abandoned = j.at("abandoned").get<std::uint64_t>();
  s.seconds = j.at("seconds").get<double>();
  s.errors = ErrorCounts::FromJson(j.at("errors"));
  s.latencies_ns = j.at("latencies_ns").get<std::vector<std::int64_t>>();
  s.extra = j.at("extra");
  return s;
}

LatencyStats ComputeLatency(std::vector<std::int64_t>& ns) {
  LatencyStats st;
  if (ns.empty()) return st;
  std::sort(ns.begin(), ns.end());
  const std::size_t n = ns.size();
  // Nearest rank: the smallest sample with at least q of all samples <= it.
  auto rank = [&](double q) {
    const double r = std::ceil(q * static_cast<double>(n));
    std::size_t i = r < 1 ? 0 : static_cast<std::size_t>(r) - 1;
    return static_cast<double>(ns[std::min(i, n - 1)]) / 1e3;
  };
  long double sum = 0;
  for (std::int64_t v : ns) sum += static_cast<long double>(v);
  st.samples = n;
  st.mean_us = static_cast<double>(sum / static_cast<long double>(n) / 1e3L);
  st.p50_us = rank(0.50);
  st.p99_us = rank(0.99);
  st.p999_us = rank(0.999);
  st.max_us = static_cast<double>(ns.back()) / 1e3;
  return st;
}

json RunResult::ToJson() const {
  json j{{"ok_ops", ok},       {"failed_ops", failed},   {"abandoned_ops", abandoned},
         {"seconds", seconds}, {"ops_per_s", ops_per_s}, {"errors", errors.ToJson()},
         {"extra", extra}};
  if (has_latency) {
    j["latency_us"] =
        json{{"samples", latency.samples}, {"mean", latency.mean_us},  {"p50", latency.p50_us},
             {"p99", latency.p99_us},      {"p99_9", latency.p999_us}, {"max", latency.max_us}};
  } else {
    j["latency_us"] = nullptr;
  }
  return j;
}

RunResult Summarize(Samples samples) {
  RunResult r;
  r.ok = samples.ok;
  r.failed = samples.failed;
  r.abandoned = samples.abandoned;
  r.seconds = samples.seconds;
  r.ops_per_s = samples.seconds > 0 ? static_cast<double>(samples.ok) / samples.seconds : 0;
  r.has_latency = !samples.latencies_ns.empty();
  r.latency = ComputeLatency(samples.latencies_ns);
  r.errors = std::move(samples.errors);
  r.extra = std::move(samples.extra);
  return r;
}

namespace {

struct Usage {
  double cpu_s = 0;
  long voluntary_switches = 0;
  long involuntary_switches = 0;
};

Usage ProcessUsage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return Usage{secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_nvcsw, ru.ru_nivcsw};
}

}  // namespace

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

Samples RunClosedLoop(const LoopOptions& options, const OpFactory& factory) {
  const int n = options.threads;
  std::vector<Recorder> recorders(static_cast<std::size_t>(n));
  std::latch ready(n);
  std::latch go(1);
  std::atomic<Clock::rep> deadline_rep{0};
  std::mutex error_mu;
  std::string first_error;
  std::vector<Clock::rep> end_reps(static_cast<std::size_t>(n), 0);

  auto worker = [&](int index) {
    Recorder& rec = recorders[static_cast<std::size_t>(index)];
    rec.Reserve(options.reserve_per_thread);
    Op op;
    try {
      op = factory(index);
    } catch (const std::exception& e) {
      std::lock_guard lock(error_mu);
      if (first_error.empty()) first_error = e.what();
    }
    ready.count_down();
    go.wait();
    if (!op) return;
    const Clock::time_point deadline{Clock::duration{deadline_rep.load()}};
    while (Clock::now() < deadline) {
      const Clock::time_point t0 = Clock::now();
      for (;;) {
        const Outcome outcome = op(rec);
        const Clock::time_point t1 = Clock::now();
        if (outcome == Outcome::kOk) {
          rec.RecordOk(t1 - t0);
          break;
        }
        if (outcome == Outcome::kFailed) {
          rec.RecordFailed(t1 - t0);
          break;
        }
        if (t1 >= deadline) {
          rec.RecordAbandoned(t1 - t0);
          break;
        }
      }
    }
    // The clock stops when the last thread leaves its loop; tearing down the
    // operation (closing a connection may checkpoint) is not timed.
    end_reps[static_cast<std::size_t>(index)] = Clock::now().time_since_epoch().count();
    op = nullptr;
  };

  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) threads.emplace_back(worker, i);
  ready.wait();
  if (options.before_start && first_error.empty()) {
    try {
      options.before_start();
    } catch (const std::exception& e) {
      first_error = e.what();
    }
  }
  if (!first_error.empty()) {
    // Release the threads with a deadline in the past: none runs an op.
    deadline_rep.store(Clock::time_point{}.time_since_epoch().count());
    go.count_down();
    for (auto& t : threads) t.join();
    throw std::runtime_error(first_error);
  }
  const Usage usage_start = ProcessUsage();
  const Clock::time_point start = Clock::now();
  deadline_rep.store((start + options.duration).time_since_epoch().count());
  go.count_down();
  for (auto& t : threads) t.join();
  const Clock::time_point end{Clock::duration{*std::max_element(end_reps.begin(), end_reps.end())}};

  const Usage usage_end = ProcessUsage();

  Samples s;
  s.seconds = std::chrono::duration<double>(end - start).count();
  for (auto& r : recorders) s.Add(std::move(r));
  // The whole process's CPU time and context switches (library threads
  // included); connection teardown after the loop is in it too.
  s.extra["process"] = nlohmann::json{
      {"cpu_s", usage_end.cpu_s - usage_start.cpu_s},
      {"voluntary_switches", usage_end.voluntary_switches - usage_start.voluntary_switches},
      {"involuntary_switches", usage_end.involuntary_switches - usage_start.involuntary_switches}};
  return s;
}

}  // namespace sqlsteward::bench
