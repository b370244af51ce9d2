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
#include <cerrno>
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

namespace sqlsteward::cli {
namespace {

struct WorkerOptions {
  std::string db;
  int threads = 1;
  int writes = 1;
};

// Writes one protocol line to stdout (the parent's pipe) with write(2): no
// stdio buffer to forget to flush, and one call per line so that lines from
// the reporter and the main thread never interleave.
void SendLine(const std::string& text) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::string line = text + "\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // The parent is gone; nothing left to tell.
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

// The start signal: the parent closes our stdin.
void WaitForEof() {
  char buf[64];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

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

Result<int> RunWorker(const WorkerOptions& options) {
  auto opened = Database::Open(options.db);
  if (!opened.has_value()) {
    SendLine(fmt::format("{} {}", demo::kFail, StatusToJson(opened.error()).dump()));
    return 1;
  }
  std::unique_ptr<Database> db = std::move(opened).value();
  const auto pid = static_cast<std::int64_t>(::getpid());

  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> failed{0};
  std::vector<ThreadTally> tallies(static_cast<std::size_t>(options.threads));
  std::latch start(1);
  std::vector<std::thread> threads;
  threads.reserve(tallies.size());
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back([&, t] {
      ThreadTally& tally = tallies[static_cast<std::size_t>(t)];
      start.wait();
      for (int i = 0; i < options.writes; ++i) {
        Status status = db->Write([&](Transaction& tx) -> Status {
          SQLSTEWARD_ASSIGN_OR_RETURN(std::optional<std::int64_t> top,
                                      tx.QueryInt64("SELECT coalesce(max(n),0) FROM ledger"));
          return tx.Exec("INSERT INTO ledger(n, pid, thread, at) VALUES(?, ?, ?, ?)",
                         top.value_or(0) + 1, pid, std::int64_t{t}, UnixMicros());
        });
        if (status.ok()) {
          acked.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        failed.fetch_add(1, std::memory_order_relaxed);
        std::string code(StatusCodeName(status.code()));
        ++tally.errors[code];
        if (demo::IsBusyLike(status)) ++tally.busy_like;
        tally.first_error.try_emplace(code, status.ToString());
      }
    });
  }

  SendLine(std::string(demo::kReady));
  WaitForEof();
  start.count_down();

  std::mutex report_mu;
  std::condition_variable report_cv;
  bool stop_reporting = false;
  std::thread reporter([&] {
    std::unique_lock lock(report_mu);
    while (!report_cv.wait_for(lock, demo::kProgressInterval, [&] { return stop_reporting; })) {
      SendLine(fmt::format("{} {} {}", demo::kProgress, acked.load(std::memory_order_relaxed),
                           failed.load(std::memory_order_relaxed)));
    }
  });

  for (std::thread& thread : threads) thread.join();
  {
    std::lock_guard lock(report_mu);
    stop_reporting = true;
  }
  report_cv.notify_one();
  reporter.join();

  nlohmann::json done = {{"acked", acked.load()},
                         {"errors", nlohmann::json::object()},
                         {"first_error", nlohmann::json::object()},
                         {"busy_like", 0}};
  std::uint64_t busy_like = 0;
  for (const ThreadTally& tally : tallies) {
    for (const auto& [code, count] : tally.errors) {
      done["errors"][code] = done["errors"].value(code, std::uint64_t{0}) + count;
    }
    for (const auto& [code, message] : tally.first_error) {
      if (!done["first_error"].contains(code)) done["first_error"][code] = message;
    }
    busy_like += tally.busy_like;
  }
  done["busy_like"] = busy_like;

  // Metrics before Close(): Close() runs a checkpoint, not a batch, but the
  // numbers should describe the writes above and nothing else.
  MetricsSnapshot metrics = db->Metrics();
  done["write_batches"] = metrics.write_batches;
  done["write_jobs"] = metrics.write_jobs;
  done["write_latency_us"] = demo::HistogramToJson(metrics.write_latency_us);
  Status closed = db->Close();
  if (!closed.ok()) done["close_error"] = StatusToJson(closed);

  SendLine(fmt::format("{} {}", demo::kDone, done.dump()));
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
