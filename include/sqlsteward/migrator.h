// Migrations: numbered schema changes applied once, all or nothing, by
// whichever process gets there first.
//
// A run validates everything first (versions, names, forbidden statements,
// checksums of applied migrations, "schema too new"), then applies every
// pending migration inside ONE write transaction that runs alone under the
// cross-process write lock. Concurrent starters in other processes (and
// threads) wait for that lock, re-read the ledger inside their own
// transaction and find nothing left to do. Any failure rolls back all of it,
// ledger rows included. See docs/migrations.md.
//
// The ledger is `schema_migrations(version INTEGER PRIMARY KEY, name TEXT,
// applied_at TEXT, checksum TEXT)`; `PRAGMA user_version` mirrors its
// highest version.
//
// Migrate() is the issue's `Database::migrate`: a free function, so that the
// migrator sits above Database rather than inside it.
//
// Thread safety: every function may be called concurrently, on one handle or
// on several; runs are serialised by the write lock.
#ifndef SQLSTEWARD_MIGRATOR_H_
#define SQLSTEWARD_MIGRATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/status.h"
#include "sqlsteward/transaction.h"

namespace sqlsteward {

class Database;

struct Migration {
  // 1, 2, 3, ...: a list must be contiguous (no gaps, no duplicates). At most
  // 2^31-1, because PRAGMA user_version, which mirrors it, is 32-bit.
  std::int64_t version = 0;
  // Lower-case letters, digits and '_' ("create_users").
  std::string name;
  // SQL statements, run in order. BEGIN/COMMIT/ROLLBACK become SAVEPOINT/
  // RELEASE/ROLLBACK TO: the whole run is already one transaction. Refused
  // before anything runs: PRAGMA journal_mode, locking_mode, foreign_keys,
  // user_version and the pragmas sqlsteward owns; VACUUM; ATTACH; DETACH.
  std::string sql;
  // Runs after `sql` (either may be empty, not both), on the run's
  // transaction: for backfills computed in C++. Nest with SAVEPOINT; BEGIN/
  // COMMIT are refused. It must not call Write/Read on any Database.
  std::function<Status(Transaction&)> step;
};

// Reads `dir`'s migration files, named NNNN_name.sql (at least four digits,
// then '_' and [a-z0-9_]), sorted by version. Any other *.sql file, or any
// file starting with a digit that does not match, is an error, as are
// duplicate versions, gaps and files without SQL (kInvalidArgument, naming
// the files). An entry named like a migration that is not a regular file
// (a symbolic link, a FIFO, a directory, a device) is kFailedPrecondition:
// it is judged by lstat, never followed or opened. A file larger than
// 64 MiB is kFailedPrecondition. Other files (README.md, dotfiles) and
// subdirectories without the .sql suffix are ignored. kNotFound if `dir`
// does not exist.
Result<std::vector<Migration>> LoadMigrations(const std::string& dir);

// "0003_add_orders"
std::string MigrationLabel(const Migration& migration);

// What the ledger records for `migration`: "sha256:" + 64 hex digits of
// SHA-256 over the SQL text with CRLF normalised to LF (for a file with LF
// endings, what `sha256sum` prints), followed for a C++ step by
// "\0step:<version>:<name>": code cannot be hashed, so renaming a step
// counts as a change, editing its body does not. The prefix names the
// algorithm, so that a later one can be told apart.
std::string MigrationChecksum(const Migration& migration);

struct MigrateOptions {
  // How long to wait for the write lock: another process may be running a
  // long migration, and waiting for it is the normal case.
  std::chrono::milliseconds timeout{10 * 60 * 1000};
  // Validate and report what would run; write nothing.
  bool dry_run = false;
  // Called with each warning as it happens (also kept in the report).
  std::function<void(std::string_view)> on_warning;
};

struct MigrationReport {
  // Highest version in the ledger before the run (0: none).
  std::int64_t from_version = 0;
  // Highest version after the run (for a dry run: what it would be).
  std::int64_t to_version = 0;
  // Versions this call applied (a dry run: would apply), in order. Empty
  // when another process had already applied them.
  std::vector<std::int64_t> applied;
  // Adoption of a ledger without checksums, and the like.
  std::vector<std::string> warnings;
};

// Applies the pending migrations of `migrations`, all or nothing.
// Errors (nothing is applied in any case):
//   kInvalidArgument     the list is malformed, or a migration has a
//                        forbidden statement (checked before anything runs)
//   (the step's code)    a migration's SQL or step failed: SQLite's error or
//                        the step's Status, prefixed with the migration's
//                        label and statement
//   kFailedPrecondition  "schema too new": the database has a version beyond
//                        the newest of `migrations`; or an applied
//                        migration's checksum differs ("checksum mismatch"),
//                        or a migration is pending below an applied one
//   kTimeout             the write lock was not free before options.timeout;
//                        the message names the holder (and its migration)
//   any other            as for Database::Write (kUnavailable when closed, ...)
Result<MigrationReport> Migrate(Database& db, const std::vector<Migration>& migrations,
                                const MigrateOptions& options = {});

// Highest version recorded in schema_migrations; 0 when there is no ledger.
Result<std::int64_t> SchemaVersion(Database& db);

// For Options::after_open: every opener migrates (or finds it done) before
// Open returns. A database newer than `migrations` fails Open with
// kFailedPrecondition ("schema too new") without writing anything.
// Warnings go to `on_warning` (default: a line on stderr).
std::function<Status(Database&)> MigrateOnOpen(std::vector<Migration> migrations,
                                               MigrateOptions options = {});

}  // namespace sqlsteward

#endif  // SQLSTEWARD_MIGRATOR_H_
