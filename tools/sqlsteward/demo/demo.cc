// sqlsteward demo: many processes and threads hammer one database with the
// read-then-write transaction that breaks naive SQLite code, then the demo
// checks that nothing was lost.
//
// The parent removes the previous run's files, creates the `ledger` table,
// closes its handle and starts --processes copies of itself as hidden
// `demo-worker` processes (fork + exec of /proc/self/exe; the protocol is in
// demo_protocol.h). They start together behind a barrier, each with
// --threads threads doing --writes writes. While they run the parent shows
// progress; afterwards it opens the database again, reads it back through
// the library and compares what callers were told with what is on disk.
//
// The parent owns no writes: each worker's group-commit numbers come from
// its own Database::Metrics() in its final protocol line.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include "common/cli.h"
#include "demo/demo_protocol.h"
#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kAbout =
    "Run many processes x threads of read-then-write transactions against one\n"
    "database, then verify that every acknowledged write is present, that no\n"
    "caller saw `database is locked`, and that the file is intact.\n"
    "\n"
    "Each write reads max(n) and inserts max(n)+1 into the table\n"
    "ledger(n INTEGER PRIMARY KEY, pid, thread, at). With a connection per\n"
    "thread this fails with SQLITE_BUSY or duplicate keys; through sqlsteward\n"
    "every write is queued, group-committed and durable (synchronous=FULL).\n"
    "DIR/demo.db and its -wal, -shm, -journal and -steward files are deleted\n"
    "first: every run starts from an empty database.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward demo
  sqlsteward demo --dir /tmp/demo --processes 8 --threads 4 --writes 1000
  sqlsteward demo --json | jq '{ok, acknowledged, rows, writes_per_second}'

Exit status: 0 when every check passed, 1 when one failed (a "FAILED:" line
says which) or the demo could not run (an "error:" line says why).)";

// Open() may wait up to its write_timeout (30 s) for the write lock.
constexpr auto kReadyTimeout = seconds(60);
// Longer than the default write_timeout, so that lock waits surface as
// kTimeout errors in the workers before the parent gives up on them.
constexpr auto kStallTimeout = seconds(60);
constexpr auto kExitGrace = seconds(10);

// DIR/demo.db plus every file SQLite or sqlsteward keeps beside it. A stale
// -journal beside a new database would be taken for a hot journal.
constexpr const char* kFileSuffixes[] = {"", "-wal", "-shm", "-journal", "-steward"};

struct DemoOptions {
  std::string dir = "./data";
  int processes = 4;
  int threads = 8;
  int writes = 500;
  bool json = false;
};

std::string_view JournalModeName(JournalMode mode) {
  return mode == JournalMode::kWal ? "wal" : "delete";
}

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// mkdir -p with mode 0700 for what it creates, as Database::Open would.
Status MakeDirectories(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status();
    return Status(StatusCode::kInvalidArgument, dir + " exists and is not a directory",
                  "pass --dir a directory for the demo's files");
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "stat " + dir);
  std::string parent = std::filesystem::path(dir).parent_path().string();
  if (!parent.empty() && parent != dir) SQLSTEWARD_RETURN_IF_ERROR(MakeDirectories(parent));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir " + dir, "pass --dir a directory you can write to");
  }
  return Status();
}

// Two demos in one directory would delete each other's database mid-run.
// flock(2) on the directory itself: no extra file, released on exit.
Result<UniqueFd> LockDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open " + dir);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status(StatusCode::kFailedPrecondition,
                    "another `sqlsteward demo` is running in " + dir,
                    "wait for it to finish, or pass --dir another directory", 0, errno);
    }
    return ErrnoStatus(errno, "flock " + dir);
  }
  return fd;
}

// Deletes the previous run's files; returns the names it deleted.
Result<std::vector<std::string>> RemovePreviousRun(const std::string& db_path) {
  std::vector<std::string> removed;
  for (const char* suffix : kFileSuffixes) {
    std::string path = db_path + suffix;
    if (::unlink(path.c_str()) == 0) {
      removed.push_back(std::filesystem::path(path).filename().string());
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, "remove " + path,
                         "delete it yourself, or pass --dir another directory");
    }
  }
  return removed;
}

Status CreateSchema(const std::string& db_path, std::string* journal_mode) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(db_path));
  *journal_mode = JournalModeName(db->journal_mode());
  SQLSTEWARD_RETURN_IF_ERROR(
      db->Write([](Transaction& tx) { return tx.ExecScript(demo::kCreateTable); })
          .WithContext("create table ledger"));
  // The parent writes nothing else; closing also keeps its connections and
  // locks out of the workers' way and out of fork().
  return db->Close();
}

Status StatusFromJson(const nlohmann::json& j) {
  StatusCode code = StatusCode::kInternal;
  const std::string name = j.value("code", "");
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    if (StatusCodeName(static_cast<StatusCode>(c)) == name) code = static_cast<StatusCode>(c);
  }
  if (code == StatusCode::kOk) code = StatusCode::kInternal;
  return Status(code, j.value("message", "worker failed"), j.value("hint", ""),
                j.value("sqlite_code", 0), j.value("errno", 0));
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exit status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(wait_status),
                       ::strsignal(WTERMSIG(wait_status)));
  }
  return fmt::format("wait status {}", wait_status);
}

// One worker process as the parent sees it.
struct Worker {
  pid_t pid = -1;
  UniqueFd to_child;    // its stdin; closing it is the start signal
  UniqueFd from_child;  // its stdout: protocol lines
  std::string pending;  // bytes after the last newline
  bool ready = false;
  bool eof = false;
  bool reaped = false;
  int wait_status = 0;
  std::uint64_t acked = 0;   // latest progress or done
  std::uint64_t errors = 0;
  std::optional<nlohmann::json> done;
  std::optional<Status> fail;
  std::string protocol_error;

  void HandleLine(std::string_view line) {
    std::string_view verb = line.substr(0, line.find(' '));
    std::string_view rest = verb.size() < line.size() ? line.substr(verb.size() + 1) : "";
    if (verb == demo::kReady) {
      ready = true;
    } else if (verb == demo::kProgress) {
      unsigned long long a = 0;
      unsigned long long e = 0;
      if (std::sscanf(std::string(rest).c_str(), "%llu %llu", &a, &e) == 2) {
        acked = a;
        errors = e;
      }
    } else if (verb == demo::kDone || verb == demo::kFail) {
      nlohmann::json j = nlohmann::json::parse(rest, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) {
        protocol_error = fmt::format("unreadable line from worker: {}", line);
      } else if (verb == demo::kFail) {
        fail = StatusFromJson(j);
      } else {
        acked = j.value("acked", std::uint64_t{0});
        done = std::move(j);
      }
    }
  }

  // Reads what is available (poll said so) and handles complete lines.
  void ReadAvailable() {
    char buf[4096];
    ssize_t n = ::read(from_child.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
      eof = true;
      from_child.Reset();
      return;
    }
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      HandleLine(std::string_view(pending).substr(start, nl - start));
    }
    pending.erase(0, start);
  }
};

// Owns the worker processes: whatever path leaves the demo, none outlives it.
class WorkerSet {
 public:
  WorkerSet() = default;
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;
  ~WorkerSet() {
    KillAll();
    ReapAll(Clock::now());
  }

  std::vector<Worker>& workers() { return workers_; }

  Status Spawn(const std::vector<std::string>& args) {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
    UniqueFd in_read(in[0]);
    UniqueFd in_write(in[1]);
    if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
    UniqueFd out_read(out[0]);
    UniqueFd out_write(out[1]);

    // Built before fork(): the child may only make async-signal-safe calls.
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    pid_t pid = ::fork();
    if (pid < 0) return ErrnoStatus(errno, "fork", "too many processes? try fewer --processes");
    if (pid == 0) {
      // dup2 clears O_CLOEXEC on the copies; every other pipe end, ours and
      // the other workers', closes on exec, so EOF reaches each worker.
      if (::dup2(in_read.get(), STDIN_FILENO) < 0 || ::dup2(out_write.get(), STDOUT_FILENO) < 0) {
        ::_exit(127);
      }
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    Worker& w = workers_.emplace_back();
    w.pid = pid;
    w.to_child = std::move(in_write);
    w.from_child = std::move(out_read);
    return Status();
  }

  // Waits up to `timeout` for protocol output and handles it.
  Status Pump(milliseconds timeout) {
    std::vector<pollfd> fds;
    std::vector<Worker*> owners;
    for (Worker& w : workers_) {
      if (w.eof) continue;
      fds.push_back({w.from_child.get(), POLLIN, 0});
      owners.push_back(&w);
    }
    if (fds.empty()) return Status();
    int n = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), static_cast<int>(timeout.count()));
    if (n < 0) return errno == EINTR ? Status() : ErrnoStatus(errno, "poll");
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) owners[i]->ReadAvailable();
    }
    return Status();
  }

  // The barrier: every worker sees EOF on stdin at once and starts.
  void Release() {
    for (Worker& w : workers_) w.to_child.Reset();
  }

  void KillAll() {
    for (Worker& w : workers_) {
      if (!w.reaped && w.pid > 0) ::kill(w.pid, SIGKILL);
    }
  }

  // Reaps every worker, killing those still alive at `deadline`.
  void ReapAll(Clock::time_point deadline) {
    for (Worker& w : workers_) {
      while (!w.reaped && w.pid > 0) {
        pid_t r = ::waitpid(w.pid, &w.wait_status, Clock::now() < deadline ? WNOHANG : 0);
        if (r == w.pid || (r < 0 && errno != EINTR)) {
          w.reaped = true;
        } else if (r == 0) {
          if (Clock::now() >= deadline) {
            ::kill(w.pid, SIGKILL);
          } else {
            ::usleep(10'000);
          }
        }
      }
    }
  }

  bool AllEof() const {
    for (const Worker& w : workers_) {
      if (!w.eof) return false;
    }
    return true;
  }

  std::uint64_t Acked() const {
    std::uint64_t sum = 0;
    for (const Worker& w : workers_) sum += w.acked;
    return sum;
  }

 private:
  std::vector<Worker> workers_;
};

// "8000/16000 writes acknowledged  5321 writes/s  1.50 s": \r-updated on a
// terminal, a plain line each second otherwise, nothing with --json.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::uint64_t total)
      : enabled_(enabled), tty_(IsTerminal(stdout)), total_(total) {}

  void Update(std::uint64_t acked, double elapsed, bool final) {
    if (!enabled_) return;
    const double every = tty_ ? 0.1 : 1.0;
    if (!final && elapsed - last_ < every) return;
    last_ = elapsed;
    const double rate = elapsed > 0 ? static_cast<double>(acked) / elapsed : 0.0;
    std::string text = fmt::format("{:>{}}/{} writes acknowledged  {:>7.0f} writes/s  {}", acked,
                                   fmt::formatted_size("{}", total_), total_, rate,
                                   FormatSeconds(elapsed));
    if (tty_) {
      fmt::print("\r{:<{}}{}", text, width_, final ? "\n" : "");
      width_ = std::max(width_, text.size());
    } else {
      fmt::print("{}\n", text);
    }
    std::fflush(stdout);
  }

 private:
  bool enabled_;
  bool tty_;
  std::uint64_t total_;
  double last_ = 0;
  std::size_t width_ = 0;
};

// What the database holds after the run, read in one snapshot.
struct DbFacts {
  std::int64_t rows = 0;
  std::int64_t min_n = 0;
  std::int64_t max_n = 0;
  std::map<std::int64_t, std::int64_t> rows_by_pid;
  std::vector<std::string> integrity;  // "ok", or up to 20 problems
};

Result<DbFacts> ReadFacts(const std::string& db_path, std::string* journal_mode) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(db_path));
  *journal_mode = JournalModeName(db->journal_mode());
  DbFacts facts;
  SQLSTEWARD_RETURN_IF_ERROR(db->Read([&](ReadTransaction& tx) -> Status {
    {
      SQLSTEWARD_ASSIGN_OR_RETURN(
          Statement totals,
          tx.Prepare("SELECT count(*), coalesce(min(n), 0), coalesce(max(n), 0) FROM ledger"));
      SQLSTEWARD_ASSIGN_OR_RETURN(bool row, totals.Step());
      if (!row) return Status(StatusCode::kInternal, "aggregate query returned no row");
      facts.rows = totals.ColumnInt64(0);
      facts.min_n = totals.ColumnInt64(1);
      facts.max_n = totals.ColumnInt64(2);
    }
    {
      SQLSTEWARD_ASSIGN_OR_RETURN(Statement by_pid,
                                  tx.Prepare("SELECT pid, count(*) FROM ledger GROUP BY pid"));
      for (;;) {
        SQLSTEWARD_ASSIGN_OR_RETURN(bool row, by_pid.Step());
        if (!row) break;
        facts.rows_by_pid[by_pid.ColumnInt64(0)] = by_pid.ColumnInt64(1);
      }
    }
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement check, tx.Prepare("PRAGMA integrity_check(20)"));
    for (;;) {
      SQLSTEWARD_ASSIGN_OR_RETURN(bool row, check.Step());
      if (!row) break;
      facts.integrity.emplace_back(check.ColumnText(0));
    }
    return Status();
  }).WithContext("verify " + db_path));
  SQLSTEWARD_RETURN_IF_ERROR(db->Close());
  return facts;
}

std::string FormatMicros(std::uint64_t us) {
  if (us < 1000) return fmt::format("{} µs", us);
  if (us < 1'000'000) return fmt::format("{:.1f} ms", static_cast<double>(us) / 1e3);
  return fmt::format("{:.2f} s", static_cast<double>(us) / 1e6);
}

Result<int> RunDemo(const DemoOptions& options) {
  const bool text = !options.json;
  const std::string db_path = (std::filesystem::path(options.dir) / "demo.db").string();
  const std::uint64_t per_process =
      static_cast<std::uint64_t>(options.threads) * static_cast<std::uint64_t>(options.writes);
  const std::uint64_t expected = per_process * static_cast<std::uint64_t>(options.processes);

  SQLSTEWARD_RETURN_IF_ERROR(MakeDirectories(options.dir));
  SQLSTEWARD_ASSIGN_OR_RETURN(UniqueFd dir_lock, LockDirectory(options.dir));
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<std::string> removed, RemovePreviousRun(db_path));

  if (text) {
    fmt::print("sqlsteward demo: {} processes × {} threads × {} read-then-write transactions = "
               "{} durable writes\n",
               options.processes, options.threads, options.writes, expected);
    if (!removed.empty()) {
      fmt::print("removed the previous run's files in {}: {}\n", options.dir,
                 fmt::join(removed, ", "));
    }
  }

  std::string journal_mode;
  SQLSTEWARD_RETURN_IF_ERROR(CreateSchema(db_path, &journal_mode));
  if (text) {
    fmt::print("database {} (journal mode {}), table ledger created\n", db_path, journal_mode);
    std::fflush(stdout);
  }

  WorkerSet set;
  const std::vector<std::string> args = {"sqlsteward",
                                         std::string(demo::kWorkerCommand),
                                         "--db",
                                         db_path,
                                         "--threads",
                                         std::to_string(options.threads),
                                         "--writes",
                                         std::to_string(options.writes)};
  for (int i = 0; i < options.processes; ++i) SQLSTEWARD_RETURN_IF_ERROR(set.Spawn(args));

  // Barrier: all workers open the database and start their threads, then
  // all start writing at once.
  const auto ready_deadline = Clock::now() + kReadyTimeout;
  for (;;) {
    bool all_ready = true;
    for (Worker& w : set.workers()) {
      if (w.fail) return w.fail->WithContext(fmt::format("worker {}", w.pid));
      if (!w.ready && w.eof) {
        set.ReapAll(Clock::now() + kExitGrace);
        return Status(StatusCode::kInternal,
                      fmt::format("worker {} ended before it was ready ({})", w.pid,
                                  DescribeExit(w.wait_status)),
                      "see the worker's messages above; the demo re-executes its own binary "
                      "(/proc/self/exe), which must still exist");
      }
      all_ready = all_ready && w.ready;
    }
    if (all_ready) break;
    if (Clock::now() >= ready_deadline) {
      return Status(StatusCode::kTimeout,
                    fmt::format("workers not ready after {} s", kReadyTimeout.count()),
                    "another process may hold the database's write lock; see its -steward file");
    }
    SQLSTEWARD_RETURN_IF_ERROR(set.Pump(milliseconds(100)));
  }
  if (text) {
    std::vector<pid_t> pids;
    for (const Worker& w : set.workers()) pids.push_back(w.pid);
    fmt::print("{} worker processes ready (pids {}), go\n", pids.size(), fmt::join(pids, " "));
    std::fflush(stdout);
  }

  const auto start = Clock::now();
  set.Release();
  ProgressLine progress(text, expected);
  std::vector<std::string> failures;
  std::uint64_t last_acked = 0;
  auto last_change = start;
  while (!set.AllEof()) {
    SQLSTEWARD_RETURN_IF_ERROR(set.Pump(milliseconds(100)));
    const std::uint64_t acked = set.Acked();
    progress.Update(acked, SecondsSince(start), false);
    if (acked != last_acked) {
      last_acked = acked;
      last_change = Clock::now();
    } else if (Clock::now() - last_change > kStallTimeout) {
      failures.push_back(fmt::format("no write was acknowledged for {} s; workers killed",
                                     kStallTimeout.count()));
      set.KillAll();
      break;
    }
  }
  const double wall = SecondsSince(start);
  set.ReapAll(Clock::now() + kExitGrace);
  progress.Update(set.Acked(), wall, true);

  // Sum what the workers told their callers and what their Metrics() saw.
  std::uint64_t acked = 0;
  std::uint64_t busy_like = 0;
  std::uint64_t batches = 0;
  std::uint64_t jobs = 0;
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> first_error;
  Histogram latency;
  for (Worker& w : set.workers()) {
    acked += w.acked;
    if (!w.protocol_error.empty()) failures.push_back(w.protocol_error);
    if (!w.done) {
      failures.push_back(fmt::format("worker {} did not finish ({}); its last report said {} "
                                     "writes acknowledged",
                                     w.pid, DescribeExit(w.wait_status), w.acked));
      continue;
    }
    if (!WIFEXITED(w.wait_status) || WEXITSTATUS(w.wait_status) != 0) {
      failures.push_back(fmt::format("worker {} reported but then {}", w.pid,
                                     DescribeExit(w.wait_status)));
    }
    const nlohmann::json& d = *w.done;
    busy_like += d.value("busy_like", std::uint64_t{0});
    batches += d.value("write_batches", std::uint64_t{0});
    jobs += d.value("write_jobs", std::uint64_t{0});
    for (const auto& [code, count] : d.at("errors").items()) {
      errors[code] += count.get<std::uint64_t>();
    }
    for (const auto& [code, message] : d.at("first_error").items()) {
      first_error.try_emplace(code, message.get<std::string>());
    }
    if (d.contains("write_latency_us")) demo::MergeHistogram(d["write_latency_us"], &latency);
    if (d.contains("close_error")) {
      failures.push_back(fmt::format("worker {}: Close() failed: {}", w.pid,
                                     StatusFromJson(d["close_error"]).ToString()));
    }
  }
  std::uint64_t errors_total = 0;
  for (const auto& [code, count] : errors) errors_total += count;

  SQLSTEWARD_ASSIGN_OR_RETURN(DbFacts facts, ReadFacts(db_path, &journal_mode));
  const auto rows = static_cast<std::uint64_t>(facts.rows);
  // A worker that did not finish reported its acks only up to its last
  // progress line: rows beyond that count are expected, missing rows never.
  bool all_finished = true;
  for (const Worker& w : set.workers()) all_finished = all_finished && w.done.has_value();
  const bool rows_match = rows == acked || (!all_finished && rows > acked);
  const bool contiguous =
      facts.rows == 0 || (facts.min_n == 1 && facts.max_n == facts.rows);
  const bool integrity_ok = facts.integrity.size() == 1 && facts.integrity[0] == "ok";

  if (rows < acked) {
    failures.push_back(fmt::format("{} acknowledged writes are missing ({} acknowledged, {} rows)",
                                   acked - rows, acked, rows));
  } else if (rows > acked && all_finished) {
    failures.push_back(fmt::format("{} rows are present that no caller saw acknowledged",
                                   rows - acked));
  }
  if (!contiguous) {
    failures.push_back(fmt::format("n is not contiguous: {} rows but min(n) = {}, max(n) = {}",
                                   facts.rows, facts.min_n, facts.max_n));
  }
  if (errors_total > 0) {
    failures.push_back(fmt::format("callers saw {} errors ({} busy-like)", errors_total,
                                   busy_like));
  } else if (acked != expected && failures.empty()) {
    failures.push_back(fmt::format("only {} of {} writes were acknowledged", acked, expected));
  }
  if (!integrity_ok) {
    failures.push_back(fmt::format("integrity_check: {}", fmt::join(facts.integrity, "; ")));
  }
  // Per process: each worker's acknowledged writes carry its pid.
  nlohmann::json per_worker = nlohmann::json::array();
  std::size_t workers_matching = 0;
  for (const Worker& w : set.workers()) {
    auto it = facts.rows_by_pid.find(w.pid);
    const std::int64_t present = it == facts.rows_by_pid.end() ? 0 : it->second;
    const bool match = w.done && static_cast<std::uint64_t>(present) == w.acked;
    if (match) ++workers_matching;
    if (w.done && !match) {
      failures.push_back(fmt::format("worker {}: {} writes acknowledged, {} rows with its pid",
                                     w.pid, w.acked, present));
    }
    nlohmann::json entry = {{"pid", w.pid},
                            {"acknowledged", w.acked},
                            {"rows", present},
                            {"finished", w.done.has_value()},
                            {"exit", DescribeExit(w.wait_status)}};
    if (w.done) {
      entry["errors"] = (*w.done)["errors"];
      entry["write_batches"] = (*w.done).value("write_batches", std::uint64_t{0});
      entry["write_jobs"] = (*w.done).value("write_jobs", std::uint64_t{0});
    }
    per_worker.push_back(std::move(entry));
  }

  const bool ok = failures.empty();
  const double rate = wall > 0 ? static_cast<double>(acked) / wall : 0.0;
  const double mean_batch = batches > 0 ? static_cast<double>(jobs) / static_cast<double>(batches)
                                        : 0.0;

  if (options.json) {
    nlohmann::json report = {
        {"ok", ok},
        {"database", db_path},
        {"journal_mode", journal_mode},
        {"removed_files", removed},
        {"processes", options.processes},
        {"threads", options.threads},
        {"writes_per_thread", options.writes},
        {"writes_expected", expected},
        {"acknowledged", acked},
        {"rows", facts.rows},
        {"min_n", facts.min_n},
        {"max_n", facts.max_n},
        {"contiguous", contiguous},
        {"errors", errors},
        {"errors_total", errors_total},
        {"busy_like_errors", busy_like},
        {"first_error", first_error},
        {"integrity_check", facts.integrity},
        {"wall_seconds", wall},
        {"writes_per_second", rate},
        {"group_commit",
         {{"batches", batches}, {"jobs", jobs}, {"mean_jobs_per_batch", mean_batch}}},
        {"write_latency_us",
         {{"p50", latency.Quantile(0.5)},
          {"p99", latency.Quantile(0.99)},
          {"max", latency.max}}},
        {"workers", per_worker},
        {"failures", failures},
    };
    PrintJson(report);
    return ok ? 0 : 1;
  }

  auto mark = [](bool good) { return good ? "ok" : "FAILED"; };
  fmt::print("\nverification (read back through a new handle)\n");
  fmt::print("  writes acknowledged     {} of {}\n", acked, expected);
  fmt::print("  rows present            {:<34}{}\n",
             rows > acked && !all_finished ? fmt::format("{} (a worker did not finish)", rows)
                                           : std::to_string(rows),
             mark(rows_match));
  fmt::print("  n contiguous            {:<34}{}\n",
             facts.rows == 0 ? std::string("(no rows)")
                             : fmt::format("{}..{}, max(n) = count", facts.min_n, facts.max_n),
             mark(contiguous));
  fmt::print("  per process             {:<34}{}\n",
             fmt::format("{} of {} match their acks", workers_matching, set.workers().size()),
             mark(workers_matching == set.workers().size()));
  fmt::print("  errors seen by callers  {:<34}{}\n",
             fmt::format("{} (busy-like: {})", errors_total, busy_like), mark(errors_total == 0));
  for (const auto& [code, count] : errors) {
    fmt::print("    {:<20} {:>8}  e.g. {}\n", code, count, first_error[code]);
  }
  fmt::print("  integrity_check         {:<34}{}\n", fmt::join(facts.integrity, "; "),
             mark(integrity_ok));
  fmt::print("\nperformance\n");
  fmt::print("  throughput              {:.0f} durable writes/s ({} in {})\n", rate, acked,
             FormatSeconds(wall));
  fmt::print("  group commit            {} commits, {:.2f} jobs per commit (mean over {} "
             "process{})\n",
             batches, mean_batch, options.processes, options.processes == 1 ? "" : "es");
  fmt::print("  write latency           p50 ≤ {}, p99 ≤ {}, max {}\n",
             FormatMicros(latency.Quantile(0.5)), FormatMicros(latency.Quantile(0.99)),
             FormatMicros(latency.max));
  fmt::print("\n");
  if (ok) {
    fmt::print("PASSED: all {} acknowledged writes are present, n has no gaps or duplicates, no "
               "caller saw an error, integrity_check is ok\n",
               acked);
    return 0;
  }
  fmt::print("FAILED: {}\n", fmt::join(failures, "; "));
  return 1;
}

}  // namespace

Command RegisterDemo(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Hammer one database from many processes and "
                                             "threads, then verify nothing was lost.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("--dir", options->dir, "Directory for demo.db (created 0700 if missing)")
      ->capture_default_str();
  cmd->add_option("--processes", options->processes, "Worker processes")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--threads", options->threads, "Writer threads per process")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--writes", options->writes, "Writes per thread")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_flag("--json", options->json, "Print the report as one JSON object");
  return {cmd, [options] { return RunDemo(*options); }};
}

}  // namespace sqlsteward::cli
