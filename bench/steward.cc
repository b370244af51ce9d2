#include "steward.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <latch>
#include <optional>
#include <thread>
#include <vector>
#include <stdexcept>
#include <utility>

#include "baselines.h"
#include "sqlsteward/sqlsteward.h"

#ifndef SQLSTEWARD_BENCH_VERSION
#define SQLSTEWARD_BENCH_VERSION "unknown"
#endif

namespace sqlsteward::bench {

struct StewardDb::Impl {
  std::unique_ptr<Database> db;
};

namespace {

// Counts a failed call and says whether to run it again. BUSY-class errors
// and kAborted ("run the transaction again") are retried, as the baselines
// retry BUSY; everything else fails the operation.
Outcome Fail(const Status& s, Recorder& rec) {
  const ErrorKind kind = ClassifySqlite(s.sqlite_code());
  std::string name;
  if (kind == ErrorKind::kOther) {
    name = s.sqlite_code() != 0
               ? fmt::format("{} (sqlite {})", StatusCodeName(s.code()), s.sqlite_code())
               : std::string(StatusCodeName(s.code()));
  }
  rec.CountError(kind, name);
  return kind != ErrorKind::kOther || s.code() == StatusCode::kAborted ? Outcome::kRetry
                                                                       : Outcome::kFailed;
}

nlohmann::json HistogramJson(const Histogram& h) {
  // Non-empty buckets as "<=bound": count.
  nlohmann::json buckets = nlohmann::json::object();
  for (int i = 0; i < Histogram::kBuckets; ++i) {
    const std::uint64_t n = h.counts[static_cast<std::size_t>(i)];
    if (n == 0) continue;
    buckets[i < 32 ? fmt::format("<={}", Histogram::BucketBound(i)) : std::string("+Inf")] = n;
  }
  return nlohmann::json{
      {"buckets", std::move(buckets)},
      {"count", h.count},
      {"mean", h.count > 0 ? static_cast<double>(h.sum) / static_cast<double>(h.count) : 0.0},
      // Quantiles are bucket upper bounds (powers of two), as the library
      // records them.
      {"p50_bucket", h.Quantile(0.5)},
      {"p99_bucket", h.Quantile(0.99)},
      {"max", h.max}};
}

std::int64_t FirstValue(int thread) { return std::int64_t{thread} << 40; }

}  // namespace

StewardDb::StewardDb(const std::string& path) : impl_(std::make_unique<Impl>()) {
  // Every scenario is defined in WAL, as the baselines run. Asked for
  // explicitly so that a filesystem where the probe refuses WAL fails the run
  // instead of silently comparing a rollback journal against WAL.
  Options options;
  options.journal_mode = JournalMode::kWal;
  auto db = Database::Open(path, options);
  if (!db.ok()) {
    throw std::runtime_error(fmt::format("sqlsteward open {}: {}", path, db.error().ToString()));
  }
  impl_->db = std::move(db).value();
}

StewardDb::~StewardDb() {
  if (impl_->db) impl_->db->Close().IgnoreError();
}

nlohmann::json StewardDb::MetricsJson() const {
  const MetricsSnapshot m = impl_->db->Metrics();
  const JournalMode mode = impl_->db->journal_mode();
  return nlohmann::json{
      {"journal_mode", mode == JournalMode::kWal      ? "wal"
                       : mode == JournalMode::kDelete ? "delete"
                                                      : "other"},
      {"write_jobs", m.write_jobs},
      {"write_batches", m.write_batches},
      {"mean_jobs_per_batch", m.write_batches > 0 ? static_cast<double>(m.write_jobs) /
                                                        static_cast<double>(m.write_batches)
                                                  : 0.0},
      {"batch_jobs", HistogramJson(m.batch_jobs)},
      {"commit_latency_us", HistogramJson(m.commit_latency_us)},
      {"write_latency_us", HistogramJson(m.write_latency_us)},
      {"lock_wait_us", HistogramJson(m.lock_wait_us)},
      {"reads", m.reads},
      {"wal_bytes", m.wal_bytes},
      {"checkpoints", m.checkpoints},
      {"checkpoints_incomplete", m.checkpoints_incomplete},
      {"sqlite_busy_handler_calls", m.sqlite_busy_handler_calls},
      {"errors_by_code", m.errors_by_code},
  };
}

void StewardDb::Close() {
  if (!impl_->db) return;
  const Status s = impl_->db->Close();
  if (!s.ok()) throw std::runtime_error(fmt::format("sqlsteward close: {}", s.ToString()));
}

Op MakeStewardInsert(std::shared_ptr<StewardDb> db, int thread) {
  std::int64_t value = FirstValue(thread);
  return [db = std::move(db), value](Recorder& rec) mutable {
    const std::int64_t v = ++value;
    const Status s = db->impl().db->Write(
        [v](Transaction& tx) -> Status { return tx.Exec("INSERT INTO t(v) VALUES(?)", v); });
    return s.ok() ? Outcome::kOk : Fail(s, rec);
  };
}

Op MakeStewardReadThenWrite(std::shared_ptr<StewardDb> db, int thread) {
  std::int64_t value = FirstValue(thread);
  return [db = std::move(db), value](Recorder& rec) mutable {
    const std::int64_t v = ++value;
    const Status s = db->impl().db->Write([v](Transaction& tx) -> Status {
      auto max_id = tx.QueryInt64("SELECT max(id) FROM t");
      if (!max_id.ok()) return max_id.error();
      return tx.Exec("INSERT INTO t(id, v) VALUES(?, ?)", max_id->value_or(0) + 1, v);
    });
    return s.ok() ? Outcome::kOk : Fail(s, rec);
  };
}

Op MakeStewardPointLookup(std::shared_ptr<StewardDb> db, std::int64_t rows, int thread) {
  Rng rng = Rng::ForThread(thread);
  return [db = std::move(db), rows, rng](Recorder& rec) mutable {
    const std::int64_t id = rng.Key(rows);
    std::optional<std::int64_t> got;
    const Status s = db->impl().db->Read([id, &got](ReadTransaction& tx) -> Status {
      auto v = tx.QueryInt64("SELECT v FROM t WHERE id=?", id);
      if (!v.ok()) return v.error();
      got = *v;
      return Status::Ok();
    });
    if (!s.ok()) return Fail(s, rec);
    if (got != PrefillValue(id)) {
      rec.CountError(ErrorKind::kOther, "wrong value");
      return Outcome::kFailed;
    }
    return Outcome::kOk;
  };
}

Samples RunStewardAsyncDeep(const std::string& path, int threads, int depth,
                            Clock::duration duration) {
  auto db = std::make_shared<StewardDb>(path);
  std::vector<Recorder> recorders(static_cast<std::size_t>(threads));
  std::latch ready(threads + 1);
  Clock::time_point start;
  std::atomic<bool> go{false};
  std::vector<Clock::time_point> ends(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Recorder& rec = recorders[static_cast<std::size_t>(t)];
      rec.Reserve(1 << 18);
      std::int64_t value = FirstValue(t);
      std::deque<std::pair<std::future<Status>, Clock::time_point>> in_flight;
      ready.arrive_and_wait();
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const Clock::time_point deadline = start + duration;
      auto finish_oldest = [&] {
        Status s = in_flight.front().first.get();
        const Clock::duration took = Clock::now() - in_flight.front().second;
        in_flight.pop_front();
        if (s.ok()) {
          rec.RecordOk(took);
        } else {
          Fail(s, rec);
          rec.RecordFailed(took);
        }
      };
      while (Clock::now() < deadline) {
        while (in_flight.size() < static_cast<std::size_t>(depth)) {
          const std::int64_t v = ++value;
          in_flight.emplace_back(db->impl().db->WriteAsync([v](Transaction& tx) -> Status {
            return tx.Exec("INSERT INTO t(v) VALUES(?)", v);
          }),
                                 Clock::now());
        }
        finish_oldest();
      }
      while (!in_flight.empty()) finish_oldest();
      ends[static_cast<std::size_t>(t)] = Clock::now();
    });
  }
  ready.arrive_and_wait();
  start = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& w : workers) w.join();
  Samples out;
  for (auto& r : recorders) out.Add(std::move(r));
  const Clock::time_point last = *std::max_element(ends.begin(), ends.end());
  out.seconds = std::chrono::duration<double>(last - start).count();
  out.extra["sqlsteward"] = db->MetricsJson();
  out.extra["in_flight_per_thread"] = depth;
  db->Close();
  return out;
}

std::string StewardVersion() { return SQLSTEWARD_BENCH_VERSION; }

}  // namespace sqlsteward::bench
