// The parent's side of `sqlsteward demo`: its worker processes, started
// and followed by the worker set the commands share (common/worker_set.h),
// and what each said over the protocol of demo_protocol.h.
#ifndef SQLSTEWARD_TOOLS_DEMO_WORKERS_H_
#define SQLSTEWARD_TOOLS_DEMO_WORKERS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/worker_set.h"
#include "support/line_protocol.h"

namespace sqlsteward::cli::demo {

inline constexpr auto kExitGrace = kWorkerExitGrace;

// One worker process as the parent sees it.
struct Worker : WorkerProcess {
  std::uint64_t acked = 0;  // latest progress or done
  std::uint64_t errors = 0;
  std::optional<nlohmann::json> done;

  // Applies a progress or done line to the fields above.
  void HandleEvent(const subprocess::Event& event);
};

using WorkerSet = cli::WorkerSet<Worker>;

// Acknowledged writes of all workers, as last reported.
std::uint64_t Acked(const std::vector<Worker>& workers);

}  // namespace sqlsteward::cli::demo

#endif  // SQLSTEWARD_TOOLS_DEMO_WORKERS_H_
