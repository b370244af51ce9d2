// sqlsteward snapshot DB DEST_DIR: an online, verified, atomic snapshot
// (sqlsteward/snapshot.h). Also the progress display and manifest JSON that
// `verify` and `restore` share.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "sqlsteward/snapshot.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kAbout =
    "Copy the database DB, while it is in use, into a new snapshot in DEST_DIR:\n"
    "DEST_DIR/<name>-<yyyymmddThhmmssZ>-<seq>.db (mode 0600) with a manifest\n"
    "beside it (.manifest.json: sha256, size, pages, schema version, source,\n"
    "time, SQLite version). The copy is one consistent transaction, made\n"
    "through SQLite's backup API in steps, so writers keep committing (WAL); it\n"
    "is written to a temporary file, fsynced, checked, and renamed into place:\n"
    "a snapshot is complete or absent, never partial. --keep N then deletes all\n"
    "but the newest N snapshots of DB in DEST_DIR.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward snapshot app.db /backups
  sqlsteward snapshot app.db /backups --keep 24 --integrity full
  sqlsteward snapshot app.db /backups --json | jq -r .snapshot

Exit status: 0 when the snapshot was published; 1 with "error:" and "hint:"
lines on stderr otherwise (nothing is left under a final name).)";

struct SnapshotArgs {
  std::string db;
  std::string dest;
  int keep = 0;
  std::string integrity = "quick";
  std::string name;
  double timeout_seconds = 30;
  bool json = false;
};

std::string Mib(std::int64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

Result<int> Run(const SnapshotArgs& args) {
  auto fail = [&](Status status) {
    return FailWithJson(args.json, {{"database", args.db}}, std::move(status));
  };
  auto integrity = ParseIntegrityCheck(args.integrity);
  if (!integrity.has_value()) return fail(std::move(integrity).error());
  SnapshotOptions options;
  options.integrity = *integrity;
  options.keep = args.keep;
  options.name = args.name;
  options.timeout = std::chrono::milliseconds(std::llround(args.timeout_seconds * 1000.0));
  options.progress = SnapshotProgressPrinter(!args.json);
  auto result = Snapshot(args.db, args.dest, options);
  if (!result.has_value() && result.error().code() == StatusCode::kUnavailable) {
    // An exclusive owner admits no other instance, this one included; the
    // library's hint names Options fields.
    const Status& error = result.error();
    return fail(Status(error.code(), std::string(error.message()),
                       fmt::format("take the snapshot inside the owning process "
                                   "(sqlsteward::Snapshot on its Database), or ask it to hand "
                                   "over first: `sqlsteward handover {}`; `sqlsteward status "
                                   "{}` shows who it is",
                                   args.db, args.db),
                       error.sqlite_code(), error.sys_errno()));
  }
  if (!result.has_value()) return fail(std::move(result).error());
  const SnapshotResult& r = *result;
  const SnapshotManifest& m = r.manifest;
  if (args.json) {
    PrintJson({{"ok", true},
               {"database", m.source},
               {"snapshot", r.path},
               {"manifest_path", r.manifest_path},
               {"manifest", ManifestJson(m)},
               {"copy_seconds", std::chrono::duration<double>(r.copy_time).count()},
               {"seconds", std::chrono::duration<double>(r.total_time).count()},
               {"restarts", r.restarts},
               {"copied_under_write_lock", r.copied_under_write_lock},
               {"removed", r.removed},
               {"removed_temporary", r.removed_temporary}});
    return 0;
  }
  fmt::print("Snapshot  {}\n", r.path);
  fmt::print("Manifest  {}\n", r.manifest_path);
  fmt::print("          {} pages of {} bytes ({}), schema version {}\n", m.page_count,
             m.page_size, Mib(m.size_bytes), m.schema_version);
  fmt::print("          sha256 {}\n", m.sha256);
  fmt::print("          integrity check: {}; copied in {}, {} in all\n",
             m.integrity_check == "none" ? "skipped (--integrity none)" : m.integrity_check + " ok",
             FormatSeconds(std::chrono::duration<double>(r.copy_time).count()),
             FormatSeconds(std::chrono::duration<double>(r.total_time).count()));
  if (r.copied_under_write_lock) {
    fmt::print(
        "note: the database is in rollback-journal mode and writers kept changing it ({} "
        "restarts); the copy was made under the write lock, so writers waited for it\n",
        r.restarts);
  }
  for (const std::string& path : r.removed) fmt::print("Removed   {} (--keep {})\n", path, args.keep);
  for (const std::string& path : r.removed_temporary) {
    fmt::print("Removed   {} (left by an interrupted snapshot)\n", path);
  }
  return 0;
}

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
                           Mib(p.pages_total * p.page_size), FormatSeconds(elapsed),
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
                                   Mib(p.bytes_done), rate / (1024.0 * 1024.0),
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

nlohmann::json ManifestJson(const SnapshotManifest& m) {
  return {{"format_version", m.format_version},
          {"kind", m.kind},
          {"file", m.file},
          {"sha256", m.sha256},
          {"size_bytes", m.size_bytes},
          {"page_size", m.page_size},
          {"page_count", m.page_count},
          {"schema_version", m.schema_version},
          {"source", m.source},
          {"source_journal_mode", m.source_journal_mode},
          {"created_at", m.created_at},
          {"created_unix_ms", m.created_unix_ms},
          {"sqlite_version", m.sqlite_version},
          {"integrity_check", m.integrity_check}};
}

Command RegisterSnapshot(CLI::App& app) {
  auto args = std::make_shared<SnapshotArgs>();
  CLI::App* cmd = app.add_subcommand("snapshot", "Take an online, verified snapshot of a database.");
  cmd->description(kAbout);
  cmd->footer(kExamples);
  cmd->add_option("DB", args->db, "The database file")->required();
  cmd->add_option("DEST_DIR", args->dest, "Directory for the snapshot (created 0700 if missing)")
      ->required();
  cmd->add_option("--keep", args->keep,
                  "Keep only the newest N snapshots of DB in DEST_DIR (0: keep all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--integrity", args->integrity,
                  "Check of the copy before it is published: quick (default), full, none")
      ->check(CLI::IsMember({"quick", "full", "none"}));
  cmd->add_option("--name", args->name,
                  "File name prefix (default: DB's file name without extension)");
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds to wait for a lock before giving up (default 30)");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text and progress");
  return {cmd, [args]() { return Run(*args); }};
}

}  // namespace sqlsteward::cli
