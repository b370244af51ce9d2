#include "support/line_protocol.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace sqlsteward::subprocess {

bool SayLine(std::string_view line) {
  std::string text(line);
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  text += '\n';
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    // Only a line past PIPE_BUF is ever written in parts.
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void SayOrExit(std::string_view line) {
  if (!SayLine(line)) std::_Exit(3);
}

std::string ErrorLine(std::string_view code, std::string_view message) {
  std::string line(kErrorVerb);
  line += ' ';
  line += code;
  line += ' ';
  line += message;
  return line;
}

std::optional<std::string> ReadStdinLine() {
  std::string line;
  for (;;) {
    char c;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return line.empty() ? std::nullopt : std::optional<std::string>(std::move(line));
    if (c == '\n') return line;
    line += c;
  }
}

void WaitForStdinEof() {
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

Event ParseEvent(std::string_view line) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return {line, {}};
  return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace sqlsteward::subprocess
