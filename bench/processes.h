// Multi-process runs: the parent starts copies of this binary running a
// hidden worker subcommand, releases them together, and merges what they
// report.
//
// Protocol, per worker: the line protocol of tests/support/child_process.h
// on the worker's stdout, which also starts the workers. Every worker's
// stdin is the read end of one "go" pipe. The worker sets up (opens its
// connections or its Database, starts its threads), says "ready" and
// blocks reading stdin. Once every worker is ready the parent closes the go
// pipe: all workers see EOF at the same moment and start. Each worker then
// says "done <hex of its Samples as CBOR>" and exits 0, or says
// "error internal <message>" and exits 1. Workers are exec'd, not just
// forked, so no SQLite state, lock or thread of the parent leaks into them.
#ifndef SQLSTEWARD_BENCH_PROCESSES_H_
#define SQLSTEWARD_BENCH_PROCESSES_H_

#include <string>

#include "harness.h"

namespace sqlsteward::bench {

inline constexpr const char* kWorkerCommand = "__worker";

struct ProcessRunSpec {
  std::string side;  // "raw" (own connection per thread) or "sqlsteward"
  std::string db_path;
  int processes = 4;
  int threads_per_process = 4;
  double seconds = 3;
};

// Runs the workers and merges their samples: counts add up, seconds is the
// longest worker's. sqlsteward workers' metrics land in extra["per_process"].
// Throws std::runtime_error when a worker fails; kills and reaps the others.
Samples RunProcesses(const ProcessRunSpec& spec);

// The worker subcommand's body; returns the exit code.
int WorkerMain(const std::string& side, const std::string& db_path, int threads, double seconds);

}  // namespace sqlsteward::bench

#endif  // SQLSTEWARD_BENCH_PROCESSES_H_
