// One way to start a helper process and talk to it. The tests' helper
// binaries, the benchmarks' workers and `sqlsteward demo`'s workers are all
// started by ChildProcess and all speak the line protocol below, so a
// barrier, a deadline or a kill is written once.
//
// The line protocol. A child reports each event as one line on its stdout,
// written with one write(2) (line_protocol.h does this): below PIPE_BUF that
// is atomic, so lines of several threads never interleave and a SIGKILL
// never leaves half a line.
//   <verb> [<fields>...]     an event: "ready", "ack 17", "done 3 0 12"
//   error <code> <message>   the child failed; <code> is a status code name
//                            ("timeout", "internal"); it then exits non-zero
// The parent reads lines with a deadline and never sleeps in the hope that
// the child got somewhere: it waits for the line that says so. Commands go
// the other way, one per line on the child's stdin; closing the child's
// stdin (EOF) is the "go" of a child waiting behind a barrier.
//
// Safety. Start() checks every pipe and the spawn itself (posix_spawn
// reports a failed exec as an error, not as a child that exits 127). A
// ChildProcess never signals a pid it does not own: not before a successful
// Start() (pid 0 or -1 would reach the whole process group or every
// process), and not after Wait() reaped it (the pid may belong to another
// process by then). Children start with SIGPIPE at its default and no
// signal blocked, as from a shell, whatever the parent ignores or blocks.
//
// Thread safety: a ChildProcess is used by one thread at a time.
#ifndef SQLSTEWARD_TESTS_SUPPORT_CHILD_PROCESS_H_
#define SQLSTEWARD_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sqlsteward::subprocess {

using Clock = std::chrono::steady_clock;

// How a child ended, as waitpid(2) reported it.
class ExitStatus {
 public:
  // A child that never started (or was not waited for).
  ExitStatus() = default;
  static ExitStatus FromWaitStatus(int wait_status);

  bool started() const { return started_; }
  bool exited() const;
  int exit_code() const;  // when exited()
  bool signaled() const;
  int signal() const;  // when signaled()
  // Exited with status 0.
  bool ok() const { return exited() && exit_code() == 0; }
  // The shell's number: the exit code, 128 + the signal, -1 otherwise.
  int ShellCode() const;
  // "exit status 1", "killed by signal 9 (Killed)", "not started".
  std::string ToString() const;

 private:
  bool started_ = false;
  int wait_status_ = 0;
};

// Where one of the child's standard streams goes.
enum class Stream {
  kPipe,     // a pipe to or from us
  kInherit,  // ours
  kNull,     // /dev/null
};

struct SpawnOptions {
  Stream in = Stream::kPipe;
  Stream out = Stream::kPipe;
  Stream err = Stream::kInherit;
  // When >= 0, the child's stdin is a copy of this fd (overriding `in`):
  // one pipe shared by many children, whose write end the parent closes to
  // release them all at the same instant. The fd should be close-on-exec,
  // or every child keeps the others' barrier open.
  int stdin_fd = -1;
  // The child's argv[0] when not empty; the program otherwise.
  std::string argv0;
};

// A started child process and the pipes to it. Destruction closes its
// stdin, kills it with SIGKILL if it has not been reaped, and reaps it:
// whatever path leaves the owner, no child outlives it.
class ChildProcess {
 public:
  enum class ReadStatus { kLine, kEof, kTimeout };

  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Runs `program` (a path, or a name looked up in PATH) with argv[0]
  // (options.argv0, or `program`) followed by `args`. Returns 0, or the errno of the failed
  // pipe or spawn (ENOENT: no such program); nothing is running then.
  [[nodiscard]] int Start(const std::string& program, const std::vector<std::string>& args,
                          const SpawnOptions& options = {});

  // The next line of the child's stdout, without its '\n', into *line.
  // kEof once the child closed its stdout (a last line without '\n' comes
  // first as kLine); kTimeout when `deadline` passed first. Drains a piped
  // stderr meanwhile, so the child never blocks on it.
  ReadStatus ReadLine(Clock::time_point deadline, std::string* line);
  // Reads until the child closes every piped output stream; false when
  // `deadline` passed first. The bytes wait in TakeStdout()/TakeStderr().
  bool ReadToEof(Clock::time_point deadline);
  // Unread stdout (everything after the lines ReadLine returned) and
  // stderr, emptying the buffers.
  std::string TakeStdout();
  std::string TakeStderr();

  // The next complete line already read from stdout, if any; after EOF, a
  // last line without '\n'. For parents that wait on several children
  // with PollAny.
  std::optional<std::string> TakeBufferedLine();
  // The child closed its stdout (or it was never piped).
  bool stdout_eof() const { return out_fd_ < 0; }

  // Waits until one of `children` has output (or EOF) to read, or
  // `deadline`, and reads what is there. Returns false at the deadline or
  // when no child has a pipe left open.
  static bool PollAny(std::span<ChildProcess* const> children, Clock::time_point deadline);

  // Writes to the child's stdin. False (with errno; EPIPE when the child
  // closed it) if not all of `text` was written; never raises SIGPIPE.
  bool Send(std::string_view text);
  // Closes the child's stdin: EOF, the go signal of a waiting child.
  void CloseStdin();

  // Sends `signal` unless the child was never started or has been reaped;
  // false (errno ESRCH) then, or when kill(2) failed.
  bool Signal(int signal);
  bool Kill();  // Signal(SIGKILL)

  // Waits for the child to end and reaps it. A child never started reads
  // as ExitStatus() (ShellCode -1).
  ExitStatus Wait();
  // Like Wait() but gives up at `deadline`: nullopt while it still runs.
  std::optional<ExitStatus> WaitUntil(Clock::time_point deadline);
  // Reaped already, or ends now: non-blocking.
  std::optional<ExitStatus> TryWait();

  // The child's pid; -1 before a successful Start().
  pid_t pid() const { return pid_; }
  bool reaped() const { return reaped_; }

 private:
  // Reads one chunk from stdout (`from_stdout`) or stderr; closes the fd
  // at EOF or error.
  void ReadChunk(bool from_stdout);
  // Polls this child's open output pipes until `deadline`, reads what is
  // ready; false at the deadline.
  bool ReadSome(Clock::time_point deadline);
  void CloseAll();

  pid_t pid_ = -1;
  bool reaped_ = false;
  ExitStatus status_;
  int in_fd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;       // stdout read; out_[head_, end) not yet taken
  std::size_t head_ = 0;
  std::size_t scan_ = 0;  // out_[head_, scan_) holds no '\n'
  std::string err_;
};

// What Run returns: the spawn errno (0 when it ran), how it ended, what it
// printed on piped streams, and whether it overran its deadline (it was
// killed then).
struct RunResult {
  int spawn_error = 0;
  ExitStatus status;
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Starts `program`, reads its piped output to EOF and waits for it; kills
// it at `deadline`.
RunResult Run(const std::string& program, const std::vector<std::string>& args,
              Clock::time_point deadline, const SpawnOptions& options);
// The same for a command-line tool under test: stdin /dev/null, stdout and
// stderr captured.
RunResult Run(const std::string& program, const std::vector<std::string>& args,
              Clock::time_point deadline);

// Runs `fn` in a forked child, which exits with fn's return value, and
// waits for it. No exec: for tests of what a fork inherits. The child may
// only do what is safe after fork() in a threaded process.
ExitStatus RunForked(const std::function<int()>& fn);

}  // namespace sqlsteward::subprocess

#endif  // SQLSTEWARD_TESTS_SUPPORT_CHILD_PROCESS_H_
