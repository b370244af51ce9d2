// Validating a list of migrations before anything runs: versions
// contiguous and in range, names well formed, no NUL byte, each
// migration's SQL split into statements (sql_text.h), transaction control
// rewritten to savepoints, and what the statement policy refuses
// (core/statement_policy.h) refused, naming the statement.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_MIGRATE_PREPARE_H_
#define SQLSTEWARD_MIGRATE_PREPARE_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/migrator.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

inline constexpr std::int64_t kMaxMigrationVersion = std::numeric_limits<std::int32_t>::max();

// A validated migration, its statements rewritten for running inside the
// run's transaction.
struct Prepared {
  const Migration* migration = nullptr;
  std::string label;
  std::string checksum;
  std::vector<std::string> statements;
};

// "0003_orders".
std::string LabelOf(std::int64_t version, std::string_view name);

// Lower-case letters, digits and '_', not starting with '_'.
bool ValidMigrationName(std::string_view name);

// A migration file's name split: "0003_add_orders.sql" is version 3, name
// "add_orders". kInvalidArgument, naming `path`, when it is not NNNN_name.sql
// (at least four digits, '_', a valid name, ".sql") or the version is not
// in 1..kMaxMigrationVersion.
struct MigrationFileName {
  std::int64_t version = 0;
  std::string name;
};
Result<MigrationFileName> ParseMigrationFileName(std::string_view file, const std::string& path);

// Validates and rewrites every migration; sorted by version.
Result<std::vector<Prepared>> PrepareAll(const std::vector<Migration>& migrations);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_MIGRATE_PREPARE_H_
