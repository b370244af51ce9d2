// sqlsteward restore SNAPSHOT DB: put a verified snapshot back into DB
// through SQLite, keeping the current content aside (sqlsteward/snapshot.h).
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
    "Restore SNAPSHOT into the database DB:\n"
    "  1. verify SNAPSHOT (manifest, sha256, integrity_check); refuse if damaged;\n"
    "  2. refuse while another process has DB open, naming it; --take-over asks\n"
    "     every such instance to hand over (finish its batch, stop writing) first;\n"
    "  3. open DB exclusively, copy its current content to\n"
    "     <name>-pre-restore-<time>-<seq>.db beside the snapshot (or in\n"
    "     --pre-restore-dir), with a manifest;\n"
    "  4. copy SNAPSHOT into DB through SQLite in one transaction (never by\n"
    "     renaming files under open connections), then run integrity_check.\n"
    "DB is created if it does not exist. A damaged DB (not a database, corrupted\n"
    "pages, truncated) cannot be copied in step 3: its files (DB, -wal, -shm,\n"
    "-journal) are renamed to DB.damaged-<time>[-wal|-shm|-journal] instead,\n"
    "kept as they were, and put back if the restore fails. SNAPSHOT and DB must\n"
    "be different files.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward restore /backups/app-20240501T100000Z-1.db app.db
  sqlsteward restore /backups/app-20240501T100000Z-1.db app.db --take-over
  sqlsteward restore SNAP app.db --json | jq -r .pre_restore.snapshot

Exit status: 0 when DB holds the snapshot's content; 1 otherwise, with
"error:" and "hint:" lines on stderr. A refused restore changes nothing.)";

struct RestoreArgs {
  std::string snapshot;
  std::string db;
  bool take_over = false;
  double handover_timeout_seconds = 10;
  double timeout_seconds = 30;
  std::string pre_restore_dir;
  bool json = false;
};

Result<int> Run(const RestoreArgs& args) {
  auto fail = [&](Status status) {
    return FailWithJson(args.json, {{"snapshot", args.snapshot}, {"database", args.db}},
                        std::move(status));
  };
  RestoreOptions options;
  options.take_over = args.take_over;
  options.handover_timeout = Millis(args.handover_timeout_seconds);
  options.timeout = Millis(args.timeout_seconds);
  options.pre_restore_dir = args.pre_restore_dir;
  options.progress = SnapshotProgressPrinter(!args.json);
  auto result = Restore(args.snapshot, args.db, options);
  if (!result.has_value()) return fail(std::move(result).error());
  MarkApplied();  // DB holds the snapshot: from here on exit 1 would be a lie.
  const RestoreResult& r = *result;
  const double seconds = std::chrono::duration<double>(r.total_time).count();
  if (args.json) {
    nlohmann::json pre = nullptr;
    if (!r.pre_restore.path.empty()) {
      pre = {{"snapshot", r.pre_restore.path},
             {"manifest_path", r.pre_restore.manifest_path},
             {"manifest", ManifestJson(r.pre_restore.manifest)}};
    }
    PrintJson({{"ok", true},
               {"snapshot", r.verified.path},
               {"database", args.db},
               {"manifest", ManifestJson(r.verified.manifest)},
               {"pages_restored", r.pages_restored},
               {"pre_restore", pre},
               {"damaged", r.damaged_kept.empty()
                               ? nlohmann::json(nullptr)
                               : nlohmann::json{{"reason", r.damaged_reason},
                                                {"kept", r.damaged_kept}}},
               {"seconds", seconds}});
    return 0;
  }
  const std::string db = Printable(args.db);
  const std::string previous = Printable(r.pre_restore.path);
  fmt::print("Restored  {}\n     into {} ({} pages, taken {}) in {}\n", Printable(r.verified.path),
             db, r.pages_restored, Printable(r.verified.manifest.created_at),
             FormatSeconds(seconds));
  if (!r.damaged_kept.empty()) {
    fmt::print("Damaged   {}: {}; its files are kept aside:\n", db, Printable(r.damaged_reason));
    for (const std::string& kept : r.damaged_kept) fmt::print("          {}\n", Printable(kept));
  } else if (!r.pre_restore.path.empty()) {
    fmt::print("Previous  {}\n          (undo: sqlsteward restore {} {})\n", previous, previous,
               db);
  } else {
    fmt::print("Previous  none: {} had no content yet\n", db);
  }
  return 0;
}

}  // namespace

Command RegisterRestore(CLI::App& app) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = AddCommand(
      app, "restore", "Restore a verified snapshot into a database, keeping the old content.",
      kAbout);
  cmd->footer(kExamples);
  cmd->add_option("SNAPSHOT", args->snapshot, "The snapshot file (.db)")->required();
  cmd->add_option("DB", args->db, "The database to restore into")->required();
  cmd->add_flag("--take-over", args->take_over,
                "Ask instances that have DB open to hand over, instead of refusing");
  cmd->add_option("--handover-timeout", args->handover_timeout_seconds,
                  "Seconds to wait for them to hand over (default 10)")
      ->check(SecondsFlag(ZeroSeconds::kRefused));
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds to wait for the write lock (default 30)")
      ->check(SecondsFlag(ZeroSeconds::kRefused));
  cmd->add_option("--pre-restore-dir", args->pre_restore_dir,
                  "Where to keep the current content (default: the snapshot's directory)");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text and progress");
  return {cmd, [args]() { return Run(*args); }};
}

}  // namespace sqlsteward::cli
