// The check `sqlsteward torture` makes after every cycle: is every write
// the library acknowledged still in the database, once, and does SQLite
// find the file sound? Kept apart from the command so that a test can feed
// it a database with a write missing and see it counted.
//
// Thread safety: AckedWrites is used by one thread; the functions are pure
// apart from the database they read.
#ifndef SQLSTEWARD_TOOLS_TORTURE_CHECK_H_
#define SQLSTEWARD_TOOLS_TORTURE_CHECK_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sqlsteward/status.h"

namespace sqlsteward::cli::torture {

// Every id acknowledged so far, kept in id order for the check.
class AckedWrites {
 public:
  void Add(std::int64_t id) { fresh_.push_back(id); }
  // Sorts what was added since the last call into ids().
  void Merge();
  // In id order, each once (after Merge()).
  std::span<const std::int64_t> ids() const { return ids_; }

 private:
  std::vector<std::int64_t> ids_;
  std::vector<std::int64_t> fresh_;
};

struct CheckResult {
  std::uint64_t acknowledged = 0;  // acknowledged writes checked
  std::uint64_t rows = 0;          // rows in the database
  // Acknowledged, and not in the database.
  std::uint64_t lost = 0;
  // Not acknowledged to us (the worker was killed before its line was
  // read), not in the database, but a later write of the same writer is:
  // Write() had returned OK for it.
  std::uint64_t gaps = 0;
  // Rows beyond the first of one id.
  std::uint64_t duplicates = 0;
  // In the database but never acknowledged: committed, and the worker was
  // killed before it could say so. Expected, and not a failure.
  std::uint64_t unacknowledged = 0;
  std::vector<std::int64_t> lost_ids;       // the first kListed
  std::vector<std::int64_t> gap_ids;        // the first kListed
  std::vector<std::int64_t> duplicate_ids;  // the first kListed
  // PRAGMA integrity_check(20)'s rows: "ok", or the problems; or the error
  // SQLite gave when it could not read the database (kCorruption).
  std::vector<std::string> integrity;

  static constexpr std::size_t kListed = 10;

  bool integrity_ok() const { return integrity.size() == 1 && integrity[0] == "ok"; }
  bool lossless() const { return lost == 0 && gaps == 0 && duplicates == 0; }
  bool sound() const { return lossless() && integrity_ok(); }
};

// Compares the ids the database holds (`present`: one per row, in id
// order) with `acked` (in id order, each once). Leaves `integrity` empty.
CheckResult Compare(std::span<const std::int64_t> present, std::span<const std::int64_t> acked);

// Opens `db_path` through the library, as the next process would (which
// recovers whatever the killed ones left: a hot journal, a WAL), reads
// every row's id and PRAGMA integrity_check in one read transaction, closes
// it, and compares with `acked`. A database SQLite reports as corrupt is a
// result (every acknowledged write lost, `integrity` the error), not an
// error; any other failure to read it is.
Result<CheckResult> CheckDatabase(const std::string& db_path, std::span<const std::int64_t> acked);

}  // namespace sqlsteward::cli::torture

#endif  // SQLSTEWARD_TOOLS_TORTURE_CHECK_H_
