#include "common/progress.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "common/cli.h"

namespace sqlsteward::cli {
namespace {

// On a terminal, a bar for the phase in progress, redrawn in place:
//   copy            [#####...........] 1234/5678 pages (22%)  4.8 MiB  45.6 MiB/s  ETA 2.0 s
// and a line that stays for each finished phase:
//   copy            5678 pages, 22.2 MiB in 0.41 s (54.1 MiB/s)
// Elsewhere only the lines that stay, and a progress line every 2 s. Sync,
// checksum and integrity check run side by side; each keeps its own line.
class ProgressPrinter {
 public:
  // Plain output: the first progress line after kPlainEvery, not at once.
  explicit ProgressPrinter(bool tty)
      : tty_(tty), last_(tty ? std::chrono::steady_clock::time_point{}
                             : std::chrono::steady_clock::now()) {}

  void Show(const SnapshotProgress& p) {
    const double elapsed = std::chrono::duration<double>(p.elapsed).count();
    const std::string name(SnapshotPhaseName(p.phase));
    if (p.finished) {
      std::string text;
      if (p.pages_total <= 0) {
        text = fmt::format("{:<15} done in {}", name, FormatSeconds(elapsed));
      } else {
        const double bytes = static_cast<double>(p.pages_total * p.page_size);
        text = fmt::format("{:<15} {} pages, {} in {} ({:.1f} MiB/s)", name, p.pages_total,
                           FormatMib(p.pages_total * p.page_size), FormatSeconds(elapsed),
                           elapsed > 0 ? bytes / elapsed / (1024.0 * 1024.0) : 0.0);
      }
      Print(text, /*stays=*/true);
      return;
    }
    // Phases without intermediate progress (sync, integrity check) show
    // only their end. On a terminal a phase whose size is known shows its
    // bar at once, at 0%; plain output waits kPlainEvery.
    if (p.pages_total <= 0 || (p.pages_done <= 0 && !tty_)) return;
    const auto now = std::chrono::steady_clock::now();
    if (p.pages_done > 0 && now - last_ < (tty_ ? kTtyEvery : kPlainEvery)) return;
    last_ = now;
    const double fraction = std::clamp(
        static_cast<double>(p.pages_done) / static_cast<double>(p.pages_total), 0.0, 1.0);
    const double rate = elapsed > 0 ? static_cast<double>(p.bytes_done) / elapsed : 0.0;
    std::string bar;
    if (tty_) {
      constexpr int kWidth = 24;
      const int filled = static_cast<int>(fraction * kWidth);
      bar = "[" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] ";
    }
    std::string text = fmt::format("{:<15} {}{}/{} pages ({:.0f}%)  {}  {:.1f} MiB/s  ETA {}",
                                   name, bar, p.pages_done, p.pages_total, fraction * 100.0,
                                   FormatMib(p.bytes_done), rate / (1024.0 * 1024.0),
                                   fraction > 0 ? FormatSeconds(elapsed * (1.0 - fraction) / fraction)
                                                : std::string("-"));
    if (p.restarts > 0) text += fmt::format("  ({} restarts)", p.restarts);
    Print(text, /*stays=*/false);
  }

 private:
  void Print(const std::string& text, bool stays) {
    if (!tty_) {
      fmt::print("{}\n", text);
    } else {
      // Overwrite the bar (if one is shown) with this line.
      fmt::print("\r{:<{}}{}", text, bar_width_, stays ? "\n" : "");
      bar_width_ = stays ? 0 : std::max(bar_width_, text.size());
    }
    std::fflush(stdout);
  }

  static constexpr auto kTtyEvery = std::chrono::milliseconds(100);
  static constexpr auto kPlainEvery = std::chrono::seconds(2);
  bool tty_;
  std::chrono::steady_clock::time_point last_{};
  std::size_t bar_width_ = 0;
};

}  // namespace

SnapshotProgressFn SnapshotProgressPrinter(bool enabled) {
  if (!enabled) return nullptr;
  auto printer = std::make_shared<ProgressPrinter>(IsTerminal(stdout));
  return [printer](const SnapshotProgress& p) { printer->Show(p); };
}

StatusLine::StatusLine(bool enabled, double plain_every_seconds)
    : enabled_(enabled), tty_(IsTerminal(stdout)), every_(tty_ ? 0.1 : plain_every_seconds) {}

bool StatusLine::Due(double elapsed, bool final) {
  if (!enabled_ || (!final && elapsed - last_ < every_)) return false;
  last_ = elapsed;
  return true;
}

void StatusLine::Show(const std::string& text, bool final) {
  if (tty_) {
    fmt::print("\r{:<{}}{}", text, width_, final ? "\n" : "");
    width_ = std::max(width_, text.size());
  } else {
    fmt::print("{}\n", text);
  }
  std::fflush(stdout);
}

}  // namespace sqlsteward::cli
