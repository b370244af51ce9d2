#include "processes.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "baselines.h"
#include "steward.h"

namespace sqlsteward::bench {
namespace {

constexpr int kGoFd = 3;
constexpr int kResultFd = 4;

[[noreturn]] void ThrowErrno(std::string_view what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

std::string SelfExe() {
  std::vector<char> buf(PATH_MAX + 1);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n < 0) ThrowErrno("readlink /proc/self/exe");
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

void WriteAll(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      ThrowErrno("write to parent");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Reads exactly n bytes. Returns false on EOF before the first byte; throws
// on a short read, an error or when `deadline` passes.
bool ReadExactly(int fd, void* data, std::size_t n, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  std::size_t got = 0;
  while (got < n) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out waiting for a worker process");
    pollfd pfd{fd, POLLIN, 0};
    const int ready =
        poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      ThrowErrno("poll worker pipe");
    }
    if (ready == 0) continue;
    const ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      ThrowErrno("read worker pipe");
    }
    if (r == 0) {
      if (got == 0) return false;
      throw std::runtime_error("worker process closed its pipe mid-message");
    }
    got += static_cast<std::size_t>(r);
  }
  return true;
}

// Children started by one RunProcesses call. Unless Release()d, the
// destructor kills and reaps them (an error path) and closes the pipes.
class Children {
 public:
  struct Child {
    pid_t pid;
    int result_fd;
  };
  ~Children() {
    for (Child& c : children_) {
      if (c.result_fd >= 0) close(c.result_fd);
      if (c.pid > 0) {
        kill(c.pid, SIGKILL);
        int status = 0;
        while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
        }
      }
    }
  }
  std::vector<Child>& list() { return children_; }

 private:
  std::vector<Child> children_;
};

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

}  // namespace

Samples RunProcesses(const ProcessRunSpec& spec) {
  const std::string exe = SelfExe();
  const std::vector<std::string> args = {exe,         kWorkerCommand,
                                         "--side",    spec.side,
                                         "--db",      spec.db_path,
                                         "--threads", std::to_string(spec.threads_per_process),
                                         "--seconds", fmt::format("{}", spec.seconds)};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int go_fds[2];
  if (pipe2(go_fds, O_CLOEXEC) != 0) ThrowErrno("pipe");
  Fd go_read(go_fds[0]);
  Fd go_write(go_fds[1]);

  Children children;
  for (int i = 0; i < spec.processes; ++i) {
    int result_fds[2];
    if (pipe2(result_fds, O_CLOEXEC) != 0) ThrowErrno("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec. Copy both ends out of
      // the way first, so that moving one onto 3 or 4 cannot clobber the
      // other; dup2 clears close-on-exec on the copies that must survive.
      const int go = fcntl(go_fds[0], F_DUPFD_CLOEXEC, 10);
      const int result = fcntl(result_fds[1], F_DUPFD_CLOEXEC, 10);
      if (go < 0 || result < 0 || dup2(go, kGoFd) < 0 || dup2(result, kResultFd) < 0) _exit(127);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    close(result_fds[1]);
    if (pid < 0) {
      close(result_fds[0]);
      ThrowErrno("fork");
    }
    children.list().push_back({pid, result_fds[0]});
  }
  go_read.Close();

  // Setup may take a while on a loaded machine; the run itself is bounded.
  const Clock::time_point ready_deadline = Clock::now() + std::chrono::seconds(60);
  for (auto& c : children.list()) {
    char byte = 0;
    if (!ReadExactly(c.result_fd, &byte, 1, ready_deadline) || byte != 'R') {
      throw std::runtime_error(fmt::format("worker {} failed during setup", c.pid));
    }
  }
  go_write.Close();  // every worker sees EOF now: the start

  // A raw worker can be stuck in one 5 s busy wait past its deadline.
  const Clock::time_point done_deadline =
      Clock::now() + Seconds(spec.seconds) + std::chrono::seconds(120);
  Samples merged;
  nlohmann::json per_process = nlohmann::json::array();
  for (auto& c : children.list()) {
    std::uint64_t length = 0;
    if (!ReadExactly(c.result_fd, &length, sizeof length, done_deadline)) {
      throw std::runtime_error(fmt::format("worker {} exited without results", c.pid));
    }
    std::vector<std::uint8_t> bytes(length);
    if (length > 0 && !ReadExactly(c.result_fd, bytes.data(), bytes.size(), done_deadline)) {
      throw std::runtime_error(fmt::format("worker {} sent truncated results", c.pid));
    }
    Samples s = Samples::Deserialize(bytes);
    per_process.push_back(s.extra);
    merged.MergeConcurrent(std::move(s));
  }
  for (auto& c : children.list()) {
    int status = 0;
    while (waitpid(c.pid, &status, 0) < 0) {
      if (errno != EINTR) ThrowErrno("waitpid");
    }
    const pid_t pid = c.pid;
    c.pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw std::runtime_error(fmt::format("worker {} ended with status {:#x}", pid, status));
    }
  }

  // Totals over the processes, for the table; each process's own figures
  // stay in per_process.
  if (spec.side == "sqlsteward") {
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
    merged.extra["sqlsteward"] = {
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
  merged.extra["process"] = {
      {"cpu_s", cpu_s}, {"voluntary_switches", voluntary}, {"involuntary_switches", involuntary}};
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
      const char ready = 'R';
      WriteAll(kResultFd, &ready, 1);
      char byte;
      for (;;) {
        const ssize_t r = read(kGoFd, &byte, 1);
        if (r == 0) break;
        if (r < 0 && errno != EINTR) ThrowErrno("read go pipe");
      }
    };
    Samples samples = RunClosedLoop(options, factory);
    if (steward) {
      samples.extra["sqlsteward"] = steward->MetricsJson();
      steward->Close();
    }
    samples.extra["pid"] = getpid();
    const std::vector<std::uint8_t> bytes = samples.Serialize();
    const std::uint64_t length = bytes.size();
    WriteAll(kResultFd, &length, sizeof length);
    WriteAll(kResultFd, bytes.data(), bytes.size());
    close(kResultFd);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sqlsteward_bench worker {}: {}\n", getpid(), e.what());
    return 1;
  }
}

}  // namespace sqlsteward::bench
