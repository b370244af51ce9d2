// sqlsteward doctor PATH: inspects a database, its files and its filesystem
// without changing any of them, and reports findings with hints.
//
// What "without changing" means, and why each rule exists:
//   - The database is opened through SQLite with SQLITE_OPEN_READONLY and
//     `mode=ro`, so a missing file is never created, and with
//     SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, so closing never checkpoints (a
//     checkpoint would write the database).
//   - A read-only open of a WAL database whose -wal or -shm is missing
//     creates them (measured on 3.40.1). Created by a doctor run as root,
//     they would be root's, and the service could no longer open its own
//     database. In that case doctor opens with `immutable=1` instead: no
//     locks, no WAL, no new files. When both are missing the WAL is empty
//     and nothing is lost; when only -shm is missing the WAL's contents are
//     not examined, and a finding says so.
//   - When both exist, doctor opens with `readonly_shm=1`: SQLite maps -shm
//     read-only and, when it cannot take a read mark, builds a private
//     index from the WAL. A plain read-only reader writes read marks into
//     -shm (measured); this one leaves it byte for byte as it was, whether
//     a writer is live or the files were left by a crash.
//   - The database file itself is read with open()/pread() only before the
//     SQLite handle exists: close() of any descriptor of the database would
//     drop the POSIX locks of a SQLite connection in this process. The
//     sidecar is read only through the library's inspection functions
//     (InspectSidecar, ReadWriteLock, ReadRegistry), which open descriptors
//     of their own on it and take no lock.
//   - The filesystem probe (ProbeDirectoryCached) creates and removes one
//     small file in the database's directory; nothing else is written.
//
// Every finding has a stable id ("files.permissions"); docs/cli.md lists
// them with the JSON schema. The exit code is the worst severity: 0 all ok,
// 1 warnings only, 2 any problem (or doctor could not finish).
//
// This file registers the command and runs the checks (checks.h, one file
// per section of the report); report.h holds the findings and prints them.
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.h"
#include "common/help.h"
#include "doctor/checks.h"
#include "doctor/report.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kAbout =
    "Inspect a database, its -wal/-shm/-journal/-steward files and its\n"
    "filesystem without changing them, and say what is wrong and how to fix\n"
    "it. The database is opened read-only and never checkpointed; a missing\n"
    "database is reported, never created.";

constexpr const char* kExamples = R"(Examples:
  sqlsteward doctor /var/lib/app/app.db
  sqlsteward doctor app.db --json | jq '.findings[] | select(.severity != "ok")'
  sqlsteward doctor big.db --no-quick-check

Exit status: 0 every finding is ok, 1 warnings only, 2 at least one
problem (or doctor could not finish). docs/cli.md lists every finding id and
the JSON schema.)";

struct DoctorOptions {
  std::string path;
  bool json = false;
  bool skip_quick_check = false;
};

int RunDoctor(const DoctorOptions& opt) {
  doctor::Report r;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(opt.path, ec);
  if (ec) abs = opt.path;
  abs = abs.lexically_normal();
  r.path = abs.string();
  r.dir = abs.has_parent_path() ? abs.parent_path().string() : std::string("/");
  if (r.dir.empty()) r.dir = "/";

  // The probe forks: run it before this process has a SQLite handle.
  const doctor::FsFacts fs = doctor::ProbeFilesystem(r);
  const doctor::DbFiles files = doctor::DbFiles::Stat(r.path, r.dir);
  doctor::CheckFiles(r, files, fs);
  std::optional<bool> db_is_wal;
  doctor::CheckDatabase(r, opt.skip_quick_check, files, &db_is_wal);
  const bool managed = doctor::CheckSidecar(r, files.sidecar);
  doctor::CheckFilesystem(r, fs, db_is_wal);
  doctor::CheckSqlite(r, db_is_wal, managed);
  doctor::CheckInstances(r);
  doctor::CheckUnprotected(r);
  doctor::CheckSchema(r);

  doctor::PrintReport(r, opt.json);
  return r.ExitCode();
}

}  // namespace

Command RegisterDoctor(CLI::App& app) {
  auto options = std::make_shared<DoctorOptions>();
  CLI::App* cmd = AddCommand(
      app, "doctor", "Diagnose a database, its files and its filesystem without changing them.");
  cmd->footer(std::string(kAbout) + "\n\n" + kExamples);
  cmd->add_option("PATH", options->path, "The database file")->required();
  cmd->add_flag("--json", options->json, "Print the report as one JSON object");
  cmd->add_flag("--no-quick-check", options->skip_quick_check,
                "Skip PRAGMA quick_check (it reads the whole file; in rollback-journal mode "
                "writers wait for it)");
  return {cmd, [options]() -> Result<int> {
            // Exit 1 means "warnings" here; a doctor that could not finish
            // must not look like one, so failures exit 2 rather than
            // returning a Status (which main() turns into exit 1).
            if (options->path.empty()) {
              PrintError(Status(StatusCode::kInvalidArgument, "empty database path",
                                "give the path of a database file"));
              return 2;
            }
            try {
              return RunDoctor(*options);
            } catch (const std::exception& e) {
              PrintError(Status(StatusCode::kInternal,
                                fmt::format("doctor could not finish: {}", e.what()),
                                "this is a bug in sqlsteward; please report it"));
              return 2;
            }
          }};
}

}  // namespace sqlsteward::cli
