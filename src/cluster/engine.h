// ClusterEngine: a Database handle's writes and reads on a dqlite cluster
// (Database::Open("dqlite://h:p[,h:p...]/name"); docs/cluster.md).
//
// Writes: group commit, one Raft round per batch. Callers queue their jobs;
// one batch thread per handle drains the queue and runs each batch on the
// handle's one writer Client, connected to the leader:
//   BEGIN IMMEDIATE
//   per job: SAVEPOINT sqlsteward_job; the job; RELEASE (or ROLLBACK TO and
//            RELEASE: a failing job is undone alone and gets its own error)
//   INSERT INTO _sqlsteward_batches(id, at): the batch's idempotency record,
//            a random 128-bit id (cluster/batch_record.h)
//   COMMIT
// then acknowledges every job of the batch.
//
// Outcome of a batch (invariant: a job is acknowledged OK only if its batch
// committed, and fails only if it did not):
//   - COMMIT answered: committed, or (an error) rolled back.
//   - the connection failed before COMMIT was sent (kUnavailable): nothing
//     of the transaction applied (dqlite rolls back a transaction whose
//     connection is gone); reconnect to the leader and run the batch again.
//   - COMMIT was sent and its answer lost (kUnknownOutcome, canonical/dqlite
//     #46): reconnect to the (new) leader and look the batch's id up. dqlite
//     runs a Raft barrier before a query on the leader, so every entry the
//     old leader replicated is applied or gone for good by then: present ->
//     the batch committed, acknowledge it; absent -> it never will, run it
//     again under a new id. Metrics count both (commit_outcome_lookups,
//     commit_outcome_committed, batch_retries).
// A retried batch runs its jobs again: a job must be a deterministic
// function of the database (its effects outside it may happen twice). When
// the deadline of the batch's jobs passes first, each gets kUnavailable
// (nothing applied) or, if the lookup itself could not finish,
// kUnknownOutcome with a hint to look the write up.
//
// Between processes there is no kernel lock: dqlite serialises write
// transactions on the leader and answers a second BEGIN IMMEDIATE with
// SQLITE_BUSY (kTimeout); the batch thread retries it with a short backoff
// until the deadline. Nothing of a job has run by then.
//
// Reads: a pool of up to Options::reader_connections Clients, each read in
// BEGIN ... COMMIT on the leader (dqlite serves queries on the leader only,
// after a barrier: a read sees every write acknowledged before it began).
// A read whose connection fails before its callback returned is run again
// on a new connection, within its deadline.
//
// Thread safety: every public method may be called concurrently. Lock
// order: mu_ (the queue) is never held while a job runs or a request is in
// flight; pool_mu_ likewise.
#ifndef SQLSTEWARD_CLUSTER_ENGINE_H_
#define SQLSTEWARD_CLUSTER_ENGINE_H_

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics_recorder.h"
#include "base/mutex.h"
#include "cluster/client.h"
#include "core/engine.h"
#include "sqlsteward/options.h"

namespace sqlsteward::cluster {

// Opens an engine on `address` ("dqlite://..."): connects to the leader,
// opens the database and creates the idempotency table if needed.
Result<std::unique_ptr<internal::Engine>> OpenClusterEngine(const std::string& address,
                                                            const Options& options,
                                                            internal::MetricsRecorder* metrics);

// Tests only: `before` runs just before a batch's COMMIT is sent (e.g. to
// stop the leader); `answer` sees every COMMIT's answer before the engine
// does and may replace it (e.g. with the kUnknownOutcome of an answer lost
// after the commit applied). Set them before opening the handle, clear them
// after closing it.
struct CommitHooksForTesting {
  std::function<void()> before;
  std::function<Status(Status)> answer;
};
void SetCommitHooksForTesting(CommitHooksForTesting hooks);

class ClusterEngine final : public internal::Engine {
 public:
  ClusterEngine(Address address, const Options& options, internal::MetricsRecorder* metrics);
  ~ClusterEngine() override;

  // Connects the writer and creates the idempotency table.
  Status Start(Clock::time_point deadline);

  Status Write(const WriteFn& fn, Clock::time_point deadline) override;
  std::future<Status> WriteAsync(WriteFn fn, Clock::time_point deadline) override;
  Status WriteExclusive(const WriteFn& fn, Clock::time_point deadline,
                        std::string_view purpose) override;
  Status Read(const ReadFn& fn, Clock::time_point deadline) override;
  Result<std::vector<internal::EngineFile>> Dump(Clock::time_point deadline) override;
  Status Close() override;

 private:
  struct Job {
    WriteFn fn;
    Clock::time_point deadline;
    Clock::time_point enqueued;
    bool exclusive = false;
    Status status;
    std::promise<Status> done;
  };
  // What became of one try of a batch.
  enum class Outcome { kCommitted, kRolledBack, kNotApplied, kUnknown };

  std::future<Status> Enqueue(WriteFn fn, Clock::time_point deadline, bool exclusive)
      EXCLUDES(mu_);
  void BatchLoop() EXCLUDES(mu_);
  void RunBatch(std::vector<std::unique_ptr<Job>>& batch);
  // One try: BEGIN .. COMMIT on the writer. *error: why it did not commit.
  Outcome TryBatch(std::vector<std::unique_ptr<Job>>& batch, const std::string& batch_id,
                   Clock::time_point deadline, Status* error);
  // After a lost COMMIT answer: true/false = the record is (not) there;
  // an error when no leader answered before `deadline`.
  Result<bool> LookUp(const std::string& batch_id, Clock::time_point deadline);
  Status EnsureWriter(Clock::time_point deadline);
  Result<std::unique_ptr<Client>> Connect(Clock::time_point deadline) const;

  const Address address_;
  const Options options_;
  internal::MetricsRecorder* const metrics_;
  const ClientOptions client_options_;

  // Only the batch thread (or Start, before it runs) uses the writer.
  std::unique_ptr<Client> writer_;
  std::uint64_t batches_ = 0;

  Mutex mu_;
  CondVar cv_;
  std::deque<std::unique_ptr<Job>> queue_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  std::thread batch_thread_;

  Mutex pool_mu_;
  CondVar pool_cv_;
  std::vector<std::unique_ptr<Client>> idle_readers_ GUARDED_BY(pool_mu_);
  int readers_out_ GUARDED_BY(pool_mu_) = 0;
};

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_ENGINE_H_
