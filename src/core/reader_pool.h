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
#include <memory>
#include <string>
#include <vector>

#include "base/metrics_recorder.h"
#include "base/mutex.h"
#include "core/connection.h"

namespace sqlsteward::internal {

class ReaderPool {
 public:
  using Clock = std::chrono::steady_clock;

  // `role`: kReader, or kReadOnly for a read-only handle's connections.
  ReaderPool(posix::Env* env, std::string path, Role role, const Options& options,
             MetricsRecorder* metrics);
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  Status Run(const ReadFn& fn, Clock::time_point deadline) EXCLUDES(mu_);
  // Waits for running reads, then closes every connection.
  void Close() EXCLUDES(mu_);

 private:
  Result<Connection*> Acquire(Clock::time_point deadline) EXCLUDES(mu_);
  void Return(Connection* conn) EXCLUDES(mu_);

  posix::Env* const env_;
  const std::string path_;
  const Role role_;
  const Options options_;
  MetricsRecorder* const metrics_;

  Mutex mu_;
  CondVar cv_;  // A connection was returned, or an open failed, or Close.
  std::vector<std::unique_ptr<Connection>> all_ GUARDED_BY(mu_);
  std::vector<Connection*> idle_ GUARDED_BY(mu_);
  int opening_ GUARDED_BY(mu_) = 0;  // Opens in progress, mu_ let go.
  bool closed_ GUARDED_BY(mu_) = false;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_READER_POOL_H_
