// A forked child joined to its parent by a SOCK_SEQPACKET socketpair, for
// the lock and shared-memory probes (probes.h), which need a second process
// that opens the probe file on its own.
//
// The children are forked, not exec'd, and may run in a multithreaded
// process: between fork and _exit they make only async-signal-safe system
// calls (open, fstat, fcntl, mmap, read, write, dup2, close_range,
// clock_gettime, nanosleep) on data prepared before the fork, and use raw
// calls rather than the Env, since they stand in for a foreign process.
// Each child first closes every descriptor it inherited but its own
// socket: another thread's probe running at the same moment must still see
// EOF from its own child.
//
// Thread safety: a Child belongs to the thread that started it.
#ifndef SQLSTEWARD_PROBE_CHILD_H_
#define SQLSTEWARD_PROBE_CHILD_H_

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "base/status_builders.h"
#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::probe_internal {

using Millis = std::chrono::milliseconds;

// 64 random bits (getrandom; a counter mixed with the clock before the
// pool is ready: uniqueness is all the callers need).
std::uint64_t Random64();
std::uint64_t NonZeroRandom();
// CLOCK_MONOTONIC in nanoseconds; async-signal-safe.
std::int64_t MonotonicNanos();
// In a freshly forked child: closes every descriptor above stderr except
// `keep` and returns where `keep` now is. Async-signal-safe.
int KeepOnly(int keep);

class Child {
 public:
  // Forks; the child runs body(its socket) and _exits with the result.
  // `body` must be async-signal-safe.
  template <typename Body>
  static Result<Child> Start(Body&& body) {
    int sockets[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
      return posix::ErrnoStatus(errno, "socketpair", "probe");
    }
    pid_t pid = fork();
    if (pid < 0) {
      int err = errno;
      close(sockets[0]);
      close(sockets[1]);
      return posix::ErrnoStatus(err, "fork", "probe child");
    }
    if (pid == 0) _exit(body(KeepOnly(sockets[1])));
    close(sockets[1]);
    return Child(pid, sockets[0]);
  }

  Child(Child&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), socket_(std::exchange(other.socket_, -1)) {}
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // A child still running here is one we gave up on: kill it.
  ~Child() {
    if (pid_ > 0) kill(pid_, SIGKILL);
    Finish().IgnoreError();
  }

  pid_t pid() const { return pid_; }
  // The signal that killed the child, once reaped; else 0.
  int term_signal() const { return term_signal_; }

  // Receives one message of exactly `len` bytes within `timeout`.
  Status Receive(void* message, std::size_t len, Millis timeout) {
    std::int64_t deadline =
        MonotonicNanos() + static_cast<std::int64_t>(timeout.count()) * 1'000'000;
    for (;;) {
      std::int64_t left_ms = (deadline - MonotonicNanos()) / 1'000'000;
      struct pollfd pfd = {socket_, POLLIN, 0};
      int ready = poll(&pfd, 1, static_cast<int>(left_ms < 0 ? 0 : left_ms));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return posix::ErrnoStatus(errno, "poll", "probe child socket");
      if (ready == 0) {
        return Timeout("probe child " + std::to_string(pid_) + " did not answer within " +
                           std::to_string(timeout.count()) + " ms",
                       "the filesystem may be hung or very slow; check the mount and retry");
      }
      ssize_t got = recv(socket_, message, len, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return posix::ErrnoStatus(errno, "recv", "probe child socket");
      if (static_cast<std::size_t>(got) == len) return Status();
      std::string what = got == 0 ? "exited before answering" : "sent a short message";
      Status finished = Finish();
      return Status(
          StatusCode::kInternal,
          "probe child " + what +
              (finished.ok() ? std::string() : " (" + std::string(finished.message()) + ")"));
    }
  }

  Status Send(const void* message, std::size_t len) {
    ssize_t sent;
    do {
      sent = send(socket_, message, len, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return posix::ErrnoStatus(errno, "send", "probe child socket");
    return Status();
  }

  // Tells the child to exit (it waits for a byte or EOF) and reaps it.
  // Non-OK when it did not exit with status 0.
  Status Finish() {
    if (socket_ >= 0) {
      char quit = 'q';
      send(socket_, &quit, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      close(socket_);
      socket_ = -1;
    }
    if (pid_ <= 0) return Status();
    pid_t pid = std::exchange(pid_, -1);
    int wstatus = 0;
    pid_t reaped;
    do {
      reaped = waitpid(pid, &wstatus, 0);
    } while (reaped < 0 && errno == EINTR);
    // ECHILD: the application ignores SIGCHLD and the kernel reaped it.
    if (reaped < 0) {
      return errno == ECHILD ? Status() : posix::ErrnoStatus(errno, "waitpid", "probe child");
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status();
    if (WIFSIGNALED(wstatus)) term_signal_ = WTERMSIG(wstatus);
    std::string how = WIFSIGNALED(wstatus) ? "killed by signal " + std::to_string(WTERMSIG(wstatus))
                                           : "exit status " + std::to_string(WEXITSTATUS(wstatus));
    return Internal("probe child " + std::to_string(pid) + " " + how);
  }

 private:
  Child(pid_t pid, int socket) : pid_(pid), socket_(socket) {}

  pid_t pid_;
  int socket_;
  int term_signal_ = 0;
};

}  // namespace sqlsteward::probe_internal

#endif  // SQLSTEWARD_PROBE_CHILD_H_
