#include "core/write_queue.h"

#include <time.h>

#include <algorithm>
#include <cerrno>

#include "base/status_builders.h"
#include "sidecar/format.h"

namespace sqlsteward::internal {
namespace {

std::uint64_t MicrosBetween(std::chrono::steady_clock::time_point a,
                            std::chrono::steady_clock::time_point b) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
  return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

Status Closed() {
  return Unavailable("the database handle is closed",
                     "open a new handle; writes queued before Close() were completed");
}

}  // namespace

WriteQueue::WriteQueue(Connection* writer, WriteLock* write_lock, const Options& options,
                       MetricsRecorder* metrics, FsKind fs_kind)
    : writer_(writer),
      write_lock_(write_lock),
      options_(options),
      metrics_(metrics),
      fs_kind_(fs_kind) {}

WriteQueue::~WriteQueue() { Shutdown(); }

void WriteQueue::Waiter::Wait() {
  while (::sem_wait(&sem_) != 0 && errno == EINTR) {
  }
}

bool WriteQueue::Waiter::WaitUntil(Clock::time_point deadline) {
  // steady_clock is CLOCK_MONOTONIC.
  const auto since_epoch = deadline.time_since_epoch();
  const auto capped = std::min<Clock::duration>(since_epoch, std::chrono::hours(24 * 365 * 100));
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(capped);
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(secs.count());
  ts.tv_nsec = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(capped - secs).count());
  while (true) {
    if (::sem_clockwait(&sem_, CLOCK_MONOTONIC, &ts) == 0) return true;
    if (errno != EINTR) return false;  // ETIMEDOUT
  }
}

void WriteQueue::Enqueue(Job* job) {
  job->enqueued = Clock::now();
  queue_.push_back(job);
}

Status WriteQueue::Submit(const WriteFn& fn, Clock::time_point deadline) {
  Job job;
  job.fn = &fn;
  job.deadline = deadline;
  return SubmitAndWait(&job);
}

Status WriteQueue::SubmitExclusive(const WriteFn& fn, Clock::time_point deadline,
                                   std::string purpose) {
  Job job;
  job.fn = &fn;
  job.deadline = deadline;
  job.exclusive = true;
  job.purpose = std::move(purpose);
  return SubmitAndWait(&job);
}

Status WriteQueue::SubmitRaw(const std::function<Status(Connection&)>& fn,
                             Clock::time_point deadline, std::string purpose) {
  Job job;
  job.raw_fn = &fn;
  job.deadline = deadline;
  job.exclusive = true;
  job.purpose = std::move(purpose);
  return SubmitAndWait(&job);
}

Status WriteQueue::Checkpoint(Clock::time_point deadline) {
  Job job;
  job.checkpoint = true;
  job.deadline = deadline;
  return SubmitAndWait(&job);
}

Status WriteQueue::SubmitAndWait(Job* job) {
  // Shared with whoever wakes this caller: it may post after we returned.
  auto me = std::make_shared<Waiter>();
  job->waiter = me;
  mu_.Lock();
  if (closed_) {
    Status refused = closed_reason_.ok() ? Closed() : closed_reason_;
    mu_.Unlock();
    return refused;
  }
  Enqueue(job);
  while (true) {
    if (job->done.load(std::memory_order_acquire)) {
      mu_.Unlock();
      break;
    }
    if (!leader_active_) {
      // Leads until this job is done, then wakes the next leader.
      std::shared_ptr<Waiter> next = Lead(job);
      mu_.Unlock();
      if (next != nullptr) next->Wake();
      break;
    }
    const bool taken = job->taken;
    mu_.Unlock();
    // A taken job is in the running batch: it finishes, whatever its
    // deadline says.
    bool woken = true;
    if (taken) {
      me->Wait();
    } else {
      woken = me->WaitUntil(job->deadline);
    }
    if (job->done.load(std::memory_order_acquire)) break;
    mu_.Lock();
    if (!woken && !job->taken && leader_active_ && !job->done.load(std::memory_order_relaxed)) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), job));
      job->status = QueueTimeout();
      job->done.store(true, std::memory_order_relaxed);
      metrics_->RecordError(StatusCode::kTimeout);
    }
  }
  return std::move(job->status);
}

std::future<Status> WriteQueue::SubmitAsync(WriteFn fn, Clock::time_point deadline) {
  auto* job = new Job;
  job->owned_fn = std::move(fn);
  job->fn = &job->owned_fn;
  job->deadline = deadline;
  job->promise.emplace();
  std::future<Status> future = job->promise->get_future();
  MutexLock lock(&mu_);
  if (closed_) {
    job->promise->set_value(closed_reason_.ok() ? Closed() : closed_reason_);
    delete job;
    return future;
  }
  Enqueue(job);
  if (!async_thread_.joinable()) async_thread_ = std::thread(&WriteQueue::AsyncLoop, this);
  if (!leader_active_) async_cv_.Signal();
  return future;
}

void WriteQueue::AsyncLoop() {
  MutexLock lock(&mu_);
  while (true) {
    while (!stop_async_ && (leader_active_ || queue_.empty())) async_cv_.Wait(&mu_);
    if (!leader_active_ && !queue_.empty()) {
      if (std::shared_ptr<Waiter> next = Lead(nullptr)) next->Wake();
      continue;
    }
    if (stop_async_) return;
  }
}

std::shared_ptr<WriteQueue::Waiter> WriteQueue::Lead(Job* self) {
  leader_active_ = true;
  while (self != nullptr ? !self->done.load(std::memory_order_relaxed) : !queue_.empty()) {
    RunBatch();
  }
  leader_active_ = false;
  return HandOff();
}

std::shared_ptr<WriteQueue::Waiter> WriteQueue::HandOff() {
  if (queue_.empty()) {
    idle_cv_.SignalAll();
    return nullptr;
  }
  Job* front = queue_.front();
  if (front->promise.has_value()) {
    async_cv_.Signal();
    return nullptr;
  }
  return front->waiter;
}

void WriteQueue::Finish(Job* job, Status status, std::vector<std::shared_ptr<Waiter>>* wakes) {
  if (!status.ok()) metrics_->RecordError(status.code());
  if (job->promise.has_value()) {
    job->promise->set_value(std::move(status));
    delete job;
    return;
  }
  // Once `done` is set the caller may return and the job be gone: take its
  // Waiter first.
  std::shared_ptr<Waiter> waiter = std::move(job->waiter);
  job->status = std::move(status);
  job->done.store(true, std::memory_order_release);
  if (wakes != nullptr) {
    wakes->push_back(std::move(waiter));
  } else {
    waiter->Wake();
  }
}

void WriteQueue::FailExpired(Clock::time_point now, const Status& why) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->deadline <= now) {
      Job* job = *it;
      it = queue_.erase(it);
      Finish(job, why);
    } else {
      ++it;
    }
  }
}

Status WriteQueue::QueueTimeout() {
  if (waiting_for_lock_) {
    auto holder = write_lock_->CurrentHolder();
    if (holder.has_value() && holder->has_value()) {
      return Timeout("write not started before its deadline: waiting for the write lock on " +
                         write_lock_->path() + ", held by " + DescribeHolder(**holder),
                     "retry; if the holder is stuck, inspect or stop that process");
    }
  }
  return Timeout("write not started before its deadline (" + std::to_string(queue_.size()) +
                     " jobs queued in this process)",
                 "retry with a longer WriteOptions::timeout, or make jobs shorter");
}

Status WriteQueue::StepOnce(const char* sql) {
  auto stmt = writer_->Prepare(sql);
  if (!stmt.has_value()) return std::move(stmt).error();
  int rc = sqlite3_step(*stmt);
  Status st =
      rc == SQLITE_DONE || rc == SQLITE_ROW ? Status() : SqliteStatus(rc, writer_->handle(), sql);
  writer_->ReturnStatement(*stmt);
  return st;
}

Status WriteQueue::RunInSavepoint(Job* job, bool* batch_broken) {
  SQLSTEWARD_RETURN_IF_ERROR(StepOnce("SAVEPOINT sqlsteward_job"));
  Status st = writer_->RunJob(*job->fn);
  if (st.ok()) {
    Status released = StepOnce("RELEASE sqlsteward_job");
    if (released.ok()) return st;
    st = std::move(released);
  }
  Status rolled = StepOnce("ROLLBACK TO sqlsteward_job");
  if (rolled.ok()) rolled = StepOnce("RELEASE sqlsteward_job");
  if (!rolled.ok()) *batch_broken = true;
  return st;
}

Status WriteQueue::RunFirst(Job* job, bool* rolled_back) {
  Status st = writer_->RunJob(*job->fn);
  if (!st.ok()) {
    if (!writer_->autocommit()) StepOnce("ROLLBACK").IgnoreError();
    *rolled_back = true;
  }
  return st;
}

bool WriteQueue::RetryStaleEntry(Clock::time_point deadline, Status* error) {
  if (error->code() != StatusCode::kNotFound) return false;
  if (!stale_.has_value()) stale_.emplace();
  const char* file = sqlite3_db_filename(writer_->handle(), "main");
  if (stale_->Retry(fs_kind_, std::string("write to ") + (file != nullptr ? file : "the database"),
                    deadline, error)) {
    return true;
  }
  stale_.reset();
  return false;
}

Status WriteQueue::CheckpointNow() {
  if (writer_->journal_mode() != JournalMode::kWal) return Status();
  int log = 0;
  int done = 0;
  int rc =
      sqlite3_wal_checkpoint_v2(writer_->handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return SqliteStatus(rc, writer_->handle(), "checkpoint");
  }
  metrics_->RecordCheckpoint(rc == SQLITE_BUSY || done < log);
  return Status();
}

void WriteQueue::RunBatch() {
  FailExpired(Clock::now(), Timeout("write not started before its deadline",
                                    "retry with a longer WriteOptions::timeout"));
  if (queue_.empty()) return;
  // Wait for the locks as long as the job at the front may wait.
  auto deadline = queue_.front()->deadline;
  std::string purpose = queue_.front()->exclusive ? queue_.front()->purpose : std::string();
  waiting_for_lock_ = true;
  mu_.Unlock();

  MetricsRecorder::Batch stats;
  auto lock_start = Clock::now();
  Status st = write_lock_->Acquire(deadline, purpose);
  auto lock_end = Clock::now();
  stats.lock_wait_us = MicrosBetween(lock_start, lock_end);
  mu_.Lock();
  if (st.ok() && RunRawJobIfFront()) return;
  mu_.Unlock();
  if (st.ok()) {
    writer_->set_busy_deadline(deadline);
    st = StepOnce("BEGIN IMMEDIATE");
    if (!st.ok()) write_lock_->Release();
    if (!st.ok() && RetryStaleEntry(deadline, &st)) {
      mu_.Lock();
      waiting_for_lock_ = false;
      return;  // Lead() runs the batch again.
    }
    if (st.ok()) stale_.reset();
  }
  mu_.Lock();
  waiting_for_lock_ = false;
  if (!st.ok()) {
    if (st.code() == StatusCode::kTimeout) {
      // The front job waited as long as it may; later ones wait on.
      FailExpired(std::max(Clock::now(), deadline), st);
    } else {
      FailExpired(Clock::time_point::max(), st);  // A broken lock fails everyone.
    }
    return;
  }

  std::vector<Job*> batch;
  bool want_checkpoint = false;
  bool broken = false;
  bool ran_a_job = false;    // The transaction holds a job's changes.
  bool rolled_back = false;  // The first job failed; its ROLLBACK ended the transaction.
  auto batch_start = Clock::now();
  while (!queue_.empty() && !broken && batch.size() < options_.max_batch_jobs) {
    if (!batch.empty() && Clock::now() - batch_start >= options_.max_batch_duration) break;
    Job* job = queue_.front();
    if (job->exclusive && !batch.empty()) break;  // It gets the next batch.
    queue_.pop_front();
    if (job->deadline <= Clock::now() && !job->checkpoint) {
      Finish(job, Timeout("write not started before its deadline",
                          "retry with a longer WriteOptions::timeout"));
      continue;
    }
    job->taken = true;
    batch.push_back(job);
    if (job->checkpoint) {
      want_checkpoint = true;
      continue;
    }
    mu_.Unlock();
    if (!ran_a_job) {
      job->status = RunFirst(job, &rolled_back);
      ran_a_job = true;
    } else {
      job->status = RunInSavepoint(job, &broken);
    }
    mu_.Lock();
    if (job->exclusive || rolled_back) break;
  }
  mu_.Unlock();

  // A savepoint that could not be rolled back leaves the transaction in an
  // unknown state: the whole batch is rolled back and every job told so.
  // A first job that failed rolled the transaction back alone: nothing of
  // the batch is left to commit.
  Status commit = broken        ? Aborted(
                               "the batch was rolled back: a failed job's savepoint could "
                               "not be rolled back",
                               "retry the write")
                  : rolled_back ? Status()
                                : StepOnce("COMMIT").WithContext("COMMIT");
  if (!commit.ok() && !writer_->autocommit()) StepOnce("ROLLBACK").IgnoreError();
  auto commit_end = Clock::now();
  stats.commit_us = MicrosBetween(lock_end, commit_end);
  stats.wal_bytes = writer_->wal_frames() * writer_->page_size();
  Status checkpoint;
  if (commit.ok() && (want_checkpoint || (options_.checkpoint_wal_bytes > 0 &&
                                          stats.wal_bytes >= options_.checkpoint_wal_bytes))) {
    checkpoint = CheckpointNow();
  }
  write_lock_->Release();

  // Metrics first: once a caller has its acknowledgement, Metrics() shows
  // its batch. The batch's jobs are ours alone until Finish.
  std::vector<std::uint64_t> latencies;
  latencies.reserve(batch.size());
  auto acked_at = Clock::now();
  for (Job* job : batch) latencies.push_back(MicrosBetween(job->enqueued, acked_at));
  stats.jobs = batch.size();
  metrics_->RecordBatch(stats, latencies);

  mu_.Lock();
  std::vector<std::shared_ptr<Waiter>> wakes;
  wakes.reserve(batch.size());
  for (Job* job : batch) {
    // A job keeps its own error; a successful one reports the batch's fate.
    Status result = std::move(job->status);
    if (job->checkpoint) result = checkpoint;
    if (result.ok() && !commit.ok()) result = commit;
    Finish(job, std::move(result), &wakes);
  }
  // The callers read their results without mu_; waking them after it is
  // let go spares each a sleep on it.
  mu_.Unlock();
  for (const std::shared_ptr<Waiter>& waiter : wakes) waiter->Wake();
  mu_.Lock();
}

bool WriteQueue::RunRawJobIfFront() {
  if (queue_.empty() || queue_.front()->raw_fn == nullptr) return false;
  Job* job = queue_.front();
  queue_.pop_front();
  job->taken = true;
  waiting_for_lock_ = false;
  mu_.Unlock();
  writer_->set_busy_deadline(job->deadline);
  Status st = (*job->raw_fn)(*writer_);
  if (st.ok() && !writer_->autocommit()) {
    st = Internal("a raw writer job left a transaction open", "the transaction was rolled back");
  }
  if (!writer_->autocommit()) StepOnce("ROLLBACK").IgnoreError();
  // A raw job (a restore) may have written the whole database into the WAL
  // without the commit hook seeing it: checkpoint while the lock is held.
  CheckpointNow().IgnoreError();
  write_lock_->Release();
  mu_.Lock();
  Finish(job, std::move(st));
  return true;
}

void WriteQueue::Shutdown(const Status& reason) {
  mu_.Lock();
  if (!closed_) closed_reason_ = reason;
  closed_ = true;
  if (!reason.ok()) FailExpired(Clock::time_point::max(), reason);
  if (!leader_active_ && !queue_.empty()) {
    if (std::shared_ptr<Waiter> next = HandOff()) next->Wake();
  }
  while (!queue_.empty() || leader_active_) idle_cv_.Wait(&mu_);
  stop_async_ = true;
  async_cv_.SignalAll();
  const bool first = !shut_down_;
  shut_down_ = true;
  mu_.Unlock();
  if (async_thread_.joinable()) async_thread_.join();
  // No leader can start any more: the writer is ours. Under the write lock,
  // as every checkpoint.
  if (first && writer_->journal_mode() == JournalMode::kWal &&
      write_lock_->Acquire(Clock::now() + std::chrono::seconds(1)).ok()) {
    CheckpointNow().IgnoreError();
    write_lock_->Release();
  }
}

}  // namespace sqlsteward::internal
