#include "support/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <thread>
#include <utility>

namespace sqlsteward::subprocess {
namespace {

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

// Moves `fd` above the standard streams. A parent started with stdin
// closed gets fd 0 from pipe2; dup2-ing another pipe onto 0 in the child
// would then clobber that one.
int AboveStdio(int fd) {
  if (fd > STDERR_FILENO) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return moved;
}

// A close-on-exec pipe (so that no other child inherits it), both ends
// above stdio. Returns 0 or the errno.
int MakePipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
  fds[0] = AboveStdio(fds[0]);
  const int first_errno = errno;
  fds[1] = AboveStdio(fds[1]);
  if (fds[0] >= 0 && fds[1] >= 0) return 0;
  const int error = fds[0] < 0 ? first_errno : errno;
  CloseFd(&fds[0]);
  CloseFd(&fds[1]);
  return error;
}

// Milliseconds from now until `deadline` for poll(2), rounded up and
// clamped to [0, INT_MAX].
int MillisUntil(Clock::time_point deadline) {
  const auto now = Clock::now();
  if (deadline <= now) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::min<long long>(left, INT_MAX));
}

const char* SignalDescription(int sig) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* text = ::sigdescr_np(sig);  // strsignal's text, without its static buffer
  return text != nullptr ? text : "unknown signal";
#else
  return ::strsignal(sig);
#endif
}

// The child-side plumbing of Start(): which fd becomes 0, 1 and 2, and a
// clean signal state.
class SpawnSetup {
 public:
  SpawnSetup() {
    error_ = ::posix_spawn_file_actions_init(&actions_);
    if (error_ == 0) error_ = ::posix_spawnattr_init(&attr_);
    if (error_ != 0) return;
    sigset_t none;
    sigemptyset(&none);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    Check(::posix_spawnattr_setsigmask(&attr_, &none));
    Check(::posix_spawnattr_setsigdefault(&attr_, &defaults));
    Check(::posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // The child's `target` becomes a copy of our `fd`, /dev/null, or ours.
  void Route(int target, Stream stream, int fd) {
    if (stream == Stream::kPipe || fd >= 0) {
      Check(::posix_spawn_file_actions_adddup2(&actions_, fd, target));
    } else if (stream == Stream::kNull) {
      const int flags = target == STDIN_FILENO ? O_RDONLY : O_WRONLY;
      Check(::posix_spawn_file_actions_addopen(&actions_, target, "/dev/null", flags, 0));
    }
  }

  // Returns 0 and sets *pid, or the errno of the failed setup or spawn.
  int Spawn(const std::string& program, char* const* argv, pid_t* pid) {
    if (error_ != 0) return error_;
    // A bare name is looked up in PATH, as a shell (and execvp) would.
    const bool search = program.find('/') == std::string::npos;
    return search ? ::posix_spawnp(pid, program.c_str(), &actions_, &attr_, argv, environ)
                  : ::posix_spawn(pid, program.c_str(), &actions_, &attr_, argv, environ);
  }

 private:
  void Check(int rc) {
    if (error_ == 0) error_ = rc;
  }

  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
  int error_ = 0;
};

}  // namespace

ExitStatus ExitStatus::FromWaitStatus(int wait_status) {
  ExitStatus status;
  status.started_ = true;
  status.wait_status_ = wait_status;
  return status;
}

bool ExitStatus::exited() const { return started_ && WIFEXITED(wait_status_); }
int ExitStatus::exit_code() const { return WEXITSTATUS(wait_status_); }
bool ExitStatus::signaled() const { return started_ && WIFSIGNALED(wait_status_); }
int ExitStatus::signal() const { return WTERMSIG(wait_status_); }

int ExitStatus::ShellCode() const {
  if (exited()) return exit_code();
  if (signaled()) return 128 + signal();
  return -1;
}

std::string ExitStatus::ToString() const {
  if (!started_) return "not started";
  if (exited()) return "exit status " + std::to_string(exit_code());
  if (signaled()) {
    return "killed by signal " + std::to_string(signal()) + " (" + SignalDescription(signal()) +
           ")";
  }
  return "wait status " + std::to_string(wait_status_);
}

ChildProcess::~ChildProcess() {
  CloseStdin();
  if (pid_ > 0 && !reaped_) {
    Kill();
    Wait();
  }
  CloseAll();
}

void ChildProcess::CloseAll() {
  CloseFd(&in_fd_);
  CloseFd(&out_fd_);
  CloseFd(&err_fd_);
}

int ChildProcess::Start(const std::string& program, const std::vector<std::string>& args,
                        const SpawnOptions& options) {
  if (pid_ > 0) return EBUSY;  // One child per object.
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  int error = 0;
  if (options.stdin_fd < 0 && options.in == Stream::kPipe) error = MakePipe(in);
  if (error == 0 && options.out == Stream::kPipe) error = MakePipe(out);
  if (error == 0 && options.err == Stream::kPipe) error = MakePipe(err);

  // Built before the spawn, in the parent: argv[0] is the program.
  std::vector<std::string> strings = {options.argv0.empty() ? program : options.argv0};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  if (error == 0) {
    SpawnSetup setup;
    setup.Route(STDIN_FILENO, options.in, options.stdin_fd >= 0 ? options.stdin_fd : in[0]);
    setup.Route(STDOUT_FILENO, options.out, out[1]);
    setup.Route(STDERR_FILENO, options.err, err[1]);
    error = setup.Spawn(program, argv.data(), &pid);
  }
  // The child's ends are its own now (or nobody's).
  CloseFd(&in[0]);
  CloseFd(&out[1]);
  CloseFd(&err[1]);
  if (error == 0 && pid <= 0) error = ECHILD;  // Never keep a pid we must not signal.
  if (error != 0) {
    CloseFd(&in[1]);
    CloseFd(&out[0]);
    CloseFd(&err[0]);
    return error;
  }
  pid_ = pid;
  reaped_ = false;
  status_ = ExitStatus();
  in_fd_ = in[1];
  out_fd_ = out[0];
  err_fd_ = err[0];
  out_.clear();
  head_ = 0;
  scan_ = 0;
  err_.clear();
  return 0;
}

void ChildProcess::ReadChunk(bool from_stdout) {
  int& fd = from_stdout ? out_fd_ : err_fd_;
  if (fd < 0) return;
  char chunk[65536];
  const ssize_t n = ::read(fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    CloseFd(&fd);
    return;
  }
  (from_stdout ? out_ : err_).append(chunk, static_cast<std::size_t>(n));
}

bool ChildProcess::ReadSome(Clock::time_point deadline) {
  for (;;) {
    pollfd fds[2];
    bool is_stdout[2];
    nfds_t count = 0;
    if (out_fd_ >= 0) {
      fds[count] = {out_fd_, POLLIN, 0};
      is_stdout[count++] = true;
    }
    if (err_fd_ >= 0) {
      fds[count] = {err_fd_, POLLIN, 0};
      is_stdout[count++] = false;
    }
    if (count == 0) return true;
    const int ready = ::poll(fds, count, MillisUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents != 0) ReadChunk(is_stdout[i]);
    }
    return true;
  }
}

std::optional<std::string> ChildProcess::TakeBufferedLine() {
  const std::size_t nl = out_.find('\n', std::max(scan_, head_));
  if (nl == std::string::npos) {
    if (out_fd_ < 0 && head_ < out_.size()) {
      std::string last = out_.substr(head_);
      out_.clear();
      head_ = 0;
      scan_ = 0;
      return last;
    }
    // Drop what was consumed; remember that the rest holds no '\n'.
    out_.erase(0, head_);
    head_ = 0;
    scan_ = out_.size();
    return std::nullopt;
  }
  std::string line = out_.substr(head_, nl - head_);
  head_ = nl + 1;
  scan_ = head_;
  return line;
}

ChildProcess::ReadStatus ChildProcess::ReadLine(Clock::time_point deadline, std::string* line) {
  for (;;) {
    if (std::optional<std::string> next = TakeBufferedLine()) {
      *line = std::move(*next);
      return ReadStatus::kLine;
    }
    if (out_fd_ < 0) return ReadStatus::kEof;
    if (!ReadSome(deadline)) return ReadStatus::kTimeout;
  }
}

bool ChildProcess::ReadToEof(Clock::time_point deadline) {
  while (out_fd_ >= 0 || err_fd_ >= 0) {
    if (!ReadSome(deadline)) return false;
  }
  return true;
}

std::string ChildProcess::TakeStdout() {
  std::string rest = out_.substr(head_);
  out_.clear();
  head_ = 0;
  scan_ = 0;
  return rest;
}

std::string ChildProcess::TakeStderr() { return std::exchange(err_, std::string()); }

bool ChildProcess::PollAny(std::span<ChildProcess* const> children, Clock::time_point deadline) {
  std::vector<pollfd> fds;
  std::vector<std::pair<ChildProcess*, bool>> owners;  // (child, is stdout)
  for (ChildProcess* child : children) {
    if (child->out_fd_ >= 0) {
      fds.push_back({child->out_fd_, POLLIN, 0});
      owners.emplace_back(child, true);
    }
    if (child->err_fd_ >= 0) {
      fds.push_back({child->err_fd_, POLLIN, 0});
      owners.emplace_back(child, false);
    }
  }
  if (fds.empty()) return false;
  int ready;
  do {
    ready = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), MillisUntil(deadline));
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return false;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents != 0) owners[i].first->ReadChunk(owners[i].second);
  }
  return true;
}

bool ChildProcess::Send(std::string_view text) {
  if (in_fd_ < 0) {
    errno = EBADF;
    return false;
  }
  // A child that closed its stdin must be an EPIPE here, not a SIGPIPE that
  // kills us: block it for this thread, and take back the one we raised.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t old_mask;
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  sigset_t pending;
  ::sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;

  bool ok = true;
  while (!text.empty()) {
    const ssize_t n = ::write(in_fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  const int saved = errno;
  if (!ok && saved == EPIPE && !was_pending) {
    const struct timespec zero = {0, 0};
    while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved;
  return ok;
}

void ChildProcess::CloseStdin() { CloseFd(&in_fd_); }

bool ChildProcess::Signal(int signal) {
  // pid -1 would signal every process we may signal, 0 our process group;
  // a reaped pid may be someone else's already.
  if (pid_ <= 0 || reaped_) {
    errno = ESRCH;
    return false;
  }
  return ::kill(pid_, signal) == 0;
}

bool ChildProcess::Kill() { return Signal(SIGKILL); }

ExitStatus ChildProcess::Wait() {
  if (pid_ <= 0 || reaped_) return status_;
  int wait_status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &wait_status, 0);
    if (r == pid_) break;
    if (r < 0 && errno == EINTR) continue;
    // ECHILD: reaped behind our back (SIGCHLD ignored). Gone either way.
    reaped_ = true;
    return status_;
  }
  reaped_ = true;
  status_ = ExitStatus::FromWaitStatus(wait_status);
  return status_;
}

std::optional<ExitStatus> ChildProcess::TryWait() {
  if (pid_ <= 0 || reaped_) return status_;
  int wait_status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wait_status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  reaped_ = true;
  if (r == pid_) status_ = ExitStatus::FromWaitStatus(wait_status);
  return status_;
}

std::optional<ExitStatus> ChildProcess::WaitUntil(Clock::time_point deadline) {
  if (std::optional<ExitStatus> done = TryWait()) return done;
#ifdef SYS_pidfd_open
  // A pidfd turns readable when the child ends: an exact wait, no polling.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd >= 0) {
    pollfd p = {pidfd, POLLIN, 0};
    while (::poll(&p, 1, MillisUntil(deadline)) < 0 && errno == EINTR) {
    }
    ::close(pidfd);
    return TryWait();
  }
#endif
  // Kernels before 5.3: ask waitpid, backing off to 20 ms between tries.
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (std::optional<ExitStatus> done = TryWait()) return done;
    const auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

RunResult Run(const std::string& program, const std::vector<std::string>& args,
              Clock::time_point deadline) {
  SpawnOptions options;
  options.in = Stream::kNull;
  options.out = Stream::kPipe;
  options.err = Stream::kPipe;
  return Run(program, args, deadline, options);
}

RunResult Run(const std::string& program, const std::vector<std::string>& args,
              Clock::time_point deadline, const SpawnOptions& options) {
  RunResult result;
  ChildProcess child;
  result.spawn_error = child.Start(program, args, options);
  if (result.spawn_error != 0) return result;
  std::optional<ExitStatus> status;
  if (child.ReadToEof(deadline)) status = child.WaitUntil(deadline);
  if (!status.has_value()) {
    result.timed_out = true;
    child.Kill();
    status = child.Wait();
  }
  result.status = *status;
  result.out = child.TakeStdout();
  result.err = child.TakeStderr();
  return result;
}

ExitStatus RunForked(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid < 0) return ExitStatus();
  if (pid == 0) ::_exit(fn());
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return ExitStatus();
  }
  return ExitStatus::FromWaitStatus(wait_status);
}

}  // namespace sqlsteward::subprocess
