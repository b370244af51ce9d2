#include "sqlsteward/metrics.h"

#include <bit>
#include <cmath>

#include "base/metrics_recorder.h"

namespace sqlsteward {

std::uint64_t Histogram::Quantile(double q) const {
  if (count == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts[static_cast<std::size_t>(i)];
    if (seen >= rank) return i < 32 ? std::min(BucketBound(i), max) : max;
  }
  return max;
}

namespace {

void AppendHistogram(std::string* out, const std::string& name, const Histogram& h,
                     std::string_view help) {
  *out += "# HELP " + name + " " + std::string(help) + "\n";
  *out += "# TYPE " + name + " histogram\n";
  std::uint64_t cumulative = 0;
  for (int i = 0; i < Histogram::kBuckets; ++i) {
    cumulative += h.counts[static_cast<std::size_t>(i)];
    std::string le = i < 32 ? std::to_string(Histogram::BucketBound(i)) : "+Inf";
    *out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  *out += name + "_sum " + std::to_string(h.sum) + "\n";
  *out += name + "_count " + std::to_string(h.count) + "\n";
}

void AppendScalar(std::string* out, const std::string& name, std::string_view type,
                  std::string_view help, const std::string& value) {
  *out += "# HELP " + name + " " + std::string(help) + "\n";
  *out += "# TYPE " + name + " " + std::string(type) + "\n";
  *out += name + " " + value + "\n";
}

}  // namespace

std::string MetricsSnapshot::ToPrometheus(std::string_view prefix) const {
  std::string p(prefix);
  std::string out;
  AppendScalar(&out, p + "_write_jobs_total", "counter", "Write jobs acknowledged.",
               std::to_string(write_jobs));
  AppendScalar(&out, p + "_write_batches_total", "counter", "Group commits attempted.",
               std::to_string(write_batches));
  AppendHistogram(&out, p + "_batch_jobs", batch_jobs, "Jobs per group commit.");
  AppendHistogram(&out, p + "_commit_latency_microseconds", commit_latency_us,
                  "BEGIN IMMEDIATE to COMMIT, write lock held.");
  AppendHistogram(&out, p + "_write_latency_microseconds", write_latency_us,
                  "Write() call to acknowledgement.");
  AppendHistogram(&out, p + "_lock_wait_microseconds", lock_wait_us,
                  "Wait for the cross-process write lock.");
  AppendScalar(&out, p + "_reads_total", "counter", "Read() calls.", std::to_string(reads));
  AppendScalar(&out, p + "_wal_bytes", "gauge", "WAL content after the last commit.",
               std::to_string(wal_bytes));
  AppendScalar(&out, p + "_checkpoints_total", "counter", "PASSIVE checkpoints run.",
               std::to_string(checkpoints));
  AppendScalar(&out, p + "_checkpoints_incomplete_total", "counter",
               "Checkpoints stopped short by readers.", std::to_string(checkpoints_incomplete));
  AppendScalar(&out, p + "_sqlite_busy_handler_calls_total", "counter",
               "Waits on SQLite's own locks (connections outside sqlsteward).",
               std::to_string(sqlite_busy_handler_calls));
  AppendScalar(&out, p + "_commit_outcome_lookups_total", "counter",
               "Cluster batches whose COMMIT answer was lost, looked up afterwards.",
               std::to_string(commit_outcome_lookups));
  AppendScalar(&out, p + "_commit_outcome_committed_total", "counter",
               "Of those, batches found committed.", std::to_string(commit_outcome_committed));
  AppendScalar(&out, p + "_batch_retries_total", "counter",
               "Cluster batches run again after a failover left them uncommitted.",
               std::to_string(batch_retries));
  out += "# HELP " + p + "_errors_total Failed Write/Read calls by status code.\n";
  out += "# TYPE " + p + "_errors_total counter\n";
  for (const auto& [code, n] : errors_by_code) {
    out += p + "_errors_total{code=\"" + code + "\"} " + std::to_string(n) + "\n";
  }
  return out;
}

namespace internal {

void HistogramAdd(Histogram* h, std::uint64_t value) {
  // Bucket i holds values in (2^(i-1), 2^i]; 0 and 1 land in bucket 0.
  int bucket = value <= 1 ? 0 : static_cast<int>(std::bit_width(value - 1));
  if (bucket > 32) bucket = 32;
  h->counts[static_cast<std::size_t>(bucket)]++;
  h->count++;
  h->sum += value;
  if (value > h->max) h->max = value;
}

void MetricsRecorder::RecordBatch(const Batch& batch,
                                  std::span<const std::uint64_t> job_latency_us) {
  MutexLock lock(&mu_);
  for (std::uint64_t us : job_latency_us) HistogramAdd(&snap_.write_latency_us, us);
  snap_.write_batches++;
  snap_.write_jobs += batch.jobs;
  HistogramAdd(&snap_.batch_jobs, batch.jobs);
  HistogramAdd(&snap_.commit_latency_us, batch.commit_us);
  HistogramAdd(&snap_.lock_wait_us, batch.lock_wait_us);
  snap_.wal_bytes = batch.wal_bytes;
}

void MetricsRecorder::RecordCheckpoint(bool incomplete) {
  MutexLock lock(&mu_);
  snap_.checkpoints++;
  if (incomplete) snap_.checkpoints_incomplete++;
}

void MetricsRecorder::RecordOutcomeLookup(bool committed) {
  MutexLock lock(&mu_);
  snap_.commit_outcome_lookups++;
  if (committed) snap_.commit_outcome_committed++;
}

void MetricsRecorder::RecordBatchRetry() {
  MutexLock lock(&mu_);
  snap_.batch_retries++;
}

void MetricsRecorder::RecordError(StatusCode code) {
  MutexLock lock(&mu_);
  auto name = StatusCodeName(code);
  auto it = snap_.errors_by_code.find(name);
  if (it == snap_.errors_by_code.end()) {
    snap_.errors_by_code.emplace(std::string(name), 1);
  } else {
    it->second++;
  }
}

MetricsSnapshot MetricsRecorder::Snapshot() const {
  MutexLock lock(&mu_);
  MetricsSnapshot snap = snap_;
  snap.reads = reads_.load(std::memory_order_relaxed);
  snap.sqlite_busy_handler_calls = busy_calls_.load(std::memory_order_relaxed);
  return snap;
}

}  // namespace internal
}  // namespace sqlsteward
