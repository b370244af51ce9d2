// Point-in-time metrics of one Database handle, and their Prometheus text.
#ifndef SQLSTEWARD_METRICS_H_
#define SQLSTEWARD_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace sqlsteward {

// A histogram with fixed power-of-two bucket bounds (1, 2, 4, ... 2^31, +Inf),
// in whatever unit the metric states.
struct Histogram {
  static constexpr int kBuckets = 33;
  // counts[i] = samples with value <= 2^i (i < 32); counts[32] = the rest.
  std::array<std::uint64_t, kBuckets> counts{};
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  std::uint64_t max = 0;

  // Upper bound of the bucket holding quantile q (0..1); 0 when empty.
  std::uint64_t Quantile(double q) const;
  static std::uint64_t BucketBound(int i) { return i < 32 ? (std::uint64_t{1} << i) : UINT64_MAX; }
};

struct MetricsSnapshot {
  std::uint64_t write_jobs = 0;         // jobs acknowledged (ok or not)
  std::uint64_t write_batches = 0;      // COMMITs attempted
  Histogram batch_jobs;                 // jobs per batch
  Histogram commit_latency_us;          // BEGIN .. COMMIT, lock held
  Histogram write_latency_us;           // enqueue .. acknowledgement
  Histogram lock_wait_us;               // wait for the cross-process write lock
  std::uint64_t reads = 0;
  std::int64_t wal_bytes = 0;           // WAL content after the last commit
  std::uint64_t checkpoints = 0;        // PASSIVE checkpoints run
  std::uint64_t checkpoints_incomplete = 0;  // stopped short by readers
  std::uint64_t sqlite_busy_handler_calls = 0;
  // Cluster handles: batches whose COMMIT answer was lost (leadership
  // changed mid-commit), looked up by their idempotency record afterwards,
  // and how many of those had committed; batches run again after a failover
  // left them uncommitted.
  std::uint64_t commit_outcome_lookups = 0;
  std::uint64_t commit_outcome_committed = 0;
  std::uint64_t batch_retries = 0;
  // Keyed by StatusCodeName(); only non-OK outcomes of Write/Read calls.
  std::map<std::string, std::uint64_t, std::less<>> errors_by_code;

  // Prometheus text exposition format, metric names prefixed `prefix_`.
  std::string ToPrometheus(std::string_view prefix = "sqlsteward") const;
};

}  // namespace sqlsteward

#endif  // SQLSTEWARD_METRICS_H_
