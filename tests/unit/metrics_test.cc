#include "sqlsteward/metrics.h"

#include "base/metrics_recorder.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using ::testing::HasSubstr;

TEST(HistogramTest, BucketsArePowersOfTwoAndQuantilesBoundTheValue) {
  Histogram h;
  for (std::uint64_t v : {0u, 1u, 2u, 3u, 4u, 5u, 1000u}) internal::HistogramAdd(&h, v);
  EXPECT_EQ(h.count, 7u);
  EXPECT_EQ(h.max, 1000u);
  EXPECT_EQ(h.sum, 1015u);
  EXPECT_EQ(h.counts[0], 2u);  // 0, 1
  EXPECT_EQ(h.counts[1], 1u);  // 2
  EXPECT_EQ(h.counts[2], 2u);  // 3, 4
  EXPECT_EQ(h.counts[3], 1u);  // 5
  EXPECT_EQ(h.counts[10], 1u);  // 1000 <= 1024
  EXPECT_EQ(h.Quantile(0.5), 4u);
  EXPECT_EQ(h.Quantile(1.0), 1000u);  // Capped at the true max.
  EXPECT_EQ(Histogram().Quantile(0.99), 0u);
}

TEST(MetricsTest, PrometheusTextHasEveryFamily) {
  internal::MetricsRecorder rec;
  internal::MetricsRecorder::Batch batch;
  batch.jobs = 3;
  batch.commit_us = 70;
  batch.lock_wait_us = 5;
  batch.wal_bytes = 8192;
  const std::uint64_t latencies[] = {80, 90, 100};
  rec.RecordBatch(batch, latencies);
  rec.RecordError(StatusCode::kTimeout);
  rec.RecordRead();
  rec.RecordCheckpoint(true);
  MetricsSnapshot snap = rec.Snapshot();
  EXPECT_EQ(snap.write_jobs, 3u);
  EXPECT_EQ(snap.write_batches, 1u);
  EXPECT_EQ(snap.write_latency_us.count, 3u);
  EXPECT_EQ(snap.checkpoints_incomplete, 1u);
  std::string text = snap.ToPrometheus("app");
  EXPECT_THAT(text, HasSubstr("app_write_jobs_total 3\n"));
  EXPECT_THAT(text, HasSubstr("app_batch_jobs_bucket{le=\"4\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("app_commit_latency_microseconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("app_lock_wait_microseconds_bucket{le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("app_wal_bytes 8192\n"));
  EXPECT_THAT(text, HasSubstr("app_errors_total{code=\"timeout\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE app_reads_total counter\n"));
}

}  // namespace
}  // namespace sqlsteward
