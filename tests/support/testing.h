// Test support: the StatusIs matcher, per-test temporary directories, and
// the path of the helper binary that multi-process tests fork and exec.
#ifndef SQLSTEWARD_TESTS_SUPPORT_TESTING_H_
#define SQLSTEWARD_TESTS_SUPPORT_TESTING_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "sqlsteward/status.h"
#include "support/child_process.h"

namespace sqlsteward::testing {

// EXPECT_THAT(status, StatusIs(StatusCode::kTimeout));
// Also accepts a Result<T>, matching its error (or kOk when it holds a value).
MATCHER_P(StatusIs, code,
          std::string(negation ? "isn't" : "is") + " a status with code " +
              std::string(::sqlsteward::StatusCodeName(code))) {
  ::sqlsteward::StatusCode actual;
  std::string text;
  if constexpr (requires { arg.has_value(); }) {
    actual = arg.has_value() ? ::sqlsteward::StatusCode::kOk : arg.error().code();
    text = arg.has_value() ? "ok (has a value)" : arg.error().ToString();
  } else {
    actual = arg.code();
    text = arg.ToString();
  }
  *result_listener << "which is " << text;
  return actual == code;
}

#define SQLSTEWARD_ASSERT_OK(expr)                                       \
  do {                                                                   \
    const auto& sqlsteward_s_ = (expr);                                  \
    ASSERT_TRUE(sqlsteward_s_.ok()) << ::sqlsteward::testing::Describe(sqlsteward_s_); \
  } while (0)
#define SQLSTEWARD_EXPECT_OK(expr)                                       \
  do {                                                                   \
    const auto& sqlsteward_s_ = (expr);                                  \
    EXPECT_TRUE(sqlsteward_s_.ok()) << ::sqlsteward::testing::Describe(sqlsteward_s_); \
  } while (0)

inline std::string Describe(const Status& s) { return s.ToString(); }
template <typename T>
std::string Describe(const Result<T>& r) {
  return r.has_value() ? "ok" : r.error().ToString();
}

// A fresh directory (mode 0700) removed with its contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Path of tests/support/test_helper.cc's binary.
std::string HelperPath();

// How long a test waits for a child's next line or its exit before it
// fails: a hung child shows as a failure naming what was awaited, within
// CTest's per-test timeout (300 s).
inline constexpr std::chrono::seconds kChildTimeout{180};

// A child process with its stdin and stdout piped to us: a
// subprocess::ChildProcess (child_process.h) whose failures are test
// failures. Destruction kills it with SIGKILL if it is still running, and
// reaps it.
class Child {
 public:
  // Runs the helper binary with `args`.
  explicit Child(const std::vector<std::string>& args) : Child(HelperPath(), args) {}
  // Runs `program` (a path, or a name looked up in PATH) with `args`.
  Child(const std::string& program, const std::vector<std::string>& args);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads one line from the child's stdout (without '\n'); empty at EOF.
  // No line within `timeout` is a test failure (and returns empty).
  std::string ReadLine(std::chrono::milliseconds timeout = kChildTimeout);
  // Writes to the child's stdin; a failure is a test failure.
  void Send(const std::string& text);
  // Closes the child's stdin: the go signal for helpers waiting on EOF.
  void CloseStdin() { process_.CloseStdin(); }
  // Sends `signal`; never to a child that did not start or was reaped.
  void Kill(int signal) { process_.Signal(signal); }
  // Waits for exit; returns the exit code, or 128+signal, or -1 when the
  // child never started. Still running after `timeout` is a test failure:
  // the child is killed then.
  int Wait(std::chrono::milliseconds timeout = kChildTimeout);
  pid_t pid() const { return process_.pid(); }
  subprocess::ChildProcess& process() { return process_; }

 private:
  std::string program_;
  subprocess::ChildProcess process_;
};

// Runs fn in a forked child (which only returns an exit code) and returns
// that exit code, or 128+signal; -1 (and a test failure) when fork failed.
int RunInChild(const std::function<int()>& fn);

// Runs args[0] from PATH with no shell, stdin at /dev/null; returns its
// exit status, or -1 when it could not run or was killed by a signal.
int RunProgram(const std::vector<std::string>& args);

// `bindfs source target` for the life of the object: a FUSE view of
// `source`. Two such mounts of one directory are two lock domains, as a
// Docker Desktop bind mount is to its host.
class BindfsMount {
 public:
  BindfsMount(const std::string& source, const std::string& target);
  BindfsMount(const BindfsMount&) = delete;
  BindfsMount& operator=(const BindfsMount&) = delete;
  ~BindfsMount();
  // Empty when the mount is up; otherwise what is missing, and how to get it.
  const std::string& error() const { return error_; }

 private:
  std::string target_;
  std::string error_;
  bool mounted_ = false;
};

// Count of rows in `table` read with the raw sqlite3 C API (independent of
// sqlsteward), and PRAGMA integrity_check's first row.
long long CountRows(const std::string& db_path, const std::string& table);
// Runs `sql` (one or more statements) on a raw read-write connection
// (creating the file if missing) and returns the rows, one line per row,
// columns joined by '|'. A failure is a test failure.
std::string RawQuery(const std::string& path, const std::string& sql);
// Everything a migration could change, as text to compare: user_version,
// the schema, and every table's rows.
std::string DumpDatabase(const std::string& path);
std::string IntegrityCheck(const std::string& db_path);

// Whether the kernel has a process blocked waiting for a lock on `path`: a
// "->" line of /proc/locks for its device and inode, e.g.
//   3: -> OFDLCK ADVISORY WRITE -1 08:01:1234567 4096 4096
bool KernelQueuesAWaiterOn(const std::string& path);

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_TESTING_H_
