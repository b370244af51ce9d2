// Worker processes of this binary, as the command that started them sees
// them: `sqlsteward demo` and `sqlsteward torture` re-execute themselves
// (/proc/self/exe) as hidden worker subcommands and follow them over the
// line protocol of tests/support/child_process.h.
//
// What every worker says, the set handles here:
//   ready                        opened what it needed; waits for the go
//   error <code> <status json>   could not go on; it exits non-zero
// Every other line is the command's own (demo: progress and done; torture:
// one ack per acknowledged write) and goes to W::HandleEvent.
//
// The go is EOF on the worker's stdin: Release() closes every stdin at
// once, so all workers start together behind the barrier of AwaitReady.
#ifndef SQLSTEWARD_TOOLS_COMMON_WORKER_SET_H_
#define SQLSTEWARD_TOOLS_COMMON_WORKER_SET_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/status.h"
#include "support/child_process.h"
#include "support/line_protocol.h"

namespace sqlsteward::cli {

// The verb of a worker that is ready and waits for the go.
inline constexpr std::string_view kWorkerReady = "ready";

// How long workers get to exit on their own before they are killed, so
// that their exit status can be reported.
inline constexpr auto kWorkerExitGrace = std::chrono::seconds(10);

// What the set knows of one worker, whatever the command. A command's
// worker type derives from it and adds HandleEvent(const Event&).
struct WorkerProcess {
  std::unique_ptr<subprocess::ChildProcess> process;
  bool ready = false;
  bool eof = false;             // its stdout is closed and every line handled
  subprocess::ExitStatus exit;  // how it ended, once reaped
  std::optional<Status> fail;   // what its "error" line said
  std::string protocol_error;   // a line that could not be read

  pid_t pid() const { return process->pid(); }
  // Applies a "ready" or "error" line; false for any other verb.
  bool HandleCommonEvent(const subprocess::Event& event, std::string_view line);
  // Ready, failed, or gone: it will not say "ready" any more.
  bool settled() const { return ready || fail.has_value() || eof; }
};

// The part of WorkerSet that does not depend on the worker type.
namespace worker_set_internal {
Result<std::unique_ptr<subprocess::ChildProcess>> SpawnSelf(const std::vector<std::string>& args);
// Polls the open stdout pipes of `processes` until one has output or
// `timeout` passes.
void PollOpen(std::span<WorkerProcess* const> processes, std::chrono::milliseconds timeout);
}  // namespace worker_set_internal

// Owns the worker processes: whatever path leaves the command, none
// outlives it (a ChildProcess kills and reaps its child when destroyed).
// W derives from WorkerProcess and has `void HandleEvent(const
// subprocess::Event&)` for the command's own verbs.
// Thread safety: used by one thread.
template <typename W>
class WorkerSet {
 public:
  WorkerSet() = default;
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;

  std::vector<W>& workers() { return workers_; }
  const std::vector<W>& workers() const { return workers_; }

  // Starts one worker: this binary (/proc/self/exe) with `args`.
  Status Spawn(const std::vector<std::string>& args) {
    SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<subprocess::ChildProcess> process,
                                worker_set_internal::SpawnSelf(args));
    workers_.emplace_back().process = std::move(process);
    return Status();
  }

  // Waits until every worker is settled (ready, failed or gone). Fails
  // only when that takes longer than `timeout`.
  Status AwaitSettled(std::chrono::seconds timeout) {
    const auto deadline = subprocess::Clock::now() + timeout;
    for (;;) {
      bool all = true;
      for (const W& w : workers_) all = all && w.settled();
      if (all) return Status();
      if (subprocess::Clock::now() >= deadline) {
        return Status(StatusCode::kTimeout,
                      "workers not ready after " + std::to_string(timeout.count()) + " s",
                      "another process may hold the database's write lock; see its -steward "
                      "file");
      }
      Pump(std::chrono::milliseconds(100));
    }
  }

  // The barrier: waits until every worker said "ready". Fails when one
  // could not start, ended early, or all were not ready within `timeout`.
  Status AwaitReady(std::chrono::seconds timeout) {
    SQLSTEWARD_RETURN_IF_ERROR(AwaitSettled(timeout));
    for (W& w : workers_) {
      if (w.fail) return w.fail->WithContext("worker " + std::to_string(w.pid()));
      if (!w.ready) {
        ReapAll(subprocess::Clock::now() + kWorkerExitGrace);
        return Status(StatusCode::kInternal,
                      "worker " + std::to_string(w.pid()) + " ended before it was ready (" +
                          w.exit.ToString() + ")",
                      "see the worker's messages above; sqlsteward re-executes its own binary "
                      "(/proc/self/exe), which must still exist");
      }
    }
    return Status();
  }

  // Waits up to `timeout` for protocol output and handles it.
  void Pump(std::chrono::milliseconds timeout) {
    std::vector<WorkerProcess*> open;
    for (W& w : workers_) {
      if (!w.eof) open.push_back(&w);
    }
    if (open.empty()) return;
    worker_set_internal::PollOpen(open, timeout);
    for (W& w : workers_) {
      if (w.eof) continue;
      while (std::optional<std::string> line = w.process->TakeBufferedLine()) {
        const subprocess::Event event = subprocess::ParseEvent(*line);
        if (!w.HandleCommonEvent(event, *line)) w.HandleEvent(event);
      }
      w.eof = w.process->stdout_eof();
    }
  }

  // Closes every worker's stdin: all see EOF at once and start.
  void Release() {
    for (W& w : workers_) w.process->CloseStdin();
  }
  void KillAll() {
    for (W& w : workers_) w.process->Kill();
  }
  // Reaps every worker, killing those still alive at `deadline`.
  void ReapAll(subprocess::Clock::time_point deadline) {
    for (W& w : workers_) {
      std::optional<subprocess::ExitStatus> exit = w.process->WaitUntil(deadline);
      if (!exit.has_value()) {
        w.process->Kill();
        exit = w.process->Wait();
      }
      w.exit = *exit;
    }
  }

  bool AllEof() const {
    for (const W& w : workers_) {
      if (!w.eof) return false;
    }
    return true;
  }

 private:
  std::vector<W> workers_;
};

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_WORKER_SET_H_
