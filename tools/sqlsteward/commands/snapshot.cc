// sqlsteward snapshot DB DEST_DIR: an online, verified, atomic snapshot
// (sqlsteward/snapshot.h).
#include <chrono>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/help.h"
#include "common/manifest_json.h"
#include "common/progress.h"
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
  options.timeout = Millis(args.timeout_seconds);
  options.progress = SnapshotProgressPrinter(!args.json);
  // An exclusive owner admits no other instance, this one included; fail()
  // says what to do in terms of this tool (CliStatus).
  auto result = Snapshot(args.db, args.dest, options);
  if (!result.has_value()) return fail(std::move(result).error());
  MarkApplied();  // Published: from here on exit 1 would be a lie.
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
  fmt::print("Snapshot  {}\n", Printable(r.path));
  fmt::print("Manifest  {}\n", Printable(r.manifest_path));
  fmt::print("          {} pages of {} bytes ({}), schema version {}\n", m.page_count,
             m.page_size, FormatMib(m.size_bytes), m.schema_version);
  fmt::print("          sha256 {}\n", Printable(m.sha256));
  fmt::print("          integrity check: {}; copied in {}, {} in all\n",
             m.integrity_check == "none" ? "skipped (--integrity none)"
                                         : Printable(m.integrity_check) + " ok",
             FormatSeconds(std::chrono::duration<double>(r.copy_time).count()),
             FormatSeconds(std::chrono::duration<double>(r.total_time).count()));
  if (r.copied_under_write_lock) {
    fmt::print(
        "note: the database is in rollback-journal mode and writers kept changing it ({} "
        "restarts); the copy was made under the write lock, so writers waited for it\n",
        r.restarts);
  }
  for (const std::string& path : r.removed) {
    fmt::print("Removed   {} (--keep {})\n", Printable(path), args.keep);
  }
  for (const std::string& path : r.removed_temporary) {
    fmt::print("Removed   {} (left by an interrupted snapshot)\n", Printable(path));
  }
  return 0;
}

}  // namespace

Command RegisterSnapshot(CLI::App& app) {
  auto args = std::make_shared<SnapshotArgs>();
  CLI::App* cmd =
      AddCommand(app, "snapshot", "Take an online, verified snapshot of a database.", kAbout);
  cmd->footer(kExamples);
  cmd->add_option("DB", args->db,
                  "The database file, or a cluster address dqlite://HOST:PORT[,...]/NAME")->required();
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
                  "Seconds to wait for a lock before giving up (default 30)")
      ->check(SecondsFlag(ZeroSeconds::kRefused));
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text and progress");
  return {cmd, [args]() { return Run(*args); }};
}

}  // namespace sqlsteward::cli
