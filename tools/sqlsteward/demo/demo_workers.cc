#include "demo/demo_workers.h"

#include <cstdio>

#include <fmt/core.h>

#include "common/cli.h"
#include "demo/demo_protocol.h"

namespace sqlsteward::cli::demo {

void Worker::HandleLine(std::string_view line) {
  const subprocess::Event event = subprocess::ParseEvent(line);
  if (event.verb == kReady) {
    ready = true;
  } else if (event.verb == kProgress) {
    unsigned long long a = 0;
    unsigned long long e = 0;
    if (std::sscanf(std::string(event.rest).c_str(), "%llu %llu", &a, &e) == 2) {
      acked = a;
      errors = e;
    }
  } else if (event.verb == kDone || event.verb == kError) {
    // "error <code> <status json>": the json carries the code too.
    std::string_view payload = event.rest;
    if (event.verb == kError) payload = subprocess::ParseEvent(payload).rest;
    nlohmann::json j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      protocol_error = fmt::format("unreadable line from worker: {}", line);
    } else if (event.verb == kError) {
      fail = StatusFromJson(j);
    } else {
      acked = j.value("acked", std::uint64_t{0});
      done = std::move(j);
    }
  }
}

Status WorkerSet::Spawn(const std::vector<std::string>& args) {
  auto process = std::make_unique<subprocess::ChildProcess>();
  subprocess::SpawnOptions options;
  options.argv0 = "sqlsteward";
  // stderr stays ours: library warnings of the workers reach the user.
  options.err = subprocess::Stream::kInherit;
  if (int error = process->Start("/proc/self/exe", args, options); error != 0) {
    return ErrnoStatus(error, "start a worker process",
                       "the demo re-executes its own binary (/proc/self/exe), which must still "
                       "exist; too many processes? try fewer --processes");
  }
  workers_.emplace_back().process = std::move(process);
  return Status();
}

Status WorkerSet::AwaitReady(std::chrono::seconds timeout) {
  const auto deadline = subprocess::Clock::now() + timeout;
  for (;;) {
    bool all_ready = true;
    for (Worker& w : workers_) {
      if (w.fail) return w.fail->WithContext(fmt::format("worker {}", w.pid()));
      if (!w.ready && w.eof) {
        ReapAll(subprocess::Clock::now() + kExitGrace);
        return Status(StatusCode::kInternal,
                      fmt::format("worker {} ended before it was ready ({})", w.pid(),
                                  w.exit.ToString()),
                      "see the worker's messages above; the demo re-executes its own binary "
                      "(/proc/self/exe), which must still exist");
      }
      all_ready = all_ready && w.ready;
    }
    if (all_ready) return Status();
    if (subprocess::Clock::now() >= deadline) {
      return Status(StatusCode::kTimeout,
                    fmt::format("workers not ready after {} s", timeout.count()),
                    "another process may hold the database's write lock; see its -steward file");
    }
    Pump(std::chrono::milliseconds(100));
  }
}

void WorkerSet::Pump(std::chrono::milliseconds timeout) {
  std::vector<subprocess::ChildProcess*> open;
  for (Worker& w : workers_) {
    if (!w.eof) open.push_back(w.process.get());
  }
  if (open.empty()) return;
  subprocess::ChildProcess::PollAny(open, subprocess::Clock::now() + timeout);
  for (Worker& w : workers_) {
    if (w.eof) continue;
    while (std::optional<std::string> line = w.process->TakeBufferedLine()) w.HandleLine(*line);
    w.eof = w.process->stdout_eof();
  }
}

void WorkerSet::Release() {
  for (Worker& w : workers_) w.process->CloseStdin();
}

void WorkerSet::KillAll() {
  for (Worker& w : workers_) w.process->Kill();
}

void WorkerSet::ReapAll(subprocess::Clock::time_point deadline) {
  for (Worker& w : workers_) {
    std::optional<subprocess::ExitStatus> exit = w.process->WaitUntil(deadline);
    if (!exit.has_value()) {
      w.process->Kill();
      exit = w.process->Wait();
    }
    w.exit = *exit;
  }
}

bool WorkerSet::AllEof() const {
  for (const Worker& w : workers_) {
    if (!w.eof) return false;
  }
  return true;
}

std::uint64_t WorkerSet::Acked() const {
  std::uint64_t sum = 0;
  for (const Worker& w : workers_) sum += w.acked;
  return sum;
}

}  // namespace sqlsteward::cli::demo
