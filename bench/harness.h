// Timing and latency recording for closed-loop benchmark runs.
//
// A run starts N worker threads. Each builds its own operation (opens its
// connection, prepares statements) before a start barrier, so setup never
// counts. After the barrier every thread repeats its operation until the
// deadline; each operation's latency is taken with steady_clock from the
// first attempt to its outcome (retries included) and every sample is kept:
// percentiles are exact, nothing approximates the tail away.
//
// An operation that hits a retryable error (BUSY, BUSY_SNAPSHOT) counts the
// error and is attempted again, as an application's retry loop would. If the
// deadline passes while it is still retrying it is abandoned; its latency so
// far (a lower bound) stays among the samples, and it is not an ok op.
//
// Thread safety: a Recorder belongs to one thread. RunClosedLoop is safe to
// call from one thread at a time.
#ifndef SQLSTEWARD_BENCH_HARNESS_H_
#define SQLSTEWARD_BENCH_HARNESS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sqlsteward::bench {

using Clock = std::chrono::steady_clock;

// How the benchmark classifies a failed attempt.
enum class ErrorKind {
  kBusy,          // SQLITE_BUSY and its extended codes, except BUSY_SNAPSHOT
  kBusySnapshot,  // SQLITE_BUSY_SNAPSHOT: a deferred read->write upgrade lost
  kOther,         // anything else, kept by name
};

struct ErrorCounts {
  std::uint64_t busy = 0;
  std::uint64_t busy_snapshot = 0;
  std::uint64_t other = 0;
  std::map<std::string, std::uint64_t> other_kinds;

  void Count(ErrorKind kind, std::string_view name);
  void Add(const ErrorCounts& other_counts);
  std::uint64_t total() const { return busy + busy_snapshot + other; }
  nlohmann::json ToJson() const;
  static ErrorCounts FromJson(const nlohmann::json& j);
};

// Per-thread counters and latency samples.
class alignas(64) Recorder {
 public:
  void CountError(ErrorKind kind, std::string_view name) { errors_.Count(kind, name); }

  void Reserve(std::size_t n) { latencies_ns_.reserve(n); }
  void RecordOk(Clock::duration d) {
    ++ok_;
    latencies_ns_.push_back(d.count());
  }
  void RecordFailed(Clock::duration d) {
    ++failed_;
    latencies_ns_.push_back(d.count());
  }
  void RecordAbandoned(Clock::duration d) {
    ++abandoned_;
    latencies_ns_.push_back(d.count());
  }

 private:
  friend struct Samples;
  std::uint64_t ok_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t abandoned_ = 0;
  ErrorCounts errors_;
  std::vector<std::int64_t> latencies_ns_;
};

// The raw outcome of one run (possibly merged from several threads or
// processes): counts, errors and every latency sample.
struct Samples {
  std::uint64_t ok = 0;         // operations that completed successfully
  std::uint64_t failed = 0;     // operations that ended in a non-retryable error
  std::uint64_t abandoned = 0;  // still retrying at the deadline
  double seconds = 0;           // wall time from start barrier to last thread done
  ErrorCounts errors;           // every failed attempt, retried or not
  std::vector<std::int64_t> latencies_ns;
  nlohmann::json extra = nlohmann::json::object();  // side-specific figures

  void Add(Recorder&& r);
  // Merges another run that ran at the same time (another process):
  // counts and samples add up, seconds is the longer of the two.
  void MergeConcurrent(Samples&& other);

  // Compact form for passing between processes.
  std::vector<std::uint8_t> Serialize() const;
  static Samples Deserialize(const std::vector<std::uint8_t>& bytes);
};

struct LatencyStats {
  std::uint64_t samples = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

// Exact nearest-rank percentiles; sorts `ns` in place.
LatencyStats ComputeLatency(std::vector<std::int64_t>& ns);

// The figures of one run of one side.
struct RunResult {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t abandoned = 0;
  double seconds = 0;
  double ops_per_s = 0;
  bool has_latency = true;  // false for runs timed only as a whole (bulk insert)
  LatencyStats latency;
  ErrorCounts errors;
  nlohmann::json extra = nlohmann::json::object();

  nlohmann::json ToJson() const;
};

RunResult Summarize(Samples samples);

// What one attempt of an operation came to. The operation counts its own
// errors in the Recorder before returning kRetry or kFailed.
enum class Outcome { kOk, kRetry, kFailed };

using Op = std::function<Outcome(Recorder&)>;
// Called on each worker thread before the start barrier with the thread's
// index; returns that thread's operation. May throw std::exception to abort
// the run (the message is reported).
using OpFactory = std::function<Op(int thread)>;

struct LoopOptions {
  int threads = 1;
  Clock::duration duration = std::chrono::seconds(3);
  // Per-thread reservation of latency samples, to keep vector growth out of
  // the loop.
  std::size_t reserve_per_thread = 1 << 16;
  // Runs on the calling thread once every worker is ready, just before the
  // start; a cross-process barrier hooks in here.
  std::function<void()> before_start;
};

// Runs a closed loop: each thread waits for its operation before the next.
// Throws std::runtime_error when a factory failed.
Samples RunClosedLoop(const LoopOptions& options, const OpFactory& factory);

// SplitMix64: a fast, well-mixed generator for picking keys.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  // A distinct, reproducible stream per worker thread.
  static Rng ForThread(int thread) {
    std::uint64_t seed = 0x5eed0000;
    seed += static_cast<unsigned>(thread);
    return Rng(seed);
  }
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [1, n] for n > 0 (the modulo bias is negligible here).
  std::int64_t Key(std::int64_t n) {
    return static_cast<std::int64_t>(Next() % static_cast<std::uint64_t>(n)) + 1;
  }

 private:
  std::uint64_t state_;
};

// Seconds as a steady_clock duration.
Clock::duration Seconds(double s);

}  // namespace sqlsteward::bench

#endif  // SQLSTEWARD_BENCH_HARNESS_H_
