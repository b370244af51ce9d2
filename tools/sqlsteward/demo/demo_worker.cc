// sqlsteward demo-worker: one worker process of `sqlsteward demo`. Hidden
// from --help; the demo starts it and talks to it over pipes (see
// demo_protocol.h).
//
// It opens the database, starts --threads threads and waits for the start
// signal. Each thread then runs --writes read-then-write jobs through
// Database::Write:
//   SELECT coalesce(max(n),0) FROM ledger;
//   INSERT INTO ledger(n, pid, thread, at) VALUES(max + 1, ...);
// With one connection per thread and deferred transactions this is the
// pattern that fails with SQLITE_BUSY (BUSY_SNAPSHOT on the read->write
// upgrade ignores busy_timeout) or, without a transaction, with duplicate
// keys. Through sqlsteward every job must be acknowledged and every n must
// be unique: the jobs of all processes run one at a time under the
// cross-process write lock.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "demo/demo_protocol.h"
#include "sqlsteward/sqlsteward.h"
#include "support/line_protocol.h"

namespace sqlsteward::cli {
namespace {

struct WorkerOptions {
  std::string db;
  int threads = 1;
  int writes = 1;
};

std::int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What one thread saw; merged after join, so it needs no lock.
struct ThreadTally {
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> first_error;
  std::uint64_t busy_like = 0;
};

// The worker's threads: each waits for Start(), then runs its writes.
// Start() must be called before destruction (the threads wait for it).
class Writers {
 public:
  Writers(Database& db, const WorkerOptions& options)
      : db_(db), tallies_(static_cast<std::size_t>(options.threads)) {
    threads_.reserve(tallies_.size());
    for (int t = 0; t < options.threads; ++t) {
      threads_.emplace_back([this, t, writes = options.writes] { Run(t, writes); });
    }
  }
  Writers(const Writers&) = delete;
  Writers& operator=(const Writers&) = delete;
  ~Writers() { Join(); }

  void Start() { start_.count_down(); }
  void Join() {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  std::uint64_t acked() const { return acked_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  // After Join(): the "done" fields the threads account for.
  nlohmann::json Summary() const;

 private:
  void Run(int t, int writes) {
    ThreadTally& tally = tallies_[static_cast<std::size_t>(t)];
    const auto pid = static_cast<std::int64_t>(::getpid());
    start_.wait();
    for (int i = 0; i < writes; ++i) {
      Status status = db_.Write([&](Transaction& tx) -> Status {
        SQLSTEWARD_ASSIGN_OR_RETURN(std::optional<std::int64_t> top,
                                    tx.QueryInt64("SELECT coalesce(max(n),0) FROM ledger"));
        return tx.Exec("INSERT INTO ledger(n, pid, thread, at) VALUES(?, ?, ?, ?)",
                       top.value_or(0) + 1, pid, std::int64_t{t}, UnixMicros());
      });
      if (status.ok()) {
        acked_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      failed_.fetch_add(1, std::memory_order_relaxed);
      std::string code(StatusCodeName(status.code()));
      ++tally.errors[code];
      if (demo::IsBusyLike(status)) ++tally.busy_like;
      tally.first_error.try_emplace(code, status.ToString());
    }
  }

  Database& db_;
  std::vector<ThreadTally> tallies_;  // one per thread, read after Join()
  std::atomic<std::uint64_t> acked_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::latch start_{1};
  std::vector<std::thread> threads_;
};

nlohmann::json Writers::Summary() const {
  nlohmann::json done = {{"acked", acked()},
                         {"errors", nlohmann::json::object()},
                         {"first_error", nlohmann::json::object()},
                         {"busy_like", 0}};
  std::uint64_t busy_like = 0;
  for (const ThreadTally& tally : tallies_) {
    for (const auto& [code, count] : tally.errors) {
      done["errors"][code] = done["errors"].value(code, std::uint64_t{0}) + count;
    }
    for (const auto& [code, message] : tally.first_error) {
      if (!done["first_error"].contains(code)) done["first_error"][code] = message;
    }
    busy_like += tally.busy_like;
  }
  done["busy_like"] = busy_like;
  return done;
}

// Says "progress <acked> <errors>" every kProgressInterval until stopped.
class ProgressReporter {
 public:
  explicit ProgressReporter(const Writers& writers)
      : thread_([this, &writers] {
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, demo::kProgressInterval, [this] { return stop_; })) {
            subprocess::SayLine(fmt::format("{} {} {}", demo::kProgress, writers.acked(),
                                            writers.failed()));
          }
        }) {}
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;
  ~ProgressReporter() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

Result<int> RunWorker(const WorkerOptions& options) {
  auto opened = Database::Open(options.db);
  if (!opened.has_value()) {
    // SayLine fails only when the parent is gone: nobody left to tell.
    subprocess::SayLine(subprocess::ErrorLine(StatusCodeName(opened.error().code()),
                                              JsonText(StatusToJson(opened.error()))));
    return 1;
  }
  std::unique_ptr<Database> db = std::move(opened).value();

  nlohmann::json done;
  {
    Writers writers(*db, options);
    subprocess::SayLine(demo::kReady);
    subprocess::WaitForStdinEof();
    writers.Start();
    {
      ProgressReporter reporter(writers);
      writers.Join();
    }
    done = writers.Summary();
  }

  // Metrics before Close(): Close() runs a checkpoint, not a batch, but the
  // numbers should describe the writes above and nothing else.
  MetricsSnapshot metrics = db->Metrics();
  done["write_batches"] = metrics.write_batches;
  done["write_jobs"] = metrics.write_jobs;
  done["write_latency_us"] = demo::HistogramToJson(metrics.write_latency_us);
  Status closed = db->Close();
  if (!closed.ok()) done["close_error"] = StatusToJson(closed);

  subprocess::SayLine(fmt::format("{} {}", demo::kDone, JsonText(done)));
  return 0;
}

}  // namespace

Command RegisterDemoWorker(CLI::App& app) {
  auto options = std::make_shared<WorkerOptions>();
  CLI::App* cmd = app.add_subcommand(std::string(demo::kWorkerCommand),
                                     "Internal: one worker process of `sqlsteward demo`.");
  cmd->group("");  // Hidden from --help: only `sqlsteward demo` starts it.
  cmd->add_option("--db", options->db, "Database path")->required();
  cmd->add_option("--threads", options->threads, "Writer threads")
      ->required()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--writes", options->writes, "Writes per thread")
      ->required()
      ->check(CLI::Range(1, 100'000'000));
  return {cmd, [options] { return RunWorker(*options); }};
}

}  // namespace sqlsteward::cli
