#include "common/worker_set.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "common/cli.h"

namespace sqlsteward::cli {

bool WorkerProcess::HandleCommonEvent(const subprocess::Event& event, std::string_view line) {
  if (event.verb == kWorkerReady) {
    ready = true;
    return true;
  }
  if (event.verb != subprocess::kErrorVerb) return false;
  // "error <code> <status json>": the json carries the code too.
  const std::string_view payload = subprocess::ParseEvent(event.rest).rest;
  nlohmann::json j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    protocol_error = fmt::format("unreadable line from worker: {}", line);
  } else {
    fail = StatusFromJson(j);
  }
  return true;
}

namespace worker_set_internal {

Result<std::unique_ptr<subprocess::ChildProcess>> SpawnSelf(const std::vector<std::string>& args) {
  auto process = std::make_unique<subprocess::ChildProcess>();
  subprocess::SpawnOptions options;
  options.argv0 = "sqlsteward";
  // stderr stays ours: library warnings of the workers reach the user.
  options.err = subprocess::Stream::kInherit;
  if (int error = process->Start("/proc/self/exe", args, options); error != 0) {
    return ErrnoStatus(error, "start a worker process",
                       "sqlsteward re-executes its own binary (/proc/self/exe), which must "
                       "still exist; too many processes? try fewer --processes");
  }
  return process;
}

void PollOpen(std::span<WorkerProcess* const> processes, std::chrono::milliseconds timeout) {
  std::vector<subprocess::ChildProcess*> open;
  open.reserve(processes.size());
  for (WorkerProcess* w : processes) open.push_back(w->process.get());
  subprocess::ChildProcess::PollAny(open, subprocess::Clock::now() + timeout);
}

}  // namespace worker_set_internal
}  // namespace sqlsteward::cli
