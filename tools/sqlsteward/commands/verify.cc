// sqlsteward verify SNAPSHOT: is this file exactly the snapshot its manifest
// describes, and does SQLite find it sound? (sqlsteward/snapshot.h)
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
    "Check SNAPSHOT against its manifest (SNAPSHOT without .db, plus\n"
    ".manifest.json): its size, its sha256, its page size and count; then run\n"
    "PRAGMA integrity_check on it. Each kind of mismatch is named: \"manifest\n"
    "malformed\", \"size mismatch\", \"checksum mismatch\", \"header mismatch\",\n"
    "\"integrity check failed\". Nothing is written.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward verify /backups/app-20240501T100000Z-1.db
  sqlsteward verify /backups/app-20240501T100000Z-1.db --integrity quick
  for s in /backups/*.db; do sqlsteward verify "$s" --json | jq -c '{ok, snapshot}'; done

Exit status: 0 when the snapshot is intact; 1 when a check failed or the
snapshot could not be read ("error:" and "hint:" lines on stderr; with
--json also {"ok": false, "error": {...}} on stdout).)";

struct VerifyArgs {
  std::string snapshot;
  std::string integrity = "full";
  bool json = false;
};

Result<int> Run(const VerifyArgs& args) {
  auto fail = [&](Status status) {
    return FailWithJson(args.json, {{"snapshot", args.snapshot}}, std::move(status));
  };
  auto integrity = ParseIntegrityCheck(args.integrity);
  if (!integrity.has_value()) return fail(std::move(integrity).error());
  VerifyOptions options;
  options.integrity = *integrity;
  options.progress = SnapshotProgressPrinter(!args.json);
  auto result = VerifySnapshot(args.snapshot, options);
  if (!result.has_value()) return fail(std::move(result).error());
  const SnapshotManifest& m = result->manifest;
  const double seconds = std::chrono::duration<double>(result->total_time).count();
  if (args.json) {
    PrintJson({{"ok", true},
               {"snapshot", result->path},
               {"manifest_path", result->manifest_path},
               {"manifest", ManifestJson(m)},
               {"integrity_check", args.integrity},
               {"seconds", seconds}});
    return 0;
  }
  fmt::print("OK: {} matches its manifest (sha256 {}, {} pages of {} bytes){}, in {}\n",
             Printable(result->path), Printable(m.sha256), m.page_count, m.page_size,
             *integrity == IntegrityCheck::kNone
                 ? ""
                 : fmt::format(" and passes the {} integrity check", args.integrity),
             FormatSeconds(seconds));
  fmt::print("    taken {} from {} (schema version {}, SQLite {})\n", Printable(m.created_at),
             Printable(m.source), m.schema_version, Printable(m.sqlite_version));
  return 0;
}

}  // namespace

Command RegisterVerify(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* cmd =
      AddCommand(app, "verify", "Check a snapshot against its manifest and SQLite.", kAbout);
  cmd->footer(kExamples);
  cmd->add_option("SNAPSHOT", args->snapshot, "The snapshot file (.db)")->required();
  cmd->add_option("--integrity", args->integrity,
                  "SQLite's check: full (integrity_check, default), quick, none")
      ->check(CLI::IsMember({"quick", "full", "none"}));
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text and progress");
  return {cmd, [args]() { return Run(*args); }};
}

}  // namespace sqlsteward::cli
