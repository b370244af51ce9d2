// WriteQueue: group commit over the process's single writer connection.
//
// Protocol (the leveldb writer queue, extended across processes):
//   1. A caller appends its job to `queue_` and sleeps on the job's
//      Waiter. If no leader is active, it becomes the leader.
//   2. The leader takes the cross-process write lock (OFD lock on the
//      sidecar, queued by the kernel), then runs BEGIN IMMEDIATE.
//   3. It pops jobs from the front one at a time and runs each inside
//      SAVEPOINT sqlsteward_job: a job that fails or throws is rolled back
//      alone. The first job of a batch needs no savepoint: the transaction
//      holds nothing else, so when it fails, ROLLBACK undoes exactly it, and
//      the batch ends there (the jobs behind it get the next one). That
//      spares an uncontended write two statements. Jobs that arrive while
//      the batch runs join it, up to max_batch_jobs or max_batch_duration.
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
//     SQLite, or while running a job (docs/design.md, "Lock order").
#ifndef SQLSTEWARD_CORE_WRITE_QUEUE_H_
#define SQLSTEWARD_CORE_WRITE_QUEUE_H_

#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics_recorder.h"
#include "base/mutex.h"
#include "core/connection.h"
#include "core/stale_entry.h"
#include "sidecar/write_lock.h"
#include "sqlsteward/probe.h"
#include "sqlsteward/transaction.h"

namespace sqlsteward::internal {

class WriteQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // `fs_kind`: the filesystem of the database's directory, for
  // RetryStaleEntry.
  WriteQueue(Connection* writer, WriteLock* write_lock, const Options& options,
             MetricsRecorder* metrics, FsKind fs_kind);
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;
  ~WriteQueue();

  Status Submit(const WriteFn& fn, Clock::time_point deadline) EXCLUDES(mu_);
  std::future<Status> SubmitAsync(WriteFn fn, Clock::time_point deadline) EXCLUDES(mu_);
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
  void Shutdown(const Status& reason = Status()) EXCLUDES(mu_);

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
    WriteFn owned_fn;                                            // Async jobs own their function.
    Clock::time_point deadline;
    Clock::time_point enqueued;
    Status status;  // Written before `done` is set.
    bool taken = false;
    // Set once, last: the job may be gone as soon as its caller sees it.
    std::atomic<bool> done{false};
    bool checkpoint = false;
    bool exclusive = false;                       // Runs alone in its batch.
    std::string purpose;                          // Recorded with the lock holder.
    std::shared_ptr<Waiter> waiter;               // Sync jobs: their caller.
    std::optional<std::promise<Status>> promise;  // Async jobs (heap, owned here).
  };

  Status SubmitAndWait(Job* job) EXCLUDES(mu_);
  void Enqueue(Job* job) REQUIRES(mu_);
  // Leads until `self` is done (or, for the async thread, the queue is
  // empty); returns the caller to wake as the next leader, if any. mu_ is
  // let go while a batch waits for locks, runs jobs and commits.
  std::shared_ptr<Waiter> Lead(Job* self) REQUIRES(mu_);
  void RunBatch() REQUIRES(mu_);
  Status RunInSavepoint(Job* job, bool* batch_broken);
  // The first job of the transaction, without a savepoint; on failure it
  // rolls the transaction back and sets *rolled_back.
  Status RunFirst(Job* job, bool* rolled_back);
  // With the write lock held: when the front job is a raw one, runs it
  // (mu_ let go meanwhile), releases the write lock and returns true.
  bool RunRawJobIfFront() REQUIRES(mu_);
  Status CheckpointNow();
  Status StepOnce(const char* sql);
  // After BEGIN IMMEDIATE failed with *error (nothing ran, the write lock
  // released): true when it may be a -journal that this host's entry cache
  // still lists (core/stale_entry.h) and the batch should be tried again,
  // after a pause; when time is up, *error says so.
  bool RetryStaleEntry(Clock::time_point deadline, Status* error);
  // Completes a job. A sync job's Waiter is appended to `wakes` when given
  // (to be released once mu_ is let go), else released at once.
  void Finish(Job* job, Status status, std::vector<std::shared_ptr<Waiter>>* wakes = nullptr)
      REQUIRES(mu_);
  void FailExpired(Clock::time_point now, const Status& why) REQUIRES(mu_);
  // Passes leadership on: notifies the async thread, or returns the sync
  // caller to wake.
  std::shared_ptr<Waiter> HandOff() REQUIRES(mu_);
  Status QueueTimeout() REQUIRES(mu_);
  void AsyncLoop() EXCLUDES(mu_);

  Connection* const writer_;
  WriteLock* const write_lock_;
  const Options options_;
  MetricsRecorder* const metrics_;
  const FsKind fs_kind_;
  // Since the first BEGIN IMMEDIATE that met a stale entry; only the
  // active leader uses it.
  std::optional<StaleEntryWait> stale_;

  Mutex mu_;
  std::deque<Job*> queue_ GUARDED_BY(mu_);
  bool leader_active_ GUARDED_BY(mu_) = false;
  bool waiting_for_lock_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
  bool shut_down_ GUARDED_BY(mu_) = false;  // The final checkpoint ran (or was tried).
  Status closed_reason_ GUARDED_BY(mu_);    // Returned to jobs submitted after Shutdown.
  CondVar idle_cv_;                         // Signalled when the queue is empty and no leader runs.
  CondVar async_cv_;                        // Wakes the async leader.
  bool stop_async_ GUARDED_BY(mu_) = false;
  // Started under mu_ by the first SubmitAsync; joined by Shutdown once no
  // SubmitAsync can start it any more.
  std::thread async_thread_;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_WRITE_QUEUE_H_
