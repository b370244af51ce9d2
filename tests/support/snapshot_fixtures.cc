#include "support/snapshot_fixtures.h"

#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "base/sha256.h"
#include "support/testing.h"

namespace sqlsteward::testing {

std::unique_ptr<Database> OpenDb(const std::string& path, JournalMode mode) {
  Options options;
  options.journal_mode = mode;
  auto db = Database::Open(path, options);
  EXPECT_TRUE(db.has_value()) << Describe(db);
  return db.has_value() ? std::move(db).value() : nullptr;
}

void SeedBank(Database& db, int accounts, int filler_rows) {
  SQLSTEWARD_ASSERT_OK(db.Write([&](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript(
        "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
        "CREATE TABLE transfers(n INTEGER PRIMARY KEY, amount INTEGER);"
        "CREATE TABLE filler(id INTEGER PRIMARY KEY, blob BLOB);"
        "CREATE INDEX filler_blob ON filler(substr(blob, 1, 8));"
        "PRAGMA user_version = 7;"));
    for (int i = 0; i < accounts; ++i) {
      SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO accounts VALUES(?, 1000)", i));
    }
    for (int i = 0; i < filler_rows; ++i) {
      SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO filler(blob) VALUES(randomblob(3000))"));
    }
    return Status();
  }));
}

long long QueryInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_stmt* stmt = nullptr;
  long long value = -1;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
  } else {
    // -1 alone could pass for a value; say why there is none.
    ADD_FAILURE() << "QueryInt(" << path << ", " << sql << "): "
                  << (rc == SQLITE_DONE ? "no row" : sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string FileSha(const std::string& path) { return internal::Sha256Hex(ReadFile(path)); }

}  // namespace sqlsteward::testing
