// Engine: what a Database handle delegates to when its database is not a
// local file (a dqlite cluster, src/cluster/engine.h). The Database keeps
// what is common to every handle (usability after fork and Close, metrics,
// after_open); the engine runs writes, reads and exclusive jobs.
//
// Layering: core defines the interface and never names an implementation;
// the layer that opens an address (src/api/) builds the engine and hands it
// to DatabaseAccess::OpenOnEngine.
//
// Thread safety: every method may be called concurrently, as Database's.
#ifndef SQLSTEWARD_CORE_ENGINE_H_
#define SQLSTEWARD_CORE_ENGINE_H_

#include <chrono>
#include <future>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/status.h"
#include "sqlsteward/transaction.h"

namespace sqlsteward::internal {

// One file of a database as the engine gives it (the main file, its WAL).
struct EngineFile {
  std::string name;
  std::string data;
};

class Engine {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~Engine() = default;

  virtual Status Write(const WriteFn& fn, Clock::time_point deadline) = 0;
  virtual std::future<Status> WriteAsync(WriteFn fn, Clock::time_point deadline) = 0;
  // As DatabaseAccess::WriteExclusive: fn alone in its transaction.
  virtual Status WriteExclusive(const WriteFn& fn, Clock::time_point deadline,
                                std::string_view purpose) = 0;
  virtual Status Read(const ReadFn& fn, Clock::time_point deadline) = 0;
  // The database's files as of one committed state, for a snapshot.
  virtual Result<std::vector<EngineFile>> Dump(Clock::time_point deadline) = 0;
  // Finishes queued writes and closes every connection. Idempotent.
  virtual Status Close() = 0;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_ENGINE_H_
