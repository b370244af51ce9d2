#include "core/reader_pool.h"

#include "base/status_builders.h"

namespace sqlsteward::internal {
namespace {

Status StepOnce(Connection* conn, const char* sql) {
  auto stmt = conn->Prepare(sql);
  if (!stmt.has_value()) return std::move(stmt).error();
  int rc = sqlite3_step(*stmt);
  Status st = rc == SQLITE_DONE ? Status() : SqliteStatus(rc, conn->handle(), sql);
  conn->ReturnStatement(*stmt);
  return st;
}

}  // namespace

ReaderPool::ReaderPool(posix::Env* env, std::string path, Role role, const Options& options,
                       MetricsRecorder* metrics)
    : env_(env), path_(std::move(path)), role_(role), options_(options), metrics_(metrics) {}

Result<Connection*> ReaderPool::Acquire(Clock::time_point deadline) {
  MutexLock lock(&mu_);
  while (true) {
    if (closed_) {
      return Unavailable("the database handle is closed", "open a new handle");
    }
    if (!idle_.empty()) {
      Connection* conn = idle_.back();
      idle_.pop_back();
      return conn;
    }
    if (static_cast<int>(all_.size()) + opening_ < options_.reader_connections) {
      ++opening_;
      mu_.Unlock();
      auto conn =
          Connection::Open(env_, path_, role_, options_, deadline, metrics_->busy_counter());
      mu_.Lock();
      --opening_;
      if (!conn.has_value()) {
        cv_.Signal();
        return std::move(conn).error().WithContext("open reader connection");
      }
      all_.push_back(std::move(conn).value());
      return all_.back().get();
    }
    if (!cv_.WaitUntil(&mu_, deadline) && idle_.empty()) {
      return Timeout("all " + std::to_string(options_.reader_connections) +
                         " reader connections stayed busy until the deadline",
                     "raise Options::reader_connections or ReadOptions::timeout, or make "
                     "reads shorter");
    }
  }
}

void ReaderPool::Return(Connection* conn) {
  MutexLock lock(&mu_);
  idle_.push_back(conn);
  if (closed_) {
    cv_.SignalAll();  // Close() waits for the last one.
  } else {
    cv_.Signal();
  }
}

Status ReaderPool::Run(const ReadFn& fn, Clock::time_point deadline) {
  auto acquired = Acquire(deadline);
  if (!acquired.has_value()) {
    metrics_->RecordError(acquired.error().code());
    return std::move(acquired).error();
  }
  Connection* conn = *acquired;
  conn->set_busy_deadline(deadline);
  Status st = StepOnce(conn, "BEGIN");
  if (st.ok()) {
    st = conn->RunRead(fn);
    Status end = StepOnce(conn, st.ok() ? "COMMIT" : "ROLLBACK");
    if (st.ok()) st = std::move(end);
  }
  if (!conn->autocommit()) StepOnce(conn, "ROLLBACK").IgnoreError();
  Return(conn);
  metrics_->RecordRead();
  if (!st.ok()) metrics_->RecordError(st.code());
  return st;
}

void ReaderPool::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
  cv_.SignalAll();
  while (idle_.size() != all_.size() || opening_ != 0) cv_.Wait(&mu_);
  idle_.clear();
  all_.clear();
  cv_.SignalAll();
}

}  // namespace sqlsteward::internal
