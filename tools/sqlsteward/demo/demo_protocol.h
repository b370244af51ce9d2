// The pipe protocol between `sqlsteward demo` (the parent) and its hidden
// `sqlsteward demo-worker` processes: the line protocol of
// tests/support/child_process.h, which also starts the workers, with the
// verbs every worker shares (common/worker_set.h).
//
// The parent starts each worker as
//   /proc/self/exe demo-worker --db PATH --threads T --writes W
// with a pipe on the worker's stdin and another on its stdout (stderr is
// inherited, so library warnings reach the user).
//
// worker -> parent, one line each on stdout:
//   ready                    the database is open and the threads wait
//   error <code> <status json>  could not start; the worker exits 1
//   progress <acked> <errors>    about every kProgressInterval
//   done <json>              last line; see the fields below
// parent -> worker: nothing. EOF on stdin (the parent closes every worker's
// stdin at once, after all said "ready") is the start signal, so all
// processes begin writing together.
//
// `done` fields: acked, errors {code name: count}, busy_like, first_error
// {code name: message}, write_batches, write_jobs (from the worker's own
// Database::Metrics()), write_latency_us {counts[33], count, sum, max},
// and close_error (a status json) when Close() failed.
#ifndef SQLSTEWARD_TOOLS_DEMO_PROTOCOL_H_
#define SQLSTEWARD_TOOLS_DEMO_PROTOCOL_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/worker_set.h"
#include "sqlsteward/metrics.h"
#include "sqlsteward/status.h"
#include "support/line_protocol.h"

namespace sqlsteward::cli::demo {

inline constexpr std::string_view kWorkerCommand = "demo-worker";
inline constexpr std::string_view kReady = kWorkerReady;
inline constexpr std::string_view kProgress = "progress";
inline constexpr std::string_view kDone = "done";
inline constexpr std::chrono::milliseconds kProgressInterval{100};

inline constexpr std::string_view kCreateTable =
    "CREATE TABLE ledger(n INTEGER PRIMARY KEY, pid INTEGER NOT NULL, "
    "thread INTEGER NOT NULL, at INTEGER NOT NULL)";

// An error a naive program on SQLite would have met as "database is locked":
// a deadline passed waiting for the lock, the transaction was aborted by a
// conflict, or SQLite's own BUSY/LOCKED (primary codes 5 and 6) leaked out.
// sqlsteward promises that callers see none of these for contention it can
// queue.
inline bool IsBusyLike(const Status& status) {
  constexpr int kSqliteBusy = 5;
  constexpr int kSqliteLocked = 6;
  const int primary = status.sqlite_code() & 0xff;
  return status.code() == StatusCode::kTimeout || status.code() == StatusCode::kAborted ||
         primary == kSqliteBusy || primary == kSqliteLocked;
}

inline nlohmann::json HistogramToJson(const Histogram& h) {
  return {{"counts", h.counts}, {"count", h.count}, {"sum", h.sum}, {"max", h.max}};
}

// Adds the histogram in `j` (as written by HistogramToJson) to `*into`.
inline void MergeHistogram(const nlohmann::json& j, Histogram* into) {
  const auto& counts = j.at("counts");
  for (std::size_t i = 0; i < into->counts.size() && i < counts.size(); ++i) {
    into->counts[i] += counts[i].get<std::uint64_t>();
  }
  into->count += j.at("count").get<std::uint64_t>();
  into->sum += j.at("sum").get<std::uint64_t>();
  into->max = std::max(into->max, j.at("max").get<std::uint64_t>());
}

}  // namespace sqlsteward::cli::demo

#endif  // SQLSTEWARD_TOOLS_DEMO_PROTOCOL_H_
