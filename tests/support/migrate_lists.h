// Migration lists shared by the migrator tests and their helper binary
// (tests/support/migrate_helper.cc), so that every process of a test knows
// the same migrations with the same checksums.
#ifndef SQLSTEWARD_TESTS_SUPPORT_MIGRATE_LISTS_H_
#define SQLSTEWARD_TESTS_SUPPORT_MIGRATE_LISTS_H_

#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sqlsteward/migrator.h"

namespace sqlsteward::testing {

// Records in runs(version, pid) that migration `version` ran, in this process.
inline std::function<Status(Transaction&)> RecordRun(std::int64_t version) {
  return [version](Transaction& tx) {
    return tx.Exec("INSERT INTO runs(version, pid) VALUES(?, ?)", version,
                   static_cast<std::int64_t>(::getpid()));
  };
}

// Six small migrations, none of them idempotent (ADD COLUMN, UNIQUE INDEX,
// price * 10): applying one twice fails or shows in the data. Each records
// its run in runs(version, pid).
inline std::vector<Migration> RaceMigrations() {
  return {
      {1, "create_items",
       "CREATE TABLE items(id INTEGER PRIMARY KEY, label TEXT NOT NULL);\n"
       "CREATE TABLE runs(version INTEGER NOT NULL, pid INTEGER NOT NULL);\n",
       RecordRun(1)},
      {2, "add_price", "ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0;",
       RecordRun(2)},
      {3, "seed",
       "BEGIN;\nINSERT INTO items(label, price) VALUES('apple', 3), ('pear', 4);\nCOMMIT;\n",
       RecordRun(3)},
      {4, "label_index", "CREATE UNIQUE INDEX items_label ON items(label);", RecordRun(4)},
      {5, "audit_trigger",
       "CREATE TABLE audit(item INTEGER NOT NULL, note TEXT);\n"
       "CREATE TRIGGER items_audit AFTER INSERT ON items BEGIN\n"
       "  INSERT INTO audit(item, note) VALUES(new.id, 'added; by trigger');\n"
       "END;\n",
       RecordRun(5)},
      {6, "reprice", "",
       [](Transaction& tx) -> Status {
         SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("UPDATE items SET price = price * 10"));
         return RecordRun(6)(tx);
       }},
  };
}

// 1 creates events (which writers use), 2 changes the schema, 3 is a long
// backfill: 20,000 rows, then `in_step` (which may block), all in the run's
// one transaction.
inline std::vector<Migration> SlowMigrations(std::function<void()> in_step) {
  return {
      {1, "create_events",
       "CREATE TABLE events(id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, at INTEGER NOT NULL);",
       nullptr},
      {2, "create_slow",
       "CREATE TABLE slow_data(id INTEGER PRIMARY KEY, payload TEXT NOT NULL);\n"
       "ALTER TABLE events ADD COLUMN note TEXT;\n",
       nullptr},
      {3, "slow_backfill", "CREATE INDEX slow_data_payload ON slow_data(payload);",
       [in_step](Transaction& tx) -> Status {
         for (int i = 0; i < 20'000; ++i) {
           SQLSTEWARD_RETURN_IF_ERROR(
               tx.Exec("INSERT INTO slow_data(payload) VALUES(?)", "row " + std::to_string(i)));
         }
         if (in_step) in_step();
         return Status();
       }},
  };
}

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_MIGRATE_LISTS_H_
