#include "cluster/engine.h"

#include <algorithm>
#include <thread>

#include "base/status_builders.h"
#include "cluster/batch_record.h"
#include "cluster/client_session.h"
#include "core/remote.h"

namespace sqlsteward::cluster {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t MicrosBetween(Clock::time_point a, Clock::time_point b) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
  return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

// The connection, not the statement, failed: the transaction on it is gone.
bool Broken(const Status& st) {
  return st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kUnknownOutcome;
}

bool Busy(const Status& st) { return st.code() == StatusCode::kTimeout; }

// dqlite answers a second writer's BEGIN IMMEDIATE with SQLITE_BUSY at once:
// back off briefly (the holder's transaction is one Raft round) and retry.
void BackOff(int attempt, Clock::time_point deadline) {
  auto pause = std::chrono::microseconds(200) * (1 << std::min(attempt, 6));
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return;
  std::this_thread::sleep_for(std::min<Clock::duration>(pause, left));
}

Status NotApplied(const Status& why) {
  return Unavailable("no leader committed the write before its deadline (" +
                         std::string(why.message()) + "); nothing of it was applied",
                     "retry the write; check `sqlsteward cluster status` for a quorum of nodes");
}

Status QueueTimeout() {
  return Timeout("write not started before its deadline",
                 "retry with a longer WriteOptions::timeout; the cluster may be electing a leader");
}

CommitHooksForTesting& Hooks() {
  static CommitHooksForTesting hooks;
  return hooks;
}

Status ClosedStatus() {
  return Unavailable("the database handle is closed",
                     "open a new handle; writes queued before Close() were completed");
}

}  // namespace

void SetCommitHooksForTesting(CommitHooksForTesting hooks) { Hooks() = std::move(hooks); }

Result<std::unique_ptr<internal::Engine>> OpenClusterEngine(const std::string& address,
                                                            const Options& options,
                                                            internal::MetricsRecorder* metrics) {
  SQLSTEWARD_ASSIGN_OR_RETURN(Address parsed, ParseAddress(address));
  IgnoreSigpipe();
  auto engine = std::make_unique<ClusterEngine>(std::move(parsed), options, metrics);
  auto timeout = options.write_timeout.count() > 0 ? options.write_timeout
                                                   : std::chrono::milliseconds(30'000);
  SQLSTEWARD_RETURN_IF_ERROR(engine->Start(Clock::now() + timeout).WithContext("open " + address));
  return std::unique_ptr<internal::Engine>(std::move(engine));
}

ClusterEngine::ClusterEngine(Address address, const Options& options,
                             internal::MetricsRecorder* metrics)
    : address_(std::move(address)), options_(options), metrics_(metrics) {}

ClusterEngine::~ClusterEngine() { Close().IgnoreError(); }

Result<std::unique_ptr<Client>> ClusterEngine::Connect(Clock::time_point deadline) const {
  while (true) {
    auto client = Client::ConnectToLeader(address_.nodes, deadline, client_options_);
    if (!client.has_value()) return std::move(client).error();
    Status opened = (*client)->Open(address_.database);
    if (opened.ok()) return std::move(client).value();
    // The leader went away between the two requests: find the next one.
    if (!Broken(opened) || Clock::now() >= deadline) return opened;
  }
}

Status ClusterEngine::EnsureWriter(Clock::time_point deadline) {
  if (writer_ != nullptr) return Status();
  SQLSTEWARD_ASSIGN_OR_RETURN(writer_, Connect(deadline));
  return Status();
}

Status ClusterEngine::Start(Clock::time_point deadline) {
  for (int attempt = 0;; ++attempt) {
    Status st = EnsureWriter(deadline);
    // A read-only handle writes nothing, not even the batch records' table.
    if (st.ok() && !options_.read_only) st = writer_->ExecSql(kCreateBatchRecords).status();
    if (st.ok()) break;
    if (Broken(st)) writer_.reset();
    if ((!Broken(st) && !Busy(st)) || Clock::now() >= deadline) return st;
    BackOff(attempt, deadline);
  }
  batch_thread_ = std::thread(&ClusterEngine::BatchLoop, this);
  return Status();
}

std::future<Status> ClusterEngine::Enqueue(WriteFn fn, Clock::time_point deadline,
                                           bool exclusive) {
  auto job = std::make_unique<Job>();
  job->fn = std::move(fn);
  job->deadline = deadline;
  job->enqueued = Clock::now();
  job->exclusive = exclusive;
  std::future<Status> future = job->done.get_future();
  MutexLock lock(&mu_);
  if (closed_) {
    job->done.set_value(ClosedStatus());
    return future;
  }
  queue_.push_back(std::move(job));
  cv_.Signal();
  return future;
}

Status ClusterEngine::Write(const WriteFn& fn, Clock::time_point deadline) {
  return Enqueue(fn, deadline, false).get();
}

std::future<Status> ClusterEngine::WriteAsync(WriteFn fn, Clock::time_point deadline) {
  return Enqueue(std::move(fn), deadline, false);
}

Status ClusterEngine::WriteExclusive(const WriteFn& fn, Clock::time_point deadline,
                                     std::string_view) {
  return Enqueue(fn, deadline, true).get();
}

void ClusterEngine::BatchLoop() {
  std::vector<std::unique_ptr<Job>> batch;
  while (true) {
    {
      MutexLock lock(&mu_);
      while (!closed_ && queue_.empty()) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // Closed and drained.
      const auto now = Clock::now();
      while (!queue_.empty() && batch.size() < options_.max_batch_jobs) {
        if (queue_.front()->exclusive && !batch.empty()) break;
        std::unique_ptr<Job> job = std::move(queue_.front());
        queue_.pop_front();
        if (job->deadline <= now) {
          // Still in the queue at its deadline: it never ran.
          metrics_->RecordError(StatusCode::kTimeout);
          job->done.set_value(QueueTimeout());
          continue;
        }
        const bool exclusive = job->exclusive;
        batch.push_back(std::move(job));
        if (exclusive) break;
      }
    }
    if (!batch.empty()) RunBatch(batch);
    batch.clear();
  }
}

void ClusterEngine::RunBatch(std::vector<std::unique_ptr<Job>>& batch) {
  Clock::time_point deadline = Clock::time_point::min();
  for (const auto& job : batch) deadline = std::max(deadline, job->deadline);
  const auto start = Clock::now();
  Status error;
  bool committed = false;
  while (true) {
    const std::string id = NewBatchId();
    for (auto& job : batch) job->status = Status();
    Outcome outcome = TryBatch(batch, id, deadline, &error);
    if (outcome == Outcome::kUnknown) {
      writer_.reset();
      // Resolve even when the deadline is close: a truthful answer is worth
      // a little more waiting than a kUnknownOutcome.
      auto found = LookUp(id, std::max(deadline, Clock::now() + std::chrono::seconds(2)));
      if (!found.has_value()) {
        error = UnknownOutcome(
            "the write's COMMIT was sent, its answer was lost and no leader could be asked "
            "whether it committed (" + std::string(found.error().message()) + ")",
            "look for the write's effect before retrying it; batch id " + id +
                " is in _sqlsteward_batches exactly if it committed");
        break;
      }
      metrics_->RecordOutcomeLookup(*found);
      if (*found) {
        committed = true;
        break;
      }
      outcome = Outcome::kNotApplied;
    }
    if (outcome == Outcome::kCommitted) {
      committed = true;
      break;
    }
    if (outcome == Outcome::kRolledBack) break;
    // kNotApplied: nothing of the batch is in the database.
    if (Clock::now() >= deadline) {
      error = NotApplied(error);
      break;
    }
    metrics_->RecordBatchRetry();
  }
  const auto end = Clock::now();

  internal::MetricsRecorder::Batch stats;
  stats.jobs = batch.size();
  stats.commit_us = MicrosBetween(start, end);
  std::vector<std::uint64_t> latencies;
  latencies.reserve(batch.size());
  for (const auto& job : batch) latencies.push_back(MicrosBetween(job->enqueued, end));
  metrics_->RecordBatch(stats, latencies);
  ++batches_;

  for (auto& job : batch) {
    // A job keeps its own error; a successful one reports the batch's fate.
    Status result = std::move(job->status);
    if (result.ok() && !committed) result = error;
    if (!result.ok()) metrics_->RecordError(result.code());
    job->done.set_value(std::move(result));
  }
}

ClusterEngine::Outcome ClusterEngine::TryBatch(std::vector<std::unique_ptr<Job>>& batch,
                                               const std::string& batch_id,
                                               Clock::time_point deadline, Status* error) {
  // Ends the try after a failed statement: a broken connection applied
  // nothing; otherwise the transaction is rolled back here.
  auto fail = [&](Status st) {
    *error = std::move(st);
    if (Broken(*error)) {
      writer_.reset();
      return Outcome::kNotApplied;
    }
    if (writer_->ExecSql("ROLLBACK").status().code() == StatusCode::kUnavailable) {
      writer_.reset();
    }
    return Outcome::kRolledBack;
  };

  for (int attempt = 0;; ++attempt) {
    Status st = EnsureWriter(deadline);
    if (!st.ok()) {
      *error = std::move(st);
      return Outcome::kNotApplied;
    }
    st = writer_->ExecSql("BEGIN IMMEDIATE").status();
    if (st.ok()) break;
    if (Broken(st)) {
      writer_.reset();
    } else if (!Busy(st)) {
      *error = std::move(st);
      return Outcome::kRolledBack;
    }
    if (Clock::now() >= deadline) {
      *error = Busy(st) ? Timeout("another writer held the cluster's write transaction past the "
                                  "write's deadline (" + std::string(st.message()) + ")",
                                  "retry; writers of other processes take turns on the leader")
                        : st;
      return Busy(st) ? Outcome::kRolledBack : Outcome::kNotApplied;
    }
    BackOff(attempt, deadline);
  }

  ClientSession session(writer_.get(), ClientSession::Kind::kWrite);
  for (auto& job : batch) {
    if (Status st = writer_->ExecSql("SAVEPOINT sqlsteward_job").status(); !st.ok()) return fail(std::move(st));
    job->status = internal::RemoteAccess::RunJob(&session, job->fn);
    if (job->status.ok()) {
      Status released = writer_->ExecSql("RELEASE sqlsteward_job").status();
      if (released.ok()) continue;
      if (Broken(released)) return fail(std::move(released));
      job->status = std::move(released);
    }
    Status undone = writer_->ExecSql("ROLLBACK TO sqlsteward_job").status();
    if (undone.ok()) undone = writer_->ExecSql("RELEASE sqlsteward_job").status();
    if (!undone.ok()) {
      if (Broken(undone)) return fail(std::move(undone));
      return fail(Aborted("the batch was rolled back: a failed job's savepoint could not be "
                          "rolled back (" + std::string(undone.message()) + ")",
                          "retry the write"));
    }
  }

  const std::int64_t now_ms = NowUnixMillis();
  const Value record[] = {batch_id, now_ms};
  if (Status st = writer_->ExecSql(kInsertBatchRecord, record).status(); !st.ok()) return fail(std::move(st));
  if (batches_ % kPruneEvery == kPruneEvery - 1) {
    const Value cutoff[] = {now_ms - std::chrono::milliseconds(kBatchRecordRetention).count()};
    if (Status st = writer_->ExecSql(kPruneBatchRecords, cutoff).status(); !st.ok()) return fail(std::move(st));
  }

  if (Hooks().before) [[unlikely]] Hooks().before();
  Status commit = writer_->ExecSql("COMMIT").status();
  if (Hooks().answer) [[unlikely]] commit = Hooks().answer(std::move(commit));
  if (commit.ok()) return Outcome::kCommitted;
  *error = commit;
  if (commit.code() == StatusCode::kUnknownOutcome) return Outcome::kUnknown;
  return fail(commit.WithContext("COMMIT"));
}

Result<bool> ClusterEngine::LookUp(const std::string& batch_id, Clock::time_point deadline) {
  const Value id[] = {batch_id};
  Status last;
  while (true) {
    auto client = Connect(deadline);
    if (!client.has_value()) return std::move(client).error();
    auto rows = (*client)->QuerySql(kLookUpBatchRecord, id);
    if (rows.has_value()) {
      writer_ = std::move(client).value();
      if (rows->rows.empty() || rows->rows[0].empty()) {
        return Internal("the batch lookup returned no row", "report this as a bug");
      }
      return internal::RemoteInt64(rows->rows[0][0]) > 0;
    }
    if (!Broken(rows.error()) || Clock::now() >= deadline) return std::move(rows).error();
  }
}

Status ClusterEngine::Read(const ReadFn& fn, Clock::time_point deadline) {
  metrics_->RecordRead();
  Status result;
  while (true) {
    std::unique_ptr<Client> client;
    {
      MutexLock lock(&pool_mu_);
      while (idle_readers_.empty() && readers_out_ >= options_.reader_connections) {
        if (!pool_cv_.WaitUntil(&pool_mu_, deadline) && Clock::now() >= deadline) {
          metrics_->RecordError(StatusCode::kTimeout);
          return Timeout("no reader connection came free before the read's deadline",
                         "retry; raise Options::reader_connections if reads queue often");
        }
      }
      if (!idle_readers_.empty()) {
        client = std::move(idle_readers_.back());
        idle_readers_.pop_back();
      }
      ++readers_out_;
    }
    if (client == nullptr) {
      auto connected = Connect(deadline);
      if (connected.has_value()) {
        client = std::move(connected).value();
      } else {
        result = std::move(connected).error();
      }
    }
    bool retry = false;
    if (client != nullptr) {
      result = client->ExecSql("BEGIN").status();
      if (result.ok()) {
        ClientSession session(client.get(), ClientSession::Kind::kRead);
        result = internal::RemoteAccess::RunRead(&session, fn);
        Status ended = client->ExecSql("ROLLBACK").status();
        if (Broken(ended)) {
          client.reset();
          // The callback's answer stands unless the connection failed under it.
          retry = Broken(result);
        }
      } else if (Broken(result)) {
        client.reset();
        retry = true;
      }
    }
    {
      MutexLock lock(&pool_mu_);
      --readers_out_;
      if (client != nullptr) idle_readers_.push_back(std::move(client));
      pool_cv_.Signal();
    }
    if (!retry || Clock::now() >= deadline) break;
  }
  if (!result.ok()) metrics_->RecordError(result.code());
  return result;
}

Result<std::vector<internal::EngineFile>> ClusterEngine::Dump(Clock::time_point deadline) {
  while (true) {
    SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Connect(deadline));
    auto files = client->Dump(address_.database);
    if (files.has_value()) {
      std::vector<internal::EngineFile> out;
      for (DumpFile& f : *files) out.push_back({std::move(f.name), std::move(f.data)});
      return out;
    }
    if (!Broken(files.error()) || Clock::now() >= deadline) return std::move(files).error();
  }
}

Status ClusterEngine::Close() {
  {
    MutexLock lock(&mu_);
    closed_ = true;
    cv_.SignalAll();
  }
  if (batch_thread_.joinable()) batch_thread_.join();
  writer_.reset();
  MutexLock lock(&pool_mu_);
  idle_readers_.clear();
  return Status();
}

}  // namespace sqlsteward::cluster
