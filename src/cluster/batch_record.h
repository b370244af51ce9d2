// The idempotency record of a cluster batch: one row per committed batch in
// `_sqlsteward_batches`, written inside the batch's own transaction, so the
// row exists exactly when the batch committed (cluster/engine.h says how a
// lost COMMIT answer is resolved with it).
//
// Layout: id TEXT PRIMARY KEY (32 hex digits, 128 random bits from
// getrandom: two batches never share one), at INTEGER (Unix milliseconds of
// the writer's clock). Rows older than kBatchRecordRetention are deleted by
// a later batch, in its own transaction, every kPruneEvery batches: a
// lookup happens within the write deadline of the batch (seconds), far
// inside the retention.
#ifndef SQLSTEWARD_CLUSTER_BATCH_RECORD_H_
#define SQLSTEWARD_CLUSTER_BATCH_RECORD_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace sqlsteward::cluster {

inline constexpr const char* kCreateBatchRecords =
    "CREATE TABLE IF NOT EXISTS _sqlsteward_batches("
    "id TEXT PRIMARY KEY NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS _sqlsteward_batches_at ON _sqlsteward_batches(at)";
inline constexpr const char* kInsertBatchRecord =
    "INSERT INTO _sqlsteward_batches(id, at) VALUES(?, ?)";
inline constexpr const char* kPruneBatchRecords = "DELETE FROM _sqlsteward_batches WHERE at < ?";
inline constexpr const char* kLookUpBatchRecord =
    "SELECT count(*) FROM _sqlsteward_batches WHERE id = ?";

inline constexpr std::chrono::minutes kBatchRecordRetention{10};
inline constexpr std::uint64_t kPruneEvery = 256;

// A new batch id: 32 lower-case hex digits.
std::string NewBatchId();

// Unix time in milliseconds, for `at`.
std::int64_t NowUnixMillis();

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_BATCH_RECORD_H_
