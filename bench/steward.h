// The sqlsteward side of each scenario: the same operations as the
// baselines, through the public API only (Database::Write / Read).
//
// Thread safety: a StewardDb is shared by every worker thread of a run, as a
// Database is meant to be.
#ifndef SQLSTEWARD_BENCH_STEWARD_H_
#define SQLSTEWARD_BENCH_STEWARD_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "harness.h"

namespace sqlsteward::bench {

// One open sqlsteward::Database with default Options (durable:
// synchronous FULL), except journal_mode, which is WAL as in the baselines.
class StewardDb {
 public:
  // Throws std::runtime_error with the Status text when Open fails.
  explicit StewardDb(const std::string& path);
  StewardDb(const StewardDb&) = delete;
  StewardDb& operator=(const StewardDb&) = delete;
  // Closes, ignoring errors; call Close() to see them.
  ~StewardDb();

  // Database::Metrics() as JSON: jobs per batch, commit latency, lock waits.
  nlohmann::json MetricsJson() const;
  // Throws std::runtime_error when Close fails.
  void Close();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Write(): INSERT INTO t(v) VALUES(?).
Op MakeStewardInsert(std::shared_ptr<StewardDb> db, int thread);

// Write(): SELECT max(id) FROM t, then INSERT max+1, in one job.
Op MakeStewardReadThenWrite(std::shared_ptr<StewardDb> db, int thread);

// Read(): SELECT v FROM t WHERE id=? over ids 1..rows, value checked.
Op MakeStewardPointLookup(std::shared_ptr<StewardDb> db, std::int64_t rows, int thread);

// `threads` threads, each keeping `depth` WriteAsync() inserts in flight
// until `duration` has passed, then waiting for what is still in flight.
// Every write's latency is its submission to its acknowledgement; the
// database's metrics (batch sizes) are in extra["sqlsteward"].
Samples RunStewardAsyncDeep(const std::string& path, int threads, int depth,
                            Clock::duration duration);

// Version of the sqlsteward library benchmarked.
std::string StewardVersion();

}  // namespace sqlsteward::bench

#endif  // SQLSTEWARD_BENCH_STEWARD_H_
