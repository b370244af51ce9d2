// What SQL sqlsteward does not let a write job or a migration run, and why:
// one policy, applied to write jobs by the writer connection's authorizer
// (connection.h) and to migrations by the migrator's check of each
// statement before anything runs (migrate/), so the two cannot disagree.
//
// A write job and a migration run inside a transaction on the process's one
// writer connection, which every job of every thread shares. Refused:
//   - transaction control: the batch owns BEGIN/COMMIT/ROLLBACK (a
//     migration's are rewritten to savepoints instead; SAVEPOINT nests);
//   - ATTACH and DETACH: they change the shared connection, and a write into
//     an attached database would bypass that database's own write lock;
//   - PRAGMA wal_checkpoint: only the queue checkpoints, under the
//     cross-process write lock (the WAL-reset race);
//   - assigning a pragma that sqlsteward owns (journal_mode, locking_mode,
//     synchronous, busy_timeout, mmap_size, query_only, wal_autocheckpoint),
//     that changes a setting of the shared connection (cache_size,
//     foreign_keys, recursive_triggers, ...; kConnectionPragmas), or that
//     cannot take effect inside a transaction (page_size, auto_vacuum,
//     encoding, ...); and PRAGMA schema_version, whose assignment hides
//     schema changes from other connections;
//   - in a migration only, PRAGMA user_version: the migrator sets it to the
//     ledger's version.
// Allowed: reading any pragma but wal_checkpoint, and the pragmas that act
// within the transaction (defer_foreign_keys, application_id,
// incremental_vacuum, optimize, ...); in a write job, user_version.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_CORE_STATEMENT_POLICY_H_
#define SQLSTEWARD_CORE_STATEMENT_POLICY_H_

#include <optional>
#include <string>
#include <string_view>

namespace sqlsteward::internal {

enum class SqlContext { kWriteJob, kMigration };

struct Refusal {
  std::string why;
  std::string hint;
};

// A PRAGMA `name` (lower case, no schema prefix); `assigns` when it sets a
// value ("= v" or "(v)").
std::optional<Refusal> PragmaRefusal(std::string_view name, bool assigns, SqlContext context);

// ATTACH or DETACH (`verb`, lower case).
Refusal AttachRefusal(std::string_view verb, SqlContext context);

// BEGIN, COMMIT or ROLLBACK inside a write job.
Refusal TransactionControlRefusal();

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_STATEMENT_POLICY_H_
