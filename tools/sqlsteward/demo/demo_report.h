// The demo's verdict and report: what the workers told their callers,
// checked against what the database holds, printed as text or as one JSON
// object (docs/cli.md documents both).
#ifndef SQLSTEWARD_TOOLS_DEMO_REPORT_H_
#define SQLSTEWARD_TOOLS_DEMO_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo/demo_database.h"
#include "demo/demo_workers.h"
#include "sqlsteward/metrics.h"

namespace sqlsteward::cli::demo {

// The run as it was asked for and set up.
struct RunSetup {
  std::string db_path;
  std::string journal_mode;
  std::vector<std::string> removed;  // the previous run's files
  int processes = 0;
  int threads = 0;
  int writes = 0;  // per thread
  std::uint64_t expected = 0;
  double wall_seconds = 0;  // from the start signal to the last worker done
};

// What the workers told their callers and what their Metrics() saw, summed.
struct Tally {
  std::uint64_t acked = 0;
  std::uint64_t busy_like = 0;
  std::uint64_t batches = 0;
  std::uint64_t jobs = 0;
  std::uint64_t errors_total = 0;
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> first_error;
  Histogram latency;
  bool all_finished = true;
};
// Sums the workers' reports; a worker that did not finish, failed to
// exit cleanly or to close adds to `failures`.
Tally SumWorkers(const std::vector<Worker>& workers, std::vector<std::string>* failures);

// Each check of the database against the tally.
struct Verdict {
  bool rows_match = false;
  bool contiguous = false;
  bool integrity_ok = false;
  std::size_t workers_matching = 0;
  nlohmann::json per_worker = nlohmann::json::array();
};
// Checks the database; every check that fails adds to `failures`.
Verdict Verify(const Tally& tally, const DbFacts& facts, const std::vector<Worker>& workers,
               std::uint64_t expected, std::vector<std::string>* failures);

// Prints the report; returns the exit status (0 when `failures` is empty).
int PrintJsonReport(const RunSetup& setup, const Tally& tally, const DbFacts& facts,
                    const Verdict& verdict, const std::vector<std::string>& failures);
int PrintTextReport(const RunSetup& setup, const Tally& tally, const DbFacts& facts,
                    const Verdict& verdict, const std::vector<std::string>& failures);

}  // namespace sqlsteward::cli::demo

#endif  // SQLSTEWARD_TOOLS_DEMO_REPORT_H_
