// sqlsteward_handover_bench: what a deploy costs writers, and what opening
// costs. Two measurements, each against what it should be compared with:
//
// (a) Write pause during handover under load. Two long-lived worker
//     processes play ping-pong: the owner (Ownership::kExclusive) writes
//     from 4 threads in a closed loop; once it is writing steadily, the
//     other one opens with kExclusive + take_over and writes at once. Every
//     acknowledgement (and every "handed over" rejection) is timestamped
//     with CLOCK_MONOTONIC in the worker and reported over its stdout pipe.
//     pause = first ack of the new owner - last ack of the old one, on the
//     clock both processes share. The new owner becomes the old one of the
//     next round, so process start-up is never inside a pause; the opener's
//     first open in each process (filesystem probe) is warmed up before.
//     Goal (DESIGN.md, handover): p99 pause <= 100 ms.
// (b) Open latency in shared mode: Database::Open + Close, against raw
//     sqlite3_open_v2 + PRAGMA journal_mode=WAL + sqlite3_close, interleaved
//     (A B A B ...) on the same file, with 0 and with N other instances open
//     in other processes.
//
// Workers are this binary, re-executed with the hidden --worker option, so
// nothing of the parent's SQLite state, locks or threads leaks into them.
// Worker protocol (the line protocol of tests/support/child_process.h,
// which also starts the workers): commands on stdin ("take <round>",
// "quit"), one line per event on stdout:
//   ready | open <round> <t0_ns> <t1_ns> | ack <ns> | rej <ns> <code>
//   | idle <round> <acks> <rejects> | error <code> <message>
//
// Exit status: 0 when every run completed and the table matched the
// acknowledged writes (whether goals were met does not matter); 2 when a run
// failed; 1 on bad arguments.
#include <signal.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "sqlsteward/instances.h"
#include "sqlsteward/probe.h"
#include "sqlsteward/sqlsteward.h"
#include "support/child_process.h"
#include "support/line_protocol.h"

namespace sqlsteward::bench {
namespace {

using nlohmann::json;

constexpr int kWriterThreads = 4;
constexpr double kGoalP99PauseMs = 100;

std::int64_t MonoNs() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void Fail(const std::string& what) { throw std::runtime_error(what); }

// ------------------------------------------------------------------ workers

void Say(const std::string& line) { subprocess::SayOrExit(line); }

// "error <code> <what: status>".
void SayError(std::string_view what, const Status& st) {
  Say(subprocess::ErrorLine(StatusCodeName(st.code()), fmt::format("{}: {}", what, st.ToString())));
}

Options WorkerOptions(int heartbeat_ms) {
  Options options;
  if (heartbeat_ms > 0) options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.on_warning = [](std::string_view w) { Say(fmt::format("warn {}", w)); };
  return options;
}

// The ping-pong worker of (a).
int PingPongWorker(const std::string& db_path, int worker_id, int heartbeat_ms) {
  // The first Open of a process probes the filesystem (cached afterwards):
  // do it now, outside any measured pause.
  if (!ProbeDirectoryCached(std::filesystem::path(db_path).parent_path().string()).has_value()) {
    Say(subprocess::ErrorLine("internal", "probe failed"));
    return 2;
  }
  Say("ready");
  while (auto command = subprocess::ReadStdinLine()) {
    if (*command == "quit") return 0;
    int round = 0;
    if (std::sscanf(command->c_str(), "take %d", &round) != 1) {
      Say(subprocess::ErrorLine("invalid_argument", "bad command " + *command));
      return 2;
    }
    Options options = WorkerOptions(heartbeat_ms);
    options.ownership = Ownership::kExclusive;
    options.take_over = true;
    options.handover_timeout = std::chrono::seconds(10);
    const std::int64_t t0 = MonoNs();
    auto db = Database::Open(db_path, options);
    const std::int64_t t1 = MonoNs();
    if (!db.has_value()) {
      SayError("open", db.error());
      return 2;
    }
    Say(fmt::format("open {} {} {}", round, t0, t1));
    std::atomic<long> acks{0};
    std::atomic<long> rejects{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriterThreads; ++t) {
      threads.emplace_back([&, t] {
        for (long i = 0;; ++i) {
          Status st = (*db)->Write([&](Transaction& tx) {
            return tx.Exec("INSERT INTO acked(worker, round, thread, seq) VALUES(?, ?, ?, ?)",
                           worker_id, round, t, i);
          });
          const std::int64_t now = MonoNs();
          if (st.ok()) {
            acks++;
            Say(fmt::format("ack {}", now));
            continue;
          }
          if (st.code() == StatusCode::kUnavailable) {
            rejects++;
            Say(fmt::format("rej {} {}", now, StatusCodeName(st.code())));
          } else {
            SayError("write", st);
          }
          return;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    Status closed = (*db)->Close();
    if (!closed.ok()) {
      SayError("close", closed);
      return 2;
    }
    Say(fmt::format("idle {} {} {}", round, acks.load(), rejects.load()));
  }
  return 0;
}

// An instance that stays open (shared) until stdin closes: the "others" of (b).
int HoldOpenWorker(const std::string& db_path, int heartbeat_ms) {
  auto db = Database::Open(db_path, WorkerOptions(heartbeat_ms));
  if (!db.has_value()) {
    SayError("open", db.error());
    return 2;
  }
  Say("open");
  while (subprocess::ReadStdinLine()) {
  }
  return (*db)->Close().ok() ? 0 : 2;
}

// ------------------------------------------------------------ orchestration

std::string SelfExe() {
  std::vector<char> buf(4096);
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n < 0) Fail(std::string("readlink /proc/self/exe: ") + std::strerror(errno));
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

// A worker process (this binary, --worker ...) with its stdin and stdout
// piped to us. Destruction kills it if it still runs.
class Worker {
 public:
  explicit Worker(const std::vector<std::string>& args) {
    if (int error = process_.Start(SelfExe(), args); error != 0) {
      Fail(std::string("start worker: ") + std::strerror(error));
    }
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Send(const std::string& line) {
    if (!process_.Send(line + "\n")) {
      Fail(fmt::format("write to worker {}: {}", pid(), std::strerror(errno)));
    }
  }
  void CloseStdin() { process_.CloseStdin(); }
  // The exit code, or 128 + the signal.
  int Wait() { return process_.Wait().ShellCode(); }
  pid_t pid() const { return process_.pid(); }
  subprocess::ChildProcess& process() { return process_; }

 private:
  subprocess::ChildProcess process_;
};

// Reads whatever the workers have written within `wait_ms` and hands each
// complete line to handle(worker index, line).
template <typename Handler>
void Pump(std::vector<Worker*>& workers, int wait_ms, Handler&& handle) {
  std::vector<subprocess::ChildProcess*> processes;
  for (Worker* w : workers) processes.push_back(&w->process());
  subprocess::ChildProcess::PollAny(processes,
                                    subprocess::Clock::now() + std::chrono::milliseconds(wait_ms));
  for (std::size_t i = 0; i < workers.size(); ++i) {
    while (auto line = processes[i]->TakeBufferedLine()) handle(i, *line);
    if (processes[i]->stdout_eof()) {
      Fail(fmt::format("worker {} exited (status {})", workers[i]->pid(), workers[i]->Wait()));
    }
  }
}

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

json Summary(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  return {{"n", values.size()},
          {"min", values.empty() ? 0 : values.front()},
          {"p50", Percentile(values, 50)},
          {"p90", Percentile(values, 90)},
          {"p99", Percentile(values, 99)},
          {"max", values.empty() ? 0 : values.back()},
          {"mean", values.empty() ? 0 : sum / static_cast<double>(values.size())}};
}

struct Config {
  std::string dir;
  int handovers = 100;
  int steady_ms = 150;
  int opens = 200;
  int reps = 3;
  int others = 4;
  int heartbeat_ms = 0;
  bool smoke = false;
  bool keep = false;
  std::string json_path;
  std::string scenarios = "handover,open";
};

std::int64_t CountRows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 10'000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return n;
}

void CreateDatabase(const std::string& path, const std::string& ddl) {
  auto db = Database::Open(path);
  if (!db.has_value()) Fail("create " + path + ": " + db.error().ToString());
  Status st = (*db)->Write([&](Transaction& tx) { return tx.ExecScript(ddl); });
  if (!st.ok()) Fail("create table: " + st.ToString());
  if (Status c = (*db)->Close(); !c.ok()) Fail("close: " + c.ToString());
}

// Per worker, what the current round has reported.
struct RoundState {
  int round = -1;
  std::int64_t take_sent_ns = 0;
  std::int64_t open_returned_ns = 0;
  std::int64_t first_ack_ns = 0;
  std::int64_t last_ack_ns = 0;
  long acks = 0;
  long rejects = 0;
  bool idle = true;
  bool ready = false;
};

json RunHandover(const Config& cfg) {
  const std::string db = cfg.dir + "/handover.db";
  CreateDatabase(db,
                 "CREATE TABLE acked(id INTEGER PRIMARY KEY, worker INTEGER NOT NULL, round "
                 "INTEGER NOT NULL, thread INTEGER NOT NULL, seq INTEGER NOT NULL)");
  const std::string hb = std::to_string(cfg.heartbeat_ms);
  Worker a({"--worker", "pingpong", "--db", db, "--worker-id", "0", "--heartbeat-ms", hb});
  Worker b({"--worker", "pingpong", "--db", db, "--worker-id", "1", "--heartbeat-ms", hb});
  std::vector<Worker*> workers = {&a, &b};
  RoundState state[2];
  long total_acks = 0;

  auto handle = [&](std::size_t i, const std::string& line) {
    RoundState& s = state[i];
    std::istringstream in(line);
    std::string word;
    in >> word;
    if (word == "ack") {
      std::int64_t ns = 0;
      in >> ns;
      if (s.first_ack_ns == 0) s.first_ack_ns = ns;
      s.last_ack_ns = std::max(s.last_ack_ns, ns);
      s.acks++;
      total_acks++;
    } else if (word == "rej") {
      s.rejects++;
    } else if (word == "open") {
      int round = 0;
      std::int64_t t0 = 0;
      in >> round >> t0 >> s.open_returned_ns;
    } else if (word == "idle") {
      s.idle = true;
    } else if (word == "ready") {
      s.ready = true;
    } else if (word == "warn") {
      fmt::print(stderr, "worker {}: {}\n", workers[i]->pid(), line);
    } else {
      Fail(fmt::format("worker {}: {}", workers[i]->pid(), line));
    }
  };
  auto wait_until = [&](auto&& done, const char* what) {
    const std::int64_t deadline = MonoNs() + std::int64_t{30} * 1'000'000'000;
    while (!done()) {
      if (MonoNs() > deadline) Fail(std::string("timed out waiting for ") + what);
      Pump(workers, 5, handle);
    }
  };
  auto take = [&](std::size_t i, int round) {
    RoundState& s = state[i];
    s = RoundState{round, MonoNs(), 0, 0, 0, 0, 0, false, true};
    workers[i]->Send(fmt::format("take {}", round));
  };
  // Each owner writes for steady_ms plus a random part of a heartbeat
  // interval: with a fixed time the request would always arrive at the same
  // phase of the owner's heartbeat, and the detection delay would not be
  // sampled across the interval.
  const int heartbeat_ms = cfg.heartbeat_ms > 0
                               ? cfg.heartbeat_ms
                               : static_cast<int>(Options().heartbeat_interval.count());
  std::mt19937 rng(12345);
  std::uniform_int_distribution<std::int64_t> jitter_ns(0, std::int64_t{heartbeat_ms} * 1'000'000);
  std::int64_t steady_ns = 0;
  auto steady = [&](std::size_t i) {
    const RoundState& s = state[i];
    return s.first_ack_ns != 0 && s.acks >= 20 && MonoNs() - s.first_ack_ns >= steady_ns;
  };
  auto next_steady = [&] { steady_ns = std::int64_t{cfg.steady_ms} * 1'000'000 + jitter_ns(rng); };

  wait_until([&] { return state[0].ready && state[1].ready; }, "workers to start");
  take(0, 0);
  next_steady();
  wait_until([&] { return steady(0); }, "the first owner to write");

  std::vector<double> pause_ms;
  std::vector<double> takeover_ms;
  std::vector<double> rejected;
  std::vector<double> until_step_down_ms;
  std::vector<double> open_after_ms;
  std::vector<double> first_commit_ms;
  json rounds = json::array();
  for (int r = 1; r <= cfg.handovers; ++r) {
    const std::size_t next = static_cast<std::size_t>(r % 2);
    const std::size_t old = 1 - next;
    take(next, r);
    next_steady();
    wait_until([&] { return state[old].idle && steady(next); }, "a handover");
    const double pause = static_cast<double>(state[next].first_ack_ns - state[old].last_ack_ns) / 1e6;
    const double takeover =
        static_cast<double>(state[next].first_ack_ns - state[next].take_sent_ns) / 1e6;
    pause_ms.push_back(pause);
    takeover_ms.push_back(takeover);
    rejected.push_back(static_cast<double>(state[old].rejects));
    // Where the take-over time goes: until the old owner's last ack (the
    // request seen by its heartbeat thread), from there until the new
    // owner's Open returned, and its first commit.
    const auto ms = [](std::int64_t ns) { return static_cast<double>(ns) / 1e6; };
    const double until_step_down = ms(state[old].last_ack_ns - state[next].take_sent_ns);
    const double open_after = ms(state[next].open_returned_ns - state[old].last_ack_ns);
    const double first_commit = ms(state[next].first_ack_ns - state[next].open_returned_ns);
    until_step_down_ms.push_back(until_step_down);
    open_after_ms.push_back(open_after);
    first_commit_ms.push_back(first_commit);
    rounds.push_back({{"round", r},
                      {"pause_ms", pause},
                      {"takeover_ms", takeover},
                      {"until_step_down_ms", until_step_down},
                      {"open_after_step_down_ms", open_after},
                      {"first_commit_ms", first_commit},
                      {"old_acks", state[old].acks},
                      {"old_rejected", state[old].rejects}});
    if (cfg.smoke || r % 10 == 0) {
      fmt::print(stderr, "  handover {}/{}: pause {:.1f} ms\n", r, cfg.handovers, pause);
    }
  }
  // Stop the last owner the way a deploy script would.
  const std::size_t last = static_cast<std::size_t>(cfg.handovers % 2);
  if (Status st = RequestHandover(db, std::chrono::seconds(10)); !st.ok()) {
    Fail("final handover: " + st.ToString());
  }
  wait_until([&] { return state[last].idle; }, "the last owner to step down");
  for (Worker* w : workers) w->Send("quit");
  for (Worker* w : workers) {
    if (int code = w->Wait(); code != 0) Fail(fmt::format("worker exited {}", code));
  }
  const std::int64_t rows = CountRows(db, "SELECT count(*) FROM acked");
  const bool verified = rows == total_acks;
  if (!verified) {
    Fail(fmt::format("{} writes acknowledged but {} rows in the table", total_acks, rows));
  }

  json pause = Summary(pause_ms);
  const double p99 = pause["p99"].get<double>();
  return {{"handovers", cfg.handovers},
          {"writer_threads", kWriterThreads},
          {"steady_ms", cfg.steady_ms},
          {"heartbeat_ms", heartbeat_ms},
          {"pause_ms", pause},
          {"takeover_ms", Summary(takeover_ms)},
          {"until_step_down_ms", Summary(until_step_down_ms)},
          {"open_after_step_down_ms", Summary(open_after_ms)},
          {"first_commit_ms", Summary(first_commit_ms)},
          {"rejected_per_handover", Summary(rejected)},
          {"goal_p99_pause_ms", kGoalP99PauseMs},
          {"ratio", p99 / kGoalP99PauseMs},
          {"goal_met", p99 <= kGoalP99PauseMs},
          {"acknowledged", total_acks},
          {"rows", rows},
          {"verified", verified},
          {"rounds", rounds}};
}

// Open + Close in microseconds; `close_us` gets the Close part.
double TimeSteward(const std::string& db, double* close_us) {
  const std::int64_t t0 = MonoNs();
  auto handle = Database::Open(db);
  if (!handle.has_value()) Fail("open: " + handle.error().ToString());
  const std::int64_t t1 = MonoNs();
  if (Status st = (*handle)->Close(); !st.ok()) Fail("close: " + st.ToString());
  const std::int64_t t2 = MonoNs();
  *close_us = static_cast<double>(t2 - t1) / 1e3;
  return static_cast<double>(t2 - t0) / 1e3;
}

double TimeRaw(const std::string& db) {
  const std::int64_t t0 = MonoNs();
  sqlite3* conn = nullptr;
  int rc = sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(conn, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  std::string error = rc == SQLITE_OK ? "" : sqlite3_errmsg(conn);
  sqlite3_close(conn);
  if (rc != SQLITE_OK) Fail("raw open: " + error);
  return static_cast<double>(MonoNs() - t0) / 1e3;
}

json RunOpenLatency(const Config& cfg) {
  json out = json::array();
  for (int others : {0, cfg.others}) {
    json reps = json::array();
    std::vector<double> steward_p50;
    std::vector<double> raw_p50;
    std::vector<double> steward_p99;
    std::vector<double> raw_p99;
    for (int rep = 0; rep < cfg.reps; ++rep) {
      const std::string db = fmt::format("{}/open-{}-{}.db", cfg.dir, others, rep);
      CreateDatabase(db, "CREATE TABLE t(x)");
      std::vector<std::unique_ptr<Worker>> holders;
      for (int i = 0; i < others; ++i) {
        holders.push_back(std::make_unique<Worker>(std::vector<std::string>{
            "--worker", "hold-open", "--db", db, "--heartbeat-ms", std::to_string(cfg.heartbeat_ms)}));
      }
      for (auto& h : holders) {
        std::vector<Worker*> one = {h.get()};
        bool open = false;
        const std::int64_t deadline = MonoNs() + std::int64_t{30} * 1'000'000'000;
        while (!open) {
          if (MonoNs() > deadline) Fail("timed out waiting for a hold-open worker");
          Pump(one, 5, [&](std::size_t, const std::string& line) {
            if (line == "open") {
              open = true;
            } else if (line.rfind("warn", 0) != 0) {
              Fail("hold-open worker: " + line);
            }
          });
        }
      }
      std::vector<double> steward_us;
      std::vector<double> steward_close_us;
      std::vector<double> raw_us;
      for (int i = 0; i < cfg.opens; ++i) {  // A B A B on the same file
        double close_us = 0;
        steward_us.push_back(TimeSteward(db, &close_us));
        steward_close_us.push_back(close_us);
        raw_us.push_back(TimeRaw(db));
      }
      for (auto& h : holders) h->CloseStdin();
      for (auto& h : holders) {
        if (int code = h->Wait(); code != 0) Fail(fmt::format("hold-open worker exited {}", code));
      }
      json s = Summary(steward_us);
      json r = Summary(raw_us);
      steward_p50.push_back(s["p50"].get<double>());
      raw_p50.push_back(r["p50"].get<double>());
      steward_p99.push_back(s["p99"].get<double>());
      raw_p99.push_back(r["p99"].get<double>());
      reps.push_back(
          {{"sqlsteward_us", s}, {"sqlsteward_close_us", Summary(steward_close_us)}, {"raw_us", r}});
      fmt::print(stderr, "  open latency, {} others, rep {}: sqlsteward p50 {:.0f} us, raw p50 {:.0f} us\n",
                 others, rep + 1, s["p50"].get<double>(), r["p50"].get<double>());
    }
    json sp50 = Summary(steward_p50);
    json rp50 = Summary(raw_p50);
    out.push_back({{"others", others},
                   {"opens_per_rep", cfg.opens},
                   {"reps", cfg.reps},
                   {"sqlsteward_p50_us", sp50},
                   {"raw_p50_us", rp50},
                   {"sqlsteward_p99_us", Summary(steward_p99)},
                   {"raw_p99_us", Summary(raw_p99)},
                   {"ratio", sp50["p50"].get<double>() / rp50["p50"].get<double>()},
                   {"per_rep", reps}});
  }
  return out;
}

void PrintReport(const json& doc) {
  if (doc.contains("handover")) {
    const json& h = doc["handover"];
    const json& p = h["pause_ms"];
    fmt::print("Write pause during handover under load ({} writer threads, {} handovers, "
               "heartbeat {} ms)\n",
               h["writer_threads"].get<int>(), h["handovers"].get<int>(),
               h["heartbeat_ms"].get<int>());
    fmt::print("  pause (first ack new - last ack old)  p50 {:7.1f} ms  p99 {:7.1f} ms  max {:7.1f} ms"
               "  min {:.1f} ms\n",
               p["p50"].get<double>(), p["p99"].get<double>(), p["max"].get<double>(),
               p["min"].get<double>());
    fmt::print("  goal p99 <= {:.0f} ms: {} (p99/goal {:.2f})\n", kGoalP99PauseMs,
               h["goal_met"].get<bool>() ? "met" : "NOT met", h["ratio"].get<double>());
    const json& t = h["takeover_ms"];
    fmt::print("  take-over (take command -> first ack)  p50 {:7.1f} ms  p99 {:7.1f} ms  max {:7.1f} ms\n",
               t["p50"].get<double>(), t["p99"].get<double>(), t["max"].get<double>());
    for (const char* key : {"until_step_down_ms", "open_after_step_down_ms", "first_commit_ms"}) {
      const json& part = h[key];
      fmt::print("    {:<34} p50 {:7.1f} ms  p99 {:7.1f} ms  max {:7.1f} ms\n", key,
                 part["p50"].get<double>(), part["p99"].get<double>(), part["max"].get<double>());
    }
    const json& rj = h["rejected_per_handover"];
    fmt::print("  writes rejected as handed over per handover: p50 {:.0f}, max {:.0f}\n",
               rj["p50"].get<double>(), rj["max"].get<double>());
    fmt::print("  acknowledged {} writes, {} rows in the table: {}\n",
               h["acknowledged"].get<long>(), h["rows"].get<long>(),
               h["verified"].get<bool>() ? "verified" : "MISMATCH");
  }
  if (doc.contains("open_latency")) {
    fmt::print("\nOpen latency, shared mode: Database::Open+Close vs sqlite3_open_v2+PRAGMA "
               "journal_mode=WAL+close\n");
    fmt::print("  {:>6}  {:>22}  {:>22}  {:>14}  {:>14}  {:>9}\n", "others", "sqlsteward p50 us",
               "raw p50 us", "sqlsteward p99", "raw p99", "ratio p50");
    for (const json& row : doc["open_latency"]) {
      const json& s = row["sqlsteward_p50_us"];
      const json& r = row["raw_p50_us"];
      fmt::print("  {:>6}  {:>8.0f} ({:>5.0f}-{:<5.0f})  {:>8.0f} ({:>5.0f}-{:<5.0f})  {:>14.0f}  {:>14.0f}  {:>8.2f}x\n",
                 row["others"].get<int>(), s["p50"].get<double>(), s["min"].get<double>(),
                 s["max"].get<double>(), r["p50"].get<double>(), r["min"].get<double>(),
                 r["max"].get<double>(), row["sqlsteward_p99_us"]["p50"].get<double>(),
                 row["raw_p99_us"]["p50"].get<double>(), row["ratio"].get<double>());
    }
    fmt::print("  (median over {} reps of {} opens each; min-max of the reps' p50 in brackets)\n",
               doc["open_latency"][0]["reps"].get<int>(),
               doc["open_latency"][0]["opens_per_rep"].get<int>());
  }
}

int Main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Config cfg;
  std::string worker_mode;
  std::string worker_db;
  int worker_id = 0;
  CLI::App app("Handover pause under load and open latency of sqlsteward (see docs/benchmarks.md).",
               "sqlsteward_handover_bench");
  app.add_option("--dir", cfg.dir, "Directory for the databases (default: a fresh one under ./data/bench)");
  app.add_option("--handovers", cfg.handovers, "Handovers in (a), at least 50 for a p99")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steady-ms", cfg.steady_ms, "How long each owner writes before the next takes over")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--opens", cfg.opens, "Opens per side and repetition in (b)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--reps", cfg.reps, "Repetitions of (b)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--others", cfg.others, "Other instances open in the second half of (b)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--heartbeat-ms", cfg.heartbeat_ms,
                 "Options::heartbeat_interval of every instance; 0: the library default")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--scenario", cfg.scenarios, "Comma-separated: handover, open")->capture_default_str();
  app.add_option("--json", cfg.json_path, "Also write the figures as JSON to this file");
  app.add_flag("--smoke", cfg.smoke, "A few rounds only (CI: checks the harness, never speed)");
  app.add_flag("--keep", cfg.keep, "Keep the database files");
  app.add_option("--worker", worker_mode)->group("");
  app.add_option("--db", worker_db)->group("");
  app.add_option("--worker-id", worker_id)->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (worker_mode == "pingpong") return PingPongWorker(worker_db, worker_id, cfg.heartbeat_ms);
  if (worker_mode == "hold-open") return HoldOpenWorker(worker_db, cfg.heartbeat_ms);
  if (!worker_mode.empty()) {
    fmt::print(stderr, "unknown worker mode {}\n", worker_mode);
    return 1;
  }
  if (cfg.smoke) {
    cfg.handovers = 4;
    cfg.steady_ms = 30;
    cfg.opens = 20;
    cfg.reps = 1;
  }

  bool made_dir = false;
  if (cfg.dir.empty()) {
    std::filesystem::create_directories("data/bench");
    std::string tmpl = std::filesystem::absolute("data/bench").string() + "/handover-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      fmt::print(stderr, "mkdtemp {}: {}\n", tmpl, std::strerror(errno));
      return 2;
    }
    cfg.dir = tmpl;
    made_dir = true;
  } else {
    std::filesystem::create_directories(cfg.dir);
    cfg.dir = std::filesystem::absolute(cfg.dir).string();
  }

  json doc = {{"benchmark", "handover"}, {"directory", cfg.dir}, {"smoke", cfg.smoke},
              {"sqlite", sqlite3_libversion()}};
  int exit_code = 0;
  try {
    if (cfg.scenarios.find("handover") != std::string::npos) {
      fmt::print(stderr, "(a) handover under load: {} handovers\n", cfg.handovers);
      doc["handover"] = RunHandover(cfg);
    }
    if (cfg.scenarios.find("open") != std::string::npos) {
      fmt::print(stderr, "(b) open latency: {} reps x {} opens, 0 and {} others\n", cfg.reps,
                 cfg.opens, cfg.others);
      doc["open_latency"] = RunOpenLatency(cfg);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "FAILED: {}\n", e.what());
    doc["error"] = e.what();
    exit_code = 2;
  }
  doc["ok"] = exit_code == 0;
  PrintReport(doc);
  if (!cfg.json_path.empty()) {
    std::ofstream out(cfg.json_path);
    out << doc.dump(2) << "\n";
    if (!out) {
      fmt::print(stderr, "cannot write {}\n", cfg.json_path);
      exit_code = 2;
    }
  }
  if (!cfg.keep) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(cfg.dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("handover.db", 0) == 0 || name.rfind("open-", 0) == 0) {
        std::filesystem::remove(entry.path(), ec);
      }
    }
    if (made_dir) std::filesystem::remove(cfg.dir, ec);  // Only when empty.
  }
  return exit_code;
}

}  // namespace
}  // namespace sqlsteward::bench

int main(int argc, char** argv) { return sqlsteward::bench::Main(argc, argv); }
