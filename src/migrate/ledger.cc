#include "migrate/ledger.h"

#include <algorithm>
#include <map>

#include "base/status_builders.h"
#include "base/strings.h"

namespace sqlsteward::internal {

Result<Ledger> ReadLedger(ReadTransaction& tx) {
  Ledger ledger;
  SQLSTEWARD_ASSIGN_OR_RETURN(auto user_version, tx.QueryInt64("PRAGMA user_version"));
  ledger.user_version = user_version.value_or(0);
  SQLSTEWARD_ASSIGN_OR_RETURN(
      auto tables, tx.QueryInt64("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'schema_migrations'"));
  if (tables.value_or(0) == 0) return ledger;
  ledger.exists = true;
  std::map<std::string, bool> columns;
  {
    SQLSTEWARD_ASSIGN_OR_RETURN(
        Statement cols, tx.Prepare("SELECT name FROM pragma_table_info('schema_migrations')"));
    while (true) {
      SQLSTEWARD_ASSIGN_OR_RETURN(bool row, cols.Step());
      if (!row) break;
      columns[AsciiLower(cols.ColumnText(0))] = true;
    }
  }
  if (!columns.contains("version") || !columns.contains("name") ||
      !columns.contains("applied_at")) {
    std::string have;
    for (const auto& [name, unused] : columns) have += (have.empty() ? "" : ", ") + name;
    return FailedPrecondition(
        "the table schema_migrations exists but is not a migration ledger sqlsteward "
        "understands (columns: " +
            have + ")",
        "it needs version, name and applied_at (and checksum, which sqlsteward adds); "
        "was the database migrated by another tool? Convert or rename that table first");
  }
  ledger.has_checksum = columns.contains("checksum");
  SQLSTEWARD_ASSIGN_OR_RETURN(
      Statement rows,
      tx.Prepare(ledger.has_checksum
                     ? "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
                     : "SELECT version, name, NULL FROM schema_migrations ORDER BY version"));
  while (true) {
    SQLSTEWARD_ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    LedgerRow r;
    r.version = rows.ColumnInt64(0);
    r.name = std::string(rows.ColumnText(1));
    if (!rows.ColumnIsNull(2)) r.checksum = std::string(rows.ColumnText(2));
    ledger.max_version = std::max(ledger.max_version, r.version);
    ledger.rows.push_back(std::move(r));
  }
  return ledger;
}

Result<Plan> MakePlan(const Ledger& ledger, const std::vector<Prepared>& known) {
  Plan plan;
  plan.from = ledger.max_version;
  const std::int64_t newest = known.empty() ? 0 : known.back().migration->version;
  const std::int64_t first = known.empty() ? 1 : known.front().migration->version;
  if (ledger.max_version > newest) {
    const LedgerRow& top = ledger.rows.back();
    return Status(
        StatusCode::kFailedPrecondition,
        "schema too new: database at version " + std::to_string(ledger.max_version) + " (" +
            LabelOf(top.version, top.name) + "), this binary knows up to " + std::to_string(newest),
        "roll forward (deploy the binary that has migration " + std::to_string(ledger.max_version) +
            "), or use the newer binary; nothing was written");
  }
  std::map<std::int64_t, const LedgerRow*> applied;
  for (const LedgerRow& row : ledger.rows) applied[row.version] = &row;
  for (const Prepared& p : known) {
    auto it = applied.find(p.migration->version);
    if (it == applied.end()) {
      if (p.migration->version < ledger.max_version) {
        return FailedPrecondition(
            "migration " + p.label +
                " was never applied, but the database is "
                "already at version " +
                std::to_string(ledger.max_version),
            "migrations apply in order; a migration added below the applied ones "
            "needs a new, higher number");
      }
      plan.pending.push_back(&p);
      continue;
    }
    const LedgerRow& row = *it->second;
    if (!row.checksum.has_value()) {
      plan.fill_checksums.push_back(&p);
    } else if (*row.checksum != p.checksum) {
      return FailedPrecondition(
          "checksum mismatch: migration " + p.label + " was applied with checksum " +
              *row.checksum + ", but its text now has " + p.checksum,
          "an applied migration must not change: restore its original text and put "
          "the change in a new migration");
    }
  }
  if (!ledger.rows.empty() && ledger.max_version < first - 1) {
    return FailedPrecondition("the database is at version " + std::to_string(ledger.max_version) +
                                  ", but the first migration this binary has is " +
                                  known.front().label,
                              "apply the missing migrations with a binary that has them first");
  }
  plan.add_checksum_column = ledger.exists && !ledger.has_checksum;
  plan.to = plan.pending.empty() ? ledger.max_version : plan.pending.back()->migration->version;
  plan.set_user_version =
      ledger.exists || !plan.pending.empty() ? plan.to != ledger.user_version : false;
  return plan;
}

}  // namespace sqlsteward::internal
