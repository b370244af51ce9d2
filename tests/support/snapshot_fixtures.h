// What the snapshot tests share: a database with an invariant to check
// (the total of all balances never changes), and raw reads of files and
// values that bypass the library, so that a test checks what is on disk.
#ifndef SQLSTEWARD_TESTS_SUPPORT_SNAPSHOT_FIXTURES_H_
#define SQLSTEWARD_TESTS_SUPPORT_SNAPSHOT_FIXTURES_H_

#include <memory>
#include <string>

#include "sqlsteward/sqlsteward.h"

namespace sqlsteward::testing {

// Database::Open with this journal mode; nullptr (and a test failure) when
// it fails.
std::unique_ptr<Database> OpenDb(const std::string& path, JournalMode mode = JournalMode::kAuto);

// accounts(id, balance) with `accounts` rows of balance 1000, so the sum
// is always accounts * 1000; transfers(n, amount) logs each transfer;
// filler(id, blob) with `filler_rows` rows of 3000 random bytes (and an
// index on them) makes the file large enough for a copy of many steps.
// user_version is 7.
void SeedBank(Database& db, int accounts, int filler_rows = 0);

// The first column of the first row, read with the raw C API; -1 and a
// test failure when the query fails or returns no row.
long long QueryInt(const std::string& path, const std::string& sql);

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& data);
// The sha256 of a file's bytes, in hex.
std::string FileSha(const std::string& path);

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_SNAPSHOT_FIXTURES_H_
