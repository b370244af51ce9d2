// The migrator: one exclusive, all-or-nothing run per pending set.
//
// Protocol of Migrate():
//   1. Validate the list without touching the database: versions contiguous
//      and in range, names well formed, each migration's SQL split into
//      statements (by sqlite3_complete, so strings, comments and trigger
//      bodies are handled by SQLite's own tokenizer), transaction control
//      rewritten to savepoints and forbidden statements refused.
//   2. Read the ledger on a reader connection. Up to date (every known
//      version applied, checksums present and equal, user_version in step):
//      return without writing. Schema too new, checksum mismatch, a gap
//      below the applied version: refuse, still without writing. So an
//      opener that has nothing to do never takes the write lock, and a
//      binary older than the database writes nothing to it.
//   3. Otherwise one DatabaseAccess::WriteExclusive job: alone in its batch,
//      under the cross-process write lock, with "migration A..B" recorded as
//      the lock holder's purpose. Inside it the ledger is read again (a
//      concurrent starter may have done the work while we waited: then
//      nothing is left to do), every check of step 2 is repeated, and each
//      pending migration is applied and recorded, and user_version set. The
//      batch's one COMMIT makes it all visible at once; any error returned
//      by the job rolls back the job's savepoint and the batch: schema,
//      data and ledger stay as they were.
//
// Why not BEGIN EXCLUSIVE: the batch's BEGIN IMMEDIATE under the sidecar
// lock already excludes every sqlsteward writer, and readers (WAL) keep
// reading the old schema until the commit, which is what they should see.
// Why waiters do not fail with SQLITE_BUSY: other sqlsteward processes wait
// on the kernel-queued sidecar lock, with their own deadlines, and a
// deadline that passes names the holder and its purpose ("migration ...").
#include "sqlsteward/migrator.h"

#include <sqlite3.h>

#include <cstdio>
#include <exception>
#include <optional>

#include "base/status_builders.h"
#include "core/database_access.h"
#include "migrate/ledger.h"
#include "migrate/prepare.h"
#include "migrate/sql_text.h"
#include "sqlsteward/database.h"

namespace sqlsteward {
namespace {

using Clock = std::chrono::steady_clock;
using internal::Excerpt;
using internal::Ledger;
using internal::Plan;
using internal::Prepared;

Status ApplyOne(Transaction& tx, const Prepared& p) {
  for (std::size_t i = 0; i < p.statements.size(); ++i) {
    Status st = tx.ExecScript(p.statements[i]);
    if (!st.ok()) {
      return st.WithContext("migration " + p.label + ", statement " + std::to_string(i + 1) +
                            " (\"" + Excerpt(p.statements[i]) + "\")");
    }
  }
  if (p.migration->step) {
    Status st;
    try {
      st = p.migration->step(tx);
    } catch (const std::exception& e) {
      st = Internal(std::string("the step threw: ") + e.what(),
                    "every migration of the run was rolled back; return a Status instead");
    } catch (...) {
      st = Internal("the step threw a non-std exception",
                    "every migration of the run was rolled back; return a Status instead");
    }
    if (!st.ok()) return st.WithContext("migration " + p.label + " (step)");
  }
  return Status();
}

std::string Purpose(const Plan& plan) {
  if (plan.pending.empty()) return "migration ledger update";
  const Prepared& first = *plan.pending.front();
  const Prepared& last = *plan.pending.back();
  std::string out = "migration " + first.label;
  if (&first != &last) out += ".." + last.label;
  // The lock holder's record keeps 63 bytes; numbers alone always fit.
  if (out.size() > 63) {
    out = "migration " + std::to_string(first.migration->version);
    if (&first != &last) out += ".." + std::to_string(last.migration->version);
  }
  return out;
}

std::string AdoptionWarning(const Plan& plan, bool column_added) {
  std::string versions;
  for (const Prepared* p : plan.fill_checksums) {
    versions += (versions.empty() ? "" : ", ") + p->label;
  }
  std::string out = column_added ? "adopted an existing schema_migrations table without "
                                   "checksums (mcdsl style): added the checksum column"
                                 : "schema_migrations had rows without checksums";
  if (!versions.empty()) {
    out += "; recorded this binary's checksums for " + versions +
           " without being able to verify that they are the text that was applied";
  }
  return out;
}

}  // namespace

std::string MigrationLabel(const Migration& migration) {
  return internal::LabelOf(migration.version, migration.name);
}

Result<MigrationReport> Migrate(Database& db, const std::vector<Migration>& migrations,
                                const MigrateOptions& options) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<Prepared> known, internal::PrepareAll(migrations));

  // Step 2: a read-only look first; see the comment at the top.
  std::optional<Plan> preview;
  Status read = db.Read([&](ReadTransaction& tx) -> Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(Ledger ledger, internal::ReadLedger(tx));
    SQLSTEWARD_ASSIGN_OR_RETURN(Plan plan, internal::MakePlan(ledger, known));
    preview = std::move(plan);
    return Status();
  });
  SQLSTEWARD_RETURN_IF_ERROR(read);
  MigrationReport report;
  report.from_version = preview->from;
  report.to_version = preview->from;
  if (preview->UpToDate()) return report;
  if (options.dry_run) {
    for (const Prepared* p : preview->pending) report.applied.push_back(p->migration->version);
    report.to_version = preview->to;
    if (preview->add_checksum_column || !preview->fill_checksums.empty()) {
      report.warnings.push_back("would have " +
                                AdoptionWarning(*preview, preview->add_checksum_column));
    }
    for (const std::string& w : report.warnings) {
      if (options.on_warning) options.on_warning(w);
    }
    return report;
  }

  // Step 3: the run itself.
  MigrationReport result;
  WriteFn job = [&](Transaction& tx) -> Status {
    result = MigrationReport();
    SQLSTEWARD_ASSIGN_OR_RETURN(Ledger ledger, internal::ReadLedger(tx));
    SQLSTEWARD_ASSIGN_OR_RETURN(Plan plan, internal::MakePlan(ledger, known));
    result.from_version = plan.from;
    result.to_version = plan.to;
    if (plan.UpToDate()) return Status();  // Another starter did it while we waited.
    if (!ledger.exists) SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript(internal::kCreateLedger));
    if (plan.add_checksum_column) {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.ExecScript("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT"));
    }
    for (const Prepared* p : plan.fill_checksums) {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("UPDATE schema_migrations SET checksum = ? WHERE version = ?", p->checksum,
                  p->migration->version));
    }
    if (plan.add_checksum_column || !plan.fill_checksums.empty()) {
      result.warnings.push_back(AdoptionWarning(plan, plan.add_checksum_column));
    }
    for (const Prepared* p : plan.pending) {
      SQLSTEWARD_RETURN_IF_ERROR(ApplyOne(tx, *p));
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO schema_migrations(version, name, applied_at, checksum) "
                  "VALUES(?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?)",
                  p->migration->version, p->migration->name, p->checksum)
              .WithContext("record migration " + p->label));
      result.applied.push_back(p->migration->version);
    }
    if (plan.set_user_version) {
      SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript("PRAGMA user_version = " + std::to_string(plan.to)));
    }
    return Status();
  };
  Status st = internal::DatabaseAccess::WriteExclusive(db, job, Clock::now() + options.timeout,
                                                       Purpose(*preview));
  if (!st.ok()) return st;
  for (const std::string& w : result.warnings) {
    if (options.on_warning) options.on_warning(w);
  }
  return result;
}

Result<std::int64_t> SchemaVersion(Database& db) {
  std::int64_t version = 0;
  SQLSTEWARD_RETURN_IF_ERROR(db.Read([&](ReadTransaction& tx) -> Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(Ledger ledger, internal::ReadLedger(tx));
    version = ledger.max_version;
    return Status();
  }));
  return version;
}

std::function<Status(Database&)> MigrateOnOpen(std::vector<Migration> migrations,
                                               MigrateOptions options) {
  if (!options.on_warning) {
    options.on_warning = [](std::string_view message) {
      std::fprintf(stderr, "sqlsteward: warning: %.*s\n", static_cast<int>(message.size()),
                   message.data());
    };
  }
  options.dry_run = false;
  return [migrations = std::move(migrations), options](Database& db) -> Status {
    return Migrate(db, migrations, options).status();
  };
}

}  // namespace sqlsteward
