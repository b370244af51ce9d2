// ReaderPool: reader connections handed out one per Read() call.
//
// Connections are opened lazily, up to Options::reader_connections, and each
// runs its callback inside BEGIN ... COMMIT, so every statement of one Read()
// sees one snapshot. Readers are query_only and never checkpoint (not even on
// close).
//
// Thread safety: safe for concurrent use.
#ifndef SQLSTEWARD_CORE_READER_POOL_H_
#define SQLSTEWARD_CORE_READER_POOL_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/connection.h"
#include "base/metrics_recorder.h"

namespace sqlsteward::internal {

class ReaderPool {
 public:
  using Clock = std::chrono::steady_clock;

  ReaderPool(std::string path, const Options& options, MetricsRecorder* metrics);
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  Status Run(const ReadFn& fn, Clock::time_point deadline);
  // Waits for running reads, then closes every connection.
  void Close();

 private:
  Result<Connection*> Acquire(Clock::time_point deadline);
  void Return(Connection* conn);

  const std::string path_;
  const Options options_;
  MetricsRecorder* const metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
  int opening_ = 0;
  bool closed_ = false;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_READER_POOL_H_
