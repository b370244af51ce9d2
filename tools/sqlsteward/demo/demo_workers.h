// The parent's side of `sqlsteward demo`: its worker processes, started by
// the shared spawner (tests/support/child_process.h), and what each said
// over the protocol of demo_protocol.h.
#ifndef SQLSTEWARD_TOOLS_DEMO_WORKERS_H_
#define SQLSTEWARD_TOOLS_DEMO_WORKERS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sqlsteward/status.h"
#include "support/child_process.h"

namespace sqlsteward::cli::demo {

// How long workers get to exit on their own before they are killed, so
// that their exit status can be reported.
inline constexpr auto kExitGrace = std::chrono::seconds(10);

// One worker process as the parent sees it.
struct Worker {
  std::unique_ptr<subprocess::ChildProcess> process;
  bool ready = false;
  bool eof = false;             // its stdout is closed and every line handled
  subprocess::ExitStatus exit;  // how it ended, once reaped
  std::uint64_t acked = 0;      // latest progress or done
  std::uint64_t errors = 0;
  std::optional<nlohmann::json> done;
  std::optional<Status> fail;
  std::string protocol_error;

  pid_t pid() const { return process->pid(); }
  // Applies one protocol line to the fields above.
  void HandleLine(std::string_view line);
};

// Owns the worker processes: whatever path leaves the demo, none outlives
// it (a ChildProcess kills and reaps its child when destroyed).
// Thread safety: used by one thread.
class WorkerSet {
 public:
  WorkerSet() = default;
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;

  std::vector<Worker>& workers() { return workers_; }
  const std::vector<Worker>& workers() const { return workers_; }

  // Starts one worker: this binary (/proc/self/exe) with `args`.
  Status Spawn(const std::vector<std::string>& args);
  // The barrier: waits until every worker said "ready". Fails when one
  // could not start, ended early, or all were not ready within `timeout`.
  Status AwaitReady(std::chrono::seconds timeout);
  // Waits up to `timeout` for protocol output and handles it.
  void Pump(std::chrono::milliseconds timeout);
  // Closes every worker's stdin: all see EOF at once and start.
  void Release();
  void KillAll();
  // Reaps every worker, killing those still alive at `deadline`.
  void ReapAll(subprocess::Clock::time_point deadline);

  bool AllEof() const;
  std::uint64_t Acked() const;

 private:
  std::vector<Worker> workers_;
};

}  // namespace sqlsteward::cli::demo

#endif  // SQLSTEWARD_TOOLS_DEMO_WORKERS_H_
