// MetricsRecorder: the live counters behind Database::Metrics().
//
// Thread safety: safe for concurrent use. The write path records once per
// batch (under one short mutex), the read path bumps an atomic.
#ifndef SQLSTEWARD_BASE_METRICS_RECORDER_H_
#define SQLSTEWARD_BASE_METRICS_RECORDER_H_

#include <atomic>
#include <cstdint>
#include <span>

#include "base/mutex.h"
#include "sqlsteward/metrics.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

void HistogramAdd(Histogram* h, std::uint64_t value);

class MetricsRecorder {
 public:
  struct Batch {
    std::uint64_t jobs = 0;
    std::uint64_t commit_us = 0;
    std::uint64_t lock_wait_us = 0;
    std::int64_t wal_bytes = 0;
  };
  // One group commit and the enqueue-to-acknowledgement latency of its jobs.
  void RecordBatch(const Batch& batch, std::span<const std::uint64_t> job_latency_us);
  void RecordRead() { reads_.fetch_add(1, std::memory_order_relaxed); }
  void RecordError(StatusCode code);
  void RecordCheckpoint(bool incomplete);
  // A cluster batch's lost COMMIT answer, resolved: it had `committed`.
  void RecordOutcomeLookup(bool committed);
  void RecordBatchRetry();

  // Connections count their busy-handler calls here.
  std::atomic<std::uint64_t>* busy_counter() { return &busy_calls_; }

  MetricsSnapshot Snapshot() const;

 private:
  mutable Mutex mu_;
  MetricsSnapshot snap_ GUARDED_BY(mu_);
  std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> busy_calls_{0};
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_BASE_METRICS_RECORDER_H_
