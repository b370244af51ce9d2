// sqlsteward torture-worker: one worker process of `sqlsteward torture`.
// Hidden from --help; the torture command starts it, talks to it over
// pipes (torture_protocol.h) and kills it with SIGKILL at a random moment.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/worker_set.h"
#include "sqlsteward/sqlsteward.h"
#include "support/line_protocol.h"
#include "torture/torture_protocol.h"

namespace sqlsteward::cli {
namespace {

struct WorkerOptions {
  std::string db;
  std::int64_t writer = 0;
};

std::int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Says why, and ends the process: a worker is a process that may die at
// any moment anyway, so there is nothing to unwind.
[[noreturn]] void Fail(const Status& status) {
  subprocess::SayLine(
      subprocess::ErrorLine(StatusCodeName(status.code()), JsonText(StatusToJson(status))));
  std::_Exit(1);
}

// One writer: a row per Write(), the next only after the last was
// acknowledged, each acknowledgement told to the parent.
[[noreturn]] void WriteForever(Database& db, std::int64_t writer) {
  const auto pid = static_cast<std::int64_t>(::getpid());
  for (std::int64_t seq = 1;; ++seq) {
    const std::int64_t id = torture::WriteId(writer, seq);
    Status status = db.Write([&](Transaction& tx) {
      return tx.Exec(
          "INSERT INTO torture_writes(id, pid, at_us, pad) VALUES(?, ?, ?, randomblob(?))", id, pid,
          UnixMicros(), std::int64_t{torture::kPadBytes});
    });
    if (!status.ok()) Fail(status.WithContext(fmt::format("write {}", id)));
    subprocess::SayOrExit(fmt::format("{} {}", torture::kAck, id));
  }
}

Result<int> RunWorker(const WorkerOptions& options) {
  auto opened = Database::Open(options.db);
  if (!opened.has_value()) Fail(opened.error());
  std::unique_ptr<Database> db = std::move(opened).value();
  subprocess::SayOrExit(kWorkerReady);
  subprocess::WaitForStdinEof();
  std::vector<std::thread> threads;
  for (int t = 1; t < torture::kThreadsPerWorker; ++t) {
    threads.emplace_back([&db, writer = options.writer + t] { WriteForever(*db, writer); });
  }
  WriteForever(*db, options.writer);  // Never returns: the parent kills us.
}

}  // namespace

Command RegisterTortureWorker(CLI::App& app) {
  auto options = std::make_shared<WorkerOptions>();
  CLI::App* cmd = app.add_subcommand(std::string(torture::kWorkerCommand),
                                     "Internal: one worker process of `sqlsteward torture`.");
  cmd->group("");  // Hidden from --help: only `sqlsteward torture` starts it.
  cmd->add_option("--db", options->db, "Database path")->required();
  cmd->add_option("--writer", options->writer, "Number of this worker's first writer")
      ->required()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
  return {cmd, [options] { return RunWorker(*options); }};
}

}  // namespace sqlsteward::cli
