// WriteQueue: group commit over the process's single writer connection.
//
// Protocol (the leveldb writer queue, extended across processes):
//   1. A caller appends its job to `queue_` and sleeps on the job's
//      Waiter. If no leader is active, it becomes the leader.
//   2. The leader takes the cross-process write lock (OFD lock on the
//      sidecar, queued by the kernel), then runs BEGIN IMMEDIATE.
//   3. It pops jobs from the front one at a time and runs each inside
//      SAVEPOINT sqlsteward_job: a job that fails or throws is rolled back
//      alone. Jobs that arrive while the batch runs join it, up to
//      max_batch_jobs or max_batch_duration.
//   4. One COMMIT; a PASSIVE checkpoint if the WAL passed its threshold; the
//      write lock is released; every job of the batch is acknowledged.
//   5. The leader leads again until its own job is acknowledged, then hands
//      leadership to the next queued caller (or to the async thread when the
//      front job was submitted by WriteAsync).
//
// Wake-ups: a job's `done` is an atomic its caller checks on waking without
// taking mu_, and callers are woken by a semaphore released after mu_ is
// let go: an acknowledged caller costs one context switch, instead of
// waking on a condition variable only to sleep again on the mutex its
// waker still holds.
//
// Invariants:
//   - The writer connection is used only by the active leader.
//   - A job is either in `queue_` (not taken) or in the leader's batch
//     (taken); only untaken jobs may time out, so kTimeout always means the
//     job never ran.
//   - The write lock is held from before BEGIN IMMEDIATE until after COMMIT
//     and checkpoint: no two sqlsteward processes checkpoint or commit at
//     once, which keeps SQLite's WAL-reset race (3.7.0-3.51.2) from
//     triggering among them.
//   - Lock order: mu_ is never held while waiting for the write lock, for
//     SQLite, or while running a job.
#ifndef SQLSTEWARD_CORE_WRITE_QUEUE_H_
#define SQLSTEWARD_CORE_WRITE_QUEUE_H_

#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/connection.h"
#include "base/metrics_recorder.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/database.h"

namespace sqlsteward::internal {

class WriteQueue {
 public:
  using Clock = std::chrono::steady_clock;

  WriteQueue(Connection* writer, WriteLock* write_lock, const Options& options,
             MetricsRecorder* metrics);
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;
  ~WriteQueue();

  Status Submit(const WriteFn& fn, Clock::time_point deadline);
  std::future<Status> SubmitAsync(WriteFn fn, Clock::time_point deadline);
  // Runs fn in a batch of its own, with `purpose` recorded with the write
  // lock's holder (see DatabaseAccess::WriteExclusive).
  Status SubmitExclusive(const WriteFn& fn, Clock::time_point deadline, std::string purpose);
  // Runs fn with the writer connection outside any transaction, alone in
  // its batch, under the write lock; a checkpoint follows it.
  Status SubmitRaw(const std::function<Status(Connection&)>& fn, Clock::time_point deadline,
                   std::string purpose);
  // A PASSIVE checkpoint under the write lock, as a job in the queue.
  Status Checkpoint(Clock::time_point deadline);

  // Rejects new jobs, waits for the running batch, stops the async leader,
  // then checkpoints under the write lock (best effort, within a second) to
  // leave the WAL small for the next opener. With an OK `reason` (Close)
  // queued jobs still run and new ones get kUnavailable; otherwise (a
  // handover) queued jobs that have not started fail with `reason`, as do
  // new ones. Idempotent.
  void Shutdown(const Status& reason = Status());

 private:
  // What a waiting caller sleeps on, one per sync job. Shared, not on the
  // caller's stack: a waker may still post it after the caller has seen its
  // job done and returned. A post can also arrive for a wait that already
  // ended (a hand-off that crossed the job's completion): every wake-up
  // re-checks the job. A POSIX semaphore: std::counting_semaphore's wait
  // spins on sched_yield first, which here cost more context switches than
  // it saved.
  class Waiter {
   public:
    Waiter() { ::sem_init(&sem_, 0, 0); }
    ~Waiter() { ::sem_destroy(&sem_); }
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    void Wake() { ::sem_post(&sem_); }
    void Wait();
    // False when `deadline` passed first.
    bool WaitUntil(Clock::time_point deadline);

   private:
    sem_t sem_;
  };

  struct Job {
    const WriteFn* fn = nullptr;  // Null for a checkpoint request or a raw job.
    const std::function<Status(Connection&)>* raw_fn = nullptr;  // No transaction.
    WriteFn owned_fn;             // Async jobs own their function.
    Clock::time_point deadline;
    Clock::time_point enqueued;
    Status status;  // Written before `done` is set.
    bool taken = false;
    // Set once, last: the job may be gone as soon as its caller sees it.
    std::atomic<bool> done{false};
    bool checkpoint = false;
    bool exclusive = false;  // Runs alone in its batch.
    std::string purpose;     // Recorded with the lock holder.
    std::shared_ptr<Waiter> waiter;               // Sync jobs: their caller.
    std::optional<std::promise<Status>> promise;  // Async jobs (heap, owned here).
  };

  Status SubmitAndWait(Job* job);
  void Enqueue(Job* job);  // REQUIRES: mu_ held.
  // Leads until `self` is done (or, for the async thread, the queue is
  // empty); returns the caller to wake as the next leader, if any.
  std::shared_ptr<Waiter> Lead(std::unique_lock<std::mutex>& lock, Job* self);
  void RunBatch(std::unique_lock<std::mutex>& lock);
  Status RunInSavepoint(Job* job, bool* batch_broken);
  // With the write lock held and mu_ not: runs the front job if it is a raw
  // one, releases the lock and returns true with mu_ held; otherwise returns
  // false with mu_ not held.
  bool RunRawJobIfFront(std::unique_lock<std::mutex>& lock);
  Status CheckpointNow();
  Status StepOnce(const char* sql);
  // Completes a job. A sync job's Waiter is appended to `wakes` when given
  // (to be released once mu_ is let go), else released at once.
  void Finish(Job* job, Status status,
              std::vector<std::shared_ptr<Waiter>>* wakes = nullptr);  // REQUIRES: mu_
  void FailExpired(Clock::time_point now, const Status& why);          // REQUIRES: mu_
  // Passes leadership on: notifies the async thread, or returns the sync
  // caller to wake.
  std::shared_ptr<Waiter> HandOff();  // REQUIRES: mu_
  Status QueueTimeout();                                                        // REQUIRES: mu_
  void AsyncLoop();

  Connection* const writer_;
  WriteLock* const write_lock_;
  const Options options_;
  MetricsRecorder* const metrics_;

  std::mutex mu_;
  std::deque<Job*> queue_;
  bool leader_active_ = false;
  bool waiting_for_lock_ = false;
  bool closed_ = false;
  bool shut_down_ = false;  // The final checkpoint ran (or was tried).
  Status closed_reason_;  // Returned to jobs submitted after Shutdown.
  std::condition_variable idle_cv_;
  std::condition_variable async_cv_;
  bool stop_async_ = false;
  std::thread async_thread_;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_WRITE_QUEUE_H_
