// sqlsteward migrate: applies a directory of NNNN_name.sql migrations to a
// database, all or nothing, through the library's Migrate() (one exclusive
// transaction under the cross-process write lock; see docs/migrations.md).
#include <fmt/core.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/help.h"
#include "sqlsteward/migrator.h"
#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kAbout =
    "Apply the pending migrations of DIR (files named NNNN_name.sql) to DB in one\n"
    "transaction under sqlsteward's cross-process write lock: every pending\n"
    "migration, or none. Other processes wait for it and then see the final\n"
    "version. The ledger is the table schema_migrations(version, name,\n"
    "applied_at, checksum); PRAGMA user_version mirrors the version.\n"
    "\n"
    "Refused before anything runs: a malformed directory (bad names, duplicate\n"
    "numbers, gaps), statements that cannot run in a transaction or would\n"
    "change the connection every writer shares (VACUUM, ATTACH, PRAGMA\n"
    "journal_mode, ...), an applied migration whose text changed (checksum),\n"
    "and a database newer than DIR's newest migration (\"schema too new\").\n"
    "BEGIN/COMMIT inside a file become savepoints.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward migrate app.db --dir migrations --dry-run
  sqlsteward migrate app.db --dir migrations
  sqlsteward migrate app.db --dir migrations --json | jq '.applied[].version'

Exit status: 0 when the database is at DIR's newest version (or, with
--dry-run, when the plan is valid); 1 with "error:" and "hint:" lines on
stderr otherwise. Nothing is applied when it exits 1.)";

struct MigrateArgs {
  std::string db;
  std::string dir;
  bool dry_run = false;
  bool json = false;
  double timeout_seconds = 600;
};

nlohmann::json MigrationJson(const Migration& m, bool with_sql) {
  nlohmann::json j = {{"version", m.version},
                      {"name", m.name},
                      {"label", MigrationLabel(m)},
                      {"checksum", MigrationChecksum(m)}};
  if (with_sql) j["sql"] = m.sql;
  return j;
}

const Migration* Find(const std::vector<Migration>& list, std::int64_t version) {
  for (const Migration& m : list) {
    if (m.version == version) return &m;
  }
  return nullptr;
}

Result<int> Run(const MigrateArgs& args) {
  auto start = std::chrono::steady_clock::now();
  auto fail = [&](Status status) {
    return FailWithJson(args.json, nlohmann::json::object(), std::move(status));
  };
  auto loaded = LoadMigrations(args.dir);
  if (!loaded.has_value()) return fail(std::move(loaded).error());
  const std::vector<Migration>& list = *loaded;
  const std::int64_t newest = list.empty() ? 0 : list.back().version;

  std::vector<std::string> warnings;
  MigrateOptions options;
  options.dry_run = args.dry_run;
  options.timeout = Millis(args.timeout_seconds);
  options.on_warning = [&](std::string_view w) {
    warnings.emplace_back(w);
    if (!args.json) PrintWarning(w);
  };

  MigrationReport report;
  struct stat st;
  bool exists = ::stat(args.db.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) {
    return fail(ErrnoStatus(errno, "stat " + args.db));
  }
  if (args.dry_run && !exists) {
    // Nothing to open, and a dry run creates nothing: every migration is
    // pending.
    for (const Migration& m : list) report.applied.push_back(m.version);
    report.to_version = newest;
  } else {
    Options open_options;
    open_options.create_if_missing = !args.dry_run;
    // Opening waits for the write lock too: as long as the migration may.
    open_options.write_timeout = options.timeout;
    auto db = Database::Open(args.db, open_options);
    if (!db.has_value()) return fail(std::move(db).error());
    auto migrated = Migrate(**db, list, options);
    if (!migrated.has_value()) return fail(std::move(migrated).error());
    report = std::move(migrated).value();
    // Committed (or nothing to do): from here on exit 1 would be a lie.
    if (!args.dry_run) MarkApplied();
    if (Status closed = (*db)->Close(); !closed.ok()) {
      if (args.dry_run) return fail(closed);
      warnings.push_back(fmt::format(
          "the migrations were committed, but closing the database failed: {}", closed.message()));
      if (!args.json) PrintWarning(warnings.back());
    }
  }
  double seconds = SecondsSince(start);

  if (args.json) {
    nlohmann::json items = nlohmann::json::array();
    for (std::int64_t v : report.applied) {
      if (const Migration* m = Find(list, v)) items.push_back(MigrationJson(*m, args.dry_run));
    }
    PrintJson({{"ok", true},
               {"database", args.db},
               {"dir", args.dir},
               {"dry_run", args.dry_run},
               {"from_version", report.from_version},
               {"to_version", report.to_version},
               {"newest_version", newest},
               {args.dry_run ? "pending" : "applied", items},
               {"warnings", warnings},
               {"seconds", seconds}});
    return 0;
  }
  if (args.dry_run) {
    if (report.applied.empty()) {
      fmt::print("{}: up to date at version {}; nothing to apply (dry run)\n", Printable(args.db),
                 report.from_version);
      return 0;
    }
    fmt::print("{}: {}at version {}; {} pending migration{} (dry run: nothing applied)\n",
               Printable(args.db),
               exists ? "" : "does not exist yet, ", report.from_version, report.applied.size(),
               report.applied.size() == 1 ? "" : "s");
    for (std::int64_t v : report.applied) {
      const Migration* m = Find(list, v);
      if (m == nullptr) continue;
      std::string sql = m->sql;
      if (!sql.empty() && sql.back() != '\n') sql += '\n';
      fmt::print("\n-- {}  {}\n{}", Printable(MigrationLabel(*m)), MigrationChecksum(*m),
                 Printable(sql, LineBreaks::kKeep));
    }
    return 0;
  }
  if (report.applied.empty()) {
    fmt::print("{}: up to date at version {}\n", Printable(args.db), report.to_version);
    return 0;
  }
  std::string labels;
  for (std::int64_t v : report.applied) {
    if (const Migration* m = Find(list, v)) {
      labels += (labels.empty() ? "" : ", ") + MigrationLabel(*m);
    }
  }
  fmt::print("{}: version {} -> {}, applied {} in {}\n", Printable(args.db), report.from_version,
             report.to_version, Printable(labels), FormatSeconds(seconds));
  return 0;
}

}  // namespace

Command RegisterMigrate(CLI::App& app) {
  auto args = std::make_shared<MigrateArgs>();
  CLI::App* cmd = AddCommand(
      app, "migrate", "Apply a directory of NNNN_name.sql migrations, all or nothing.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("DB", args->db,
                  "The database file (created 0600 if missing), or a cluster address dqlite://HOST:PORT[,...]/NAME")->required();
  cmd->add_option("--dir", args->dir, "Directory of NNNN_name.sql migration files")->required();
  cmd->add_flag("--dry-run", args->dry_run,
                "List the pending migrations and their SQL; change nothing");
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds to wait for the write lock (another process may be migrating)")
      ->capture_default_str()
      ->check(SecondsFlag(ZeroSeconds::kRefused));
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {cmd, [args]() -> Result<int> { return Run(*args); }};
}

}  // namespace sqlsteward::cli
