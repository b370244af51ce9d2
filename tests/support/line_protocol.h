// The child's side of the line protocol of child_process.h, and the parsing
// both sides share: a child says one line per event on stdout, takes its
// commands one line at a time from stdin, and treats EOF on stdin as its
// go signal (or its stop, once running).
#ifndef SQLSTEWARD_TESTS_SUPPORT_LINE_PROTOCOL_H_
#define SQLSTEWARD_TESTS_SUPPORT_LINE_PROTOCOL_H_

#include <optional>
#include <string>
#include <string_view>

namespace sqlsteward::subprocess {

// The verb of a failure line: "error <code> <message>".
inline constexpr std::string_view kErrorVerb = "error";

// Writes `line` and '\n' to stdout with one write(2), under a process-wide
// mutex: lines of several threads never interleave, and no stdio buffer
// holds one back. A '\n' or '\r' inside `line` becomes a space (it would
// split the event in two). Returns false when the parent is gone (EPIPE),
// or on another write error. Safe for concurrent use.
bool SayLine(std::string_view line);
// SayLine, but a child whose parent is gone has nobody left to report to:
// it exits with status 3 at once.
void SayOrExit(std::string_view line);
// "error <code> <message>"; `code` is a status code name ("internal").
std::string ErrorLine(std::string_view code, std::string_view message);

// The next line of stdin without its '\n', read straight from fd 0 (no
// stdio buffer to fight over with another reader); nullopt at EOF or on a
// read error. A last line without '\n' is returned before EOF.
std::optional<std::string> ReadStdinLine();
// Blocks until stdin reaches EOF (or fails): the parent closed it.
void WaitForStdinEof();

// "verb rest of the line" split at its first space.
struct Event {
  std::string_view verb;
  std::string_view rest;  // empty when there is nothing after the verb
};
Event ParseEvent(std::string_view line);

}  // namespace sqlsteward::subprocess

#endif  // SQLSTEWARD_TESTS_SUPPORT_LINE_PROTOCOL_H_
