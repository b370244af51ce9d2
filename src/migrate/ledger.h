// The migration ledger, schema_migrations(version, name, applied_at,
// checksum), read inside a transaction, and the plan made from it and the
// binary's migrations: what is pending, what must be refused (schema too
// new, a changed migration, a gap below the applied version), what an older
// ledger needs (a checksum column, checksums filled in).
//
// Thread safety: pure functions of their inputs and the transaction.
#ifndef SQLSTEWARD_MIGRATE_LEDGER_H_
#define SQLSTEWARD_MIGRATE_LEDGER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "migrate/prepare.h"
#include "sqlsteward/status.h"
#include "sqlsteward/transaction.h"

namespace sqlsteward::internal {

inline constexpr char kCreateLedger[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT "
    "NULL, applied_at TEXT NOT NULL, checksum TEXT)";

struct LedgerRow {
  std::int64_t version = 0;
  std::string name;
  std::optional<std::string> checksum;
};

struct Ledger {
  bool exists = false;
  bool has_checksum = false;
  std::vector<LedgerRow> rows;  // By version.
  std::int64_t max_version = 0;
  std::int64_t user_version = 0;
};

Result<Ledger> ReadLedger(ReadTransaction& tx);

struct Plan {
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::vector<const Prepared*> pending;
  // Applied versions this binary knows whose ledger row has no checksum.
  std::vector<const Prepared*> fill_checksums;
  bool add_checksum_column = false;
  bool set_user_version = false;
  bool UpToDate() const {
    return pending.empty() && fill_checksums.empty() && !add_checksum_column && !set_user_version;
  }
};

Result<Plan> MakePlan(const Ledger& ledger, const std::vector<Prepared>& known);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_MIGRATE_LEDGER_H_
