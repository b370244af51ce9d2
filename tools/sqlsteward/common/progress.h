// The progress displays of snapshot, verify and restore, and the one-line
// status of long-running commands (demo, torture).
#ifndef SQLSTEWARD_TOOLS_COMMON_PROGRESS_H_
#define SQLSTEWARD_TOOLS_COMMON_PROGRESS_H_

#include <cstddef>
#include <string>

#include "sqlsteward/snapshot.h"

namespace sqlsteward::cli {

// On a terminal a bar with pages, rate and ETA redrawn in place; otherwise a
// plain line per finished phase and every 2 s; nullptr (no progress) when
// !enabled. The callback is called from one thread at a time.
SnapshotProgressFn SnapshotProgressPrinter(bool enabled);

// One status line on stdout: redrawn in place (\r) on a terminal at most
// every 0.1 s, otherwise printed as a plain line at most every
// `plain_every_seconds`; nothing when !enabled (e.g. --json). One thread.
class StatusLine {
 public:
  StatusLine(bool enabled, double plain_every_seconds);

  // Whether a line is due at `elapsed` seconds (always when `final`); when
  // it is, the caller formats its text and calls Show.
  bool Due(double elapsed, bool final);
  void Show(const std::string& text, bool final);

 private:
  bool enabled_;
  bool tty_;
  double every_;
  double last_ = -1e9;
  std::size_t width_ = 0;
};

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_PROGRESS_H_
