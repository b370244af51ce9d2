#include "processes.h"

#include <algorithm>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "baselines.h"
#include "steward.h"
#include "support/child_process.h"
#include "support/line_protocol.h"

namespace sqlsteward::bench {
namespace {

using subprocess::ChildProcess;

constexpr std::string_view kReady = "ready";
constexpr std::string_view kDone = "done";

[[noreturn]] void ThrowErrno(std::string_view what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

std::string SelfExe() {
  std::vector<char> buf(PATH_MAX + 1);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n < 0) ThrowErrno("readlink /proc/self/exe");
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

// Samples travel as hex on one protocol line: no byte of it can be '\n'.
std::string ToHex(const std::vector<std::uint8_t>& bytes) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 0xf];
  }
  return hex;
}

std::optional<std::vector<std::uint8_t>> FromHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> bytes(hex.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return bytes;
}

// The next protocol line of worker `child`: the rest after `verb`. Throws
// on an error line, another verb, EOF (`what_failed` says when) or the
// deadline.
std::string ExpectLine(ChildProcess& child, std::string_view verb, std::string_view what_failed,
                       Clock::time_point deadline) {
  std::string line;
  switch (child.ReadLine(deadline, &line)) {
    case ChildProcess::ReadStatus::kTimeout:
      throw std::runtime_error("timed out waiting for a worker process");
    case ChildProcess::ReadStatus::kEof:
      throw std::runtime_error(fmt::format("worker {} {}", child.pid(), what_failed));
    case ChildProcess::ReadStatus::kLine:
      break;
  }
  const subprocess::Event event = subprocess::ParseEvent(line);
  if (event.verb != verb) {
    throw std::runtime_error(fmt::format("worker {} {}: {}", child.pid(), what_failed, line));
  }
  return std::string(event.rest);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Totals over the processes, for the table; each process's own figures
// stay in per_process.
void AddTotals(const std::string& side, const nlohmann::json& per_process, Samples* merged) {
  if (side == "sqlsteward") {
    std::uint64_t jobs = 0, batches = 0, busy_calls = 0;
    std::uint64_t lock_wait_max = 0, batch_max = 0;
    std::string journal_mode;
    for (const auto& p : per_process) {
      const auto& m = p.at("sqlsteward");
      const std::string mode = m.value("journal_mode", "");
      journal_mode = journal_mode.empty() || journal_mode == mode ? mode : "mixed";
      jobs += m.at("write_jobs").get<std::uint64_t>();
      batches += m.at("write_batches").get<std::uint64_t>();
      busy_calls += m.at("sqlite_busy_handler_calls").get<std::uint64_t>();
      lock_wait_max = std::max(lock_wait_max, m.at("lock_wait_us").at("max").get<std::uint64_t>());
      batch_max = std::max(batch_max, m.at("batch_jobs").at("max").get<std::uint64_t>());
    }
    merged->extra["sqlsteward"] = {
        {"journal_mode", journal_mode},
        {"write_jobs", jobs},
        {"write_batches", batches},
        {"mean_jobs_per_batch",
         batches > 0 ? static_cast<double>(jobs) / static_cast<double>(batches) : 0.0},
        {"batch_jobs", {{"max", batch_max}}},
        {"lock_wait_us", {{"max", lock_wait_max}}},
        {"sqlite_busy_handler_calls", busy_calls},
    };
  }
  double cpu_s = 0;
  std::int64_t voluntary = 0, involuntary = 0;
  for (const auto& p : per_process) {
    const auto& u = p.at("process");
    cpu_s += u.at("cpu_s").get<double>();
    voluntary += u.at("voluntary_switches").get<std::int64_t>();
    involuntary += u.at("involuntary_switches").get<std::int64_t>();
  }
  merged->extra["process"] = {
      {"cpu_s", cpu_s}, {"voluntary_switches", voluntary}, {"involuntary_switches", involuntary}};
}

}  // namespace

Samples RunProcesses(const ProcessRunSpec& spec) {
  const std::string exe = SelfExe();
  const std::vector<std::string> args = {kWorkerCommand,
                                         "--side",    spec.side,
                                         "--db",      spec.db_path,
                                         "--threads", std::to_string(spec.threads_per_process),
                                         "--seconds", fmt::format("{}", spec.seconds)};

  int go_fds[2];
  if (pipe2(go_fds, O_CLOEXEC) != 0) ThrowErrno("pipe");
  Fd go_read(go_fds[0]);
  Fd go_write(go_fds[1]);

  // Destroyed on any throw below: each kills and reaps its worker.
  std::vector<std::unique_ptr<ChildProcess>> children;
  subprocess::SpawnOptions options;
  options.stdin_fd = go_read.get();
  options.err = subprocess::Stream::kInherit;
  for (int i = 0; i < spec.processes; ++i) {
    auto child = std::make_unique<ChildProcess>();
    if (int error = child->Start(exe, args, options); error != 0) {
      errno = error;
      ThrowErrno("start worker " + exe);
    }
    children.push_back(std::move(child));
  }
  go_read.Close();

  // Setup may take a while on a loaded machine; the run itself is bounded.
  const Clock::time_point ready_deadline = Clock::now() + std::chrono::seconds(60);
  for (auto& c : children) ExpectLine(*c, kReady, "failed during setup", ready_deadline);
  go_write.Close();  // every worker sees EOF now: the start

  // A raw worker can be stuck in one 5 s busy wait past its deadline.
  const Clock::time_point done_deadline =
      Clock::now() + Seconds(spec.seconds) + std::chrono::seconds(120);
  Samples merged;
  nlohmann::json per_process = nlohmann::json::array();
  for (auto& c : children) {
    const std::string hex = ExpectLine(*c, kDone, "exited without results", done_deadline);
    std::optional<std::vector<std::uint8_t>> bytes = FromHex(hex);
    if (!bytes) throw std::runtime_error(fmt::format("worker {} sent unreadable results", c->pid()));
    Samples s = Samples::Deserialize(*bytes);
    nlohmann::json figures = s.extra;
    // Fairness: each process's own rate and its longest wait.
    figures["ops_per_s"] = s.seconds > 0 ? static_cast<double>(s.ok) / s.seconds : 0.0;
    figures["max_latency_us"] =
        s.latencies_ns.empty()
            ? 0.0
            : static_cast<double>(*std::max_element(s.latencies_ns.begin(), s.latencies_ns.end())) /
                  1e3;
    per_process.push_back(std::move(figures));
    merged.MergeConcurrent(std::move(s));
  }
  for (auto& c : children) {
    const subprocess::ExitStatus status = c->Wait();
    if (!status.ok()) {
      throw std::runtime_error(fmt::format("worker {} ended: {}", c->pid(), status.ToString()));
    }
  }

  AddTotals(spec.side, per_process, &merged);
  double slowest = 0, fastest = 0, worst_wait_us = 0;
  for (const nlohmann::json& p : per_process) {
    const double rate = p.value("ops_per_s", 0.0);
    slowest = slowest == 0 ? rate : std::min(slowest, rate);
    fastest = std::max(fastest, rate);
    worst_wait_us = std::max(worst_wait_us, p.value("max_latency_us", 0.0));
  }
  merged.extra["fairness"] = {{"slowest_process_ops_per_s", slowest},
                              {"fastest_process_ops_per_s", fastest},
                              {"slowest_over_fastest", fastest > 0 ? slowest / fastest : 0.0},
                              {"worst_process_max_latency_us", worst_wait_us}};
  merged.extra["per_process"] = std::move(per_process);
  return merged;
}

int WorkerMain(const std::string& side, const std::string& db_path, int threads, double seconds) {
  try {
    std::shared_ptr<StewardDb> steward;
    OpFactory factory;
    if (side == "sqlsteward") {
      steward = std::make_shared<StewardDb>(db_path);
      factory = [&](int t) { return MakeStewardInsert(steward, t); };
    } else if (side == "raw") {
      factory = [&](int t) { return MakeOwnConnectionInsert(db_path, t); };
    } else {
      throw std::runtime_error(fmt::format("unknown worker side '{}'", side));
    }
    LoopOptions options;
    options.threads = threads;
    options.duration = Seconds(seconds);
    options.before_start = [] {
      if (!subprocess::SayLine(kReady)) ThrowErrno("write to parent");
      subprocess::WaitForStdinEof();  // the go
    };
    Samples samples = RunClosedLoop(options, factory);
    if (steward) {
      samples.extra["sqlsteward"] = steward->MetricsJson();
      steward->Close();
    }
    samples.extra["pid"] = getpid();
    if (!subprocess::SayLine(fmt::format("{} {}", kDone, ToHex(samples.Serialize())))) {
      ThrowErrno("write to parent");
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sqlsteward_bench worker {}: {}\n", getpid(), e.what());
    subprocess::SayLine(subprocess::ErrorLine("internal", e.what()));
    return 1;
  }
}

}  // namespace sqlsteward::bench
