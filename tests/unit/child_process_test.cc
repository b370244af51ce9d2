// The spawner every test, benchmark and the demo start children with
// (support/child_process.h): errors reported instead of children that exit
// 127, no signal ever sent to a pid it does not own, lines read with a
// deadline, and the pipes' corner cases (a last line without '\n', a child
// that closed its stdin, a full stderr pipe, one go pipe for many).
#include "support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "support/line_protocol.h"
#include "support/testing.h"

namespace sqlsteward::subprocess {
namespace {

using namespace std::chrono_literals;
using ReadStatus = ChildProcess::ReadStatus;

Clock::time_point In(Clock::duration d) { return Clock::now() + d; }

// `sh -c script` with stdin and stdout piped.
int StartShell(ChildProcess* child, const std::string& script, SpawnOptions options = {}) {
  return child->Start("/bin/sh", {"-c", script}, options);
}

TEST(ChildProcessTest, AMissingProgramIsAnErrorAndNothingIsEverSignalled) {
  ChildProcess child;
  EXPECT_EQ(child.Start("/nonexistent/program", {}), ENOENT);
  EXPECT_EQ(child.pid(), -1);
  // A pid of -1 would reach every process we may signal: refused.
  errno = 0;
  EXPECT_FALSE(child.Signal(SIGKILL));
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(child.Kill());
  EXPECT_FALSE(child.Wait().started());
  EXPECT_EQ(child.Wait().ShellCode(), -1);
  std::string line;
  EXPECT_EQ(child.ReadLine(In(1s), &line), ReadStatus::kEof);

  ChildProcess in_path;
  EXPECT_EQ(in_path.Start("sqlsteward-no-such-program-in-path", {}), ENOENT);
}

TEST(ChildProcessTest, AReapedChildIsNeverSignalledAgain) {
  ChildProcess child;
  ASSERT_EQ(StartShell(&child, "exit 3"), 0);
  EXPECT_GT(child.pid(), 0);
  ExitStatus status = child.Wait();
  EXPECT_TRUE(status.exited());
  EXPECT_EQ(status.exit_code(), 3);
  EXPECT_EQ(status.ToString(), "exit status 3");
  EXPECT_TRUE(child.reaped());
  // Its pid may belong to another process by now.
  EXPECT_FALSE(child.Signal(SIGKILL));
  EXPECT_EQ(child.Wait().exit_code(), 3);  // The same answer, no second waitpid.
}

TEST(ChildProcessTest, LinesComeInOrderAndALastLineNeedsNoNewline) {
  ChildProcess child;
  ASSERT_EQ(StartShell(&child, "printf 'ready\\nack 17\\n\\nlast'"), 0);
  std::string line;
  ASSERT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kLine);
  EXPECT_EQ(line, "ready");
  ASSERT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kLine);
  EXPECT_EQ(line, "ack 17");
  ASSERT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kLine);
  EXPECT_EQ(line, "");
  ASSERT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kLine);
  EXPECT_EQ(line, "last");
  EXPECT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kEof);
  EXPECT_TRUE(child.Wait().ok());
}

TEST(ChildProcessTest, ReadLineAndWaitUntilGiveUpAtTheirDeadline) {
  ChildProcess child;
  ASSERT_EQ(child.Start("sleep", {"30"}), 0);
  std::string line;
  const auto start = Clock::now();
  EXPECT_EQ(child.ReadLine(In(200ms), &line), ReadStatus::kTimeout);
  EXPECT_FALSE(child.WaitUntil(In(200ms)).has_value());
  EXPECT_GE(Clock::now() - start, 400ms);
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_TRUE(child.Kill());
  std::optional<ExitStatus> status = child.WaitUntil(In(10s));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->signaled());
  EXPECT_EQ(status->ShellCode(), 128 + SIGKILL);
  EXPECT_EQ(status->ToString(), "killed by signal 9 (Killed)");
}

TEST(ChildProcessTest, DestructionKillsAndReapsARunningChild) {
  pid_t pid = -1;
  {
    ChildProcess child;
    ASSERT_EQ(child.Start("sleep", {"30"}), 0);
    pid = child.pid();
  }
  // Reaped: no such process (not even a zombie) is left.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// The test process keeps SIGPIPE at its default: a Send that raised it
// would kill the test instead of failing.
TEST(ChildProcessTest, SendToAChildThatClosedItsStdinFailsWithEpipe) {
  ChildProcess child;
  ASSERT_EQ(StartShell(&child, "exec 0<&-; echo closed; sleep 30"), 0);
  std::string line;
  ASSERT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kLine);
  ASSERT_EQ(line, "closed");
  errno = 0;
  EXPECT_FALSE(child.Send("go\n"));
  EXPECT_EQ(errno, EPIPE);
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE)) << "the SIGPIPE raised was left pending";
}

TEST(ChildProcessTest, CommandsGoInAndEofIsTheGoSignal) {
  ChildProcess child;
  ASSERT_EQ(StartShell(&child, "read cmd; echo \"got $cmd\"; cat >/dev/null; echo go"), 0);
  ASSERT_TRUE(child.Send("take 3\n"));
  std::string line;
  ASSERT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kLine);
  EXPECT_EQ(line, "got take 3");
  EXPECT_EQ(child.ReadLine(In(200ms), &line), ReadStatus::kTimeout);  // Waits for EOF.
  child.CloseStdin();
  ASSERT_EQ(child.ReadLine(In(10s), &line), ReadStatus::kLine);
  EXPECT_EQ(line, "go");
  EXPECT_TRUE(child.Wait().ok());
}

// One pipe as every child's stdin: closing its write end releases them all.
TEST(ChildProcessTest, ASharedGoPipeReleasesEveryChild) {
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  SpawnOptions options;
  options.stdin_fd = go[0];
  ChildProcess a;
  ChildProcess b;
  ASSERT_EQ(StartShell(&a, "echo ready; cat >/dev/null; echo go", options), 0);
  ASSERT_EQ(StartShell(&b, "echo ready; cat >/dev/null; echo go", options), 0);
  ::close(go[0]);
  std::string line;
  for (ChildProcess* c : {&a, &b}) {
    ASSERT_EQ(c->ReadLine(In(10s), &line), ReadStatus::kLine);
    EXPECT_EQ(line, "ready");
  }
  ::close(go[1]);
  for (ChildProcess* c : {&a, &b}) {
    ASSERT_EQ(c->ReadLine(In(10s), &line), ReadStatus::kLine);
    EXPECT_EQ(line, "go");
    EXPECT_TRUE(c->Wait().ok());
  }
}

// 1 MiB on stderr before the line: a parent that read only stdout would
// leave the child blocked on a full stderr pipe, and never see the line.
TEST(ChildProcessTest, APipedStderrIsDrainedWhileWaitingForALine) {
  SpawnOptions options;
  options.err = Stream::kPipe;
  ChildProcess child;
  ASSERT_EQ(StartShell(&child, "head -c 1048576 /dev/zero >&2; echo done", options), 0);
  std::string line;
  ASSERT_EQ(child.ReadLine(In(30s), &line), ReadStatus::kLine);
  EXPECT_EQ(line, "done");
  ASSERT_TRUE(child.ReadToEof(In(30s)));
  EXPECT_EQ(child.TakeStderr().size(), 1048576u);
  EXPECT_TRUE(child.Wait().ok());
}

TEST(ChildProcessTest, PollAnyReadsWhicheverChildHasOutput) {
  ChildProcess quiet;
  ChildProcess talker;
  ASSERT_EQ(quiet.Start("sleep", {"30"}), 0);
  ASSERT_EQ(StartShell(&talker, "echo one; echo two"), 0);
  ChildProcess* both[] = {&quiet, &talker};
  std::vector<std::string> lines;
  const auto deadline = In(10s);
  while (!talker.stdout_eof() && ChildProcess::PollAny(both, deadline)) {
    while (std::optional<std::string> line = talker.TakeBufferedLine()) lines.push_back(*line);
  }
  while (std::optional<std::string> line = talker.TakeBufferedLine()) lines.push_back(*line);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
  EXPECT_FALSE(quiet.TakeBufferedLine().has_value());
  EXPECT_FALSE(quiet.stdout_eof());
}

TEST(ChildProcessTest, RunCapturesOutputAndStatus) {
  RunResult run = subprocess::Run("/bin/sh", {"-c", "echo out; echo err >&2; exit 4"}, In(30s));
  EXPECT_EQ(run.spawn_error, 0);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.status.ShellCode(), 4);
  EXPECT_EQ(run.out, "out\n");
  EXPECT_EQ(run.err, "err\n");

  RunResult missing = subprocess::Run("/nonexistent/program", {}, In(30s));
  EXPECT_EQ(missing.spawn_error, ENOENT);
  EXPECT_FALSE(missing.status.started());
}

TEST(ChildProcessTest, RunKillsACommandPastItsDeadline) {
  const auto start = Clock::now();
  RunResult run = subprocess::Run("/bin/sh", {"-c", "echo started; exec sleep 30"}, In(300ms));
  EXPECT_TRUE(run.timed_out);
  EXPECT_EQ(run.status.ShellCode(), 128 + SIGKILL);
  EXPECT_EQ(run.out, "started\n");
  EXPECT_LT(Clock::now() - start, 10s);
}

TEST(ChildProcessTest, RunForkedReturnsTheFunctionsExitCode) {
  EXPECT_EQ(RunForked([] { return 7; }).ShellCode(), 7);
}

TEST(LineProtocolTest, ErrorLinesAndEvents) {
  EXPECT_EQ(ErrorLine("timeout", "no lock within 5 s"), "error timeout no lock within 5 s");
  Event event = ParseEvent("error timeout no lock within 5 s");
  EXPECT_EQ(event.verb, kErrorVerb);
  EXPECT_EQ(event.rest, "timeout no lock within 5 s");
  event = ParseEvent("ready");
  EXPECT_EQ(event.verb, "ready");
  EXPECT_EQ(event.rest, "");
}

// A helper binary reports bad usage through the protocol, never as exit 0.
TEST(HelperMainTest, BadUsageIsAnErrorLineAndExit64) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, {"no-such-mode"}, {"closures", "db"},
        {"closures", "db", "four", "10"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    RunResult run = subprocess::Run(testing::HelperPath(), args, In(30s));
    EXPECT_EQ(run.status.ShellCode(), 64);
    EXPECT_EQ(run.out.rfind("error invalid_argument ", 0), 0u) << run.out;
  }
}

}  // namespace
}  // namespace sqlsteward::subprocess
