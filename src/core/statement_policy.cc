#include "core/statement_policy.h"

#include <algorithm>
#include <array>

namespace sqlsteward::internal {
namespace {

// PRAGMAs whose assignment neither a job nor a migration may make: they
// change the writer connection that every job of the process shares, have
// no effect inside a transaction, or belong to sqlsteward.
// clang-format off
constexpr std::array<std::string_view, 36> kConnectionPragmas = {
    "analysis_limit", "auto_vacuum", "automatic_index", "busy_timeout", "cache_size", "cache_spill",
    "case_sensitive_like", "cell_size_check", "checkpoint_fullfsync", "count_changes", "encoding",
    "foreign_keys", "fullfsync", "hard_heap_limit", "ignore_check_constraints", "journal_mode",
    "journal_size_limit", "legacy_alter_table", "locking_mode", "max_page_count", "mmap_size",
    "page_size", "query_only", "read_uncommitted", "recursive_triggers",
    "reverse_unordered_selects", "schema_version", "secure_delete", "soft_heap_limit",
    "synchronous", "temp_store", "threads", "trusted_schema", "user_version",
    "wal_autocheckpoint", "writable_schema",
};
// clang-format on

std::string_view Where(SqlContext context) {
  return context == SqlContext::kMigration ? "the migration" : "the write job";
}

}  // namespace

std::optional<Refusal> PragmaRefusal(std::string_view name, bool assigns, SqlContext context) {
  if (name == "wal_checkpoint") {
    return Refusal{
        "PRAGMA wal_checkpoint cannot run inside " + std::string(Where(context)) + "'s transaction",
        "sqlsteward checkpoints under its write lock after commits; remove it"};
  }
  if (!assigns) return std::nullopt;
  if (name == "journal_mode" || name == "locking_mode") {
    return Refusal{
        "PRAGMA " + std::string(name) + " would change how every process shares the database",
        "sqlsteward chooses the journal mode at open (Options::journal_mode); "
        "remove the PRAGMA from " +
            std::string(Where(context))};
  }
  if (name == "foreign_keys") {
    return Refusal{"PRAGMA foreign_keys has no effect inside a transaction, and " +
                       std::string(Where(context)) + " runs inside one",
                   "use PRAGMA defer_foreign_keys = ON to check foreign keys at commit "
                   "instead (the usual way to rebuild a table); Options::foreign_keys sets "
                   "the connection's default"};
  }
  if (name == "user_version") {
    if (context == SqlContext::kWriteJob) return std::nullopt;
    return Refusal{"PRAGMA user_version is set by sqlsteward to the ledger's version",
                   "remove it; the migration's number is the version"};
  }
  if (std::find(kConnectionPragmas.begin(), kConnectionPragmas.end(), name) !=
      kConnectionPragmas.end()) {
    return Refusal{"PRAGMA " + std::string(name) +
                       " changes a setting of the writer connection that every write of this "
                       "process shares, or cannot take effect in a transaction",
                   "set connection options through sqlsteward::Options; remove the PRAGMA "
                   "from " +
                       std::string(Where(context))};
  }
  return std::nullopt;
}

Refusal AttachRefusal(std::string_view verb, SqlContext context) {
  return Refusal{std::string(verb) + " cannot run inside " + std::string(Where(context)) +
                     "'s transaction and would change the writer connection that every write "
                     "shares",
                 "open each database through its own sqlsteward handle: a write into an "
                 "attached database would bypass its own write lock"};
}

Refusal TransactionControlRefusal() {
  return Refusal{"transaction control (BEGIN, COMMIT, ROLLBACK) is refused inside a write job",
                 "sqlsteward owns transaction control, journal and locking modes: a job already "
                 "runs inside a transaction (use SAVEPOINT to nest)"};
}

}  // namespace sqlsteward::internal
