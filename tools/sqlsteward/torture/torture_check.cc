#include "torture/torture_check.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>

#include "sqlsteward/sqlsteward.h"
#include "torture/torture_protocol.h"

namespace sqlsteward::cli::torture {
namespace {

void List(std::vector<std::int64_t>* ids, std::int64_t id) {
  if (ids->size() < CheckResult::kListed) ids->push_back(id);
}

constexpr auto kStaleEntryWait = std::chrono::seconds(5);
constexpr auto kStaleEntryRetry = std::chrono::milliseconds(50);

// SQLITE_CANTOPEN with ENOENT: a file beside the database that the
// directory-entry cache still showed is gone.
bool IsStaleEntry(const Status& status) {
  constexpr int kSqliteCantOpen = 14;
  return status.code() == StatusCode::kNotFound &&
         (status.sqlite_code() & 0xff) == kSqliteCantOpen && status.sys_errno() == ENOENT;
}

bool Contains(std::span<const std::int64_t> sorted, std::int64_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

// Within each writer, every seq below its highest present one must be
// present: the writer wrote them one after another, each after the last
// was acknowledged. `distinct` is the present ids, in order, each once.
void CountGaps(std::span<const std::int64_t> distinct, std::span<const std::int64_t> acked,
               CheckResult* r) {
  std::size_t i = 0;
  while (i < distinct.size()) {
    const std::int64_t writer = WriterOf(distinct[i]);
    std::int64_t expected = 1;
    for (; i < distinct.size() && WriterOf(distinct[i]) == writer; ++i) {
      for (; expected < SeqOf(distinct[i]); ++expected) {
        const std::int64_t missing = WriteId(writer, expected);
        if (Contains(acked, missing)) continue;  // counted as lost
        ++r->gaps;
        List(&r->gap_ids, missing);
      }
      expected = SeqOf(distinct[i]) + 1;
    }
  }
}

}  // namespace

void AckedWrites::Merge() {
  if (fresh_.empty()) return;
  std::sort(fresh_.begin(), fresh_.end());
  const auto middle = static_cast<std::ptrdiff_t>(ids_.size());
  ids_.insert(ids_.end(), fresh_.begin(), fresh_.end());
  std::inplace_merge(ids_.begin(), ids_.begin() + middle, ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  fresh_.clear();
}

CheckResult Compare(std::span<const std::int64_t> present, std::span<const std::int64_t> acked) {
  CheckResult r;
  r.acknowledged = acked.size();
  r.rows = present.size();
  std::vector<std::int64_t> distinct;
  distinct.reserve(present.size());
  for (std::size_t i = 0; i < present.size(); ++i) {
    if (i > 0 && present[i] == present[i - 1]) {
      ++r.duplicates;
      if (r.duplicate_ids.empty() || r.duplicate_ids.back() != present[i]) {
        List(&r.duplicate_ids, present[i]);
      }
      continue;
    }
    distinct.push_back(present[i]);
  }
  // Both in order: one merge pass finds what is only on one side.
  std::size_t p = 0;
  for (const std::int64_t id : acked) {
    while (p < distinct.size() && distinct[p] < id) {
      ++r.unacknowledged;
      ++p;
    }
    if (p < distinct.size() && distinct[p] == id) {
      ++p;
    } else {
      ++r.lost;
      List(&r.lost_ids, id);
    }
  }
  r.unacknowledged += distinct.size() - p;
  CountGaps(distinct, acked, &r);
  return r;
}

Result<CheckResult> CheckDatabase(const std::string& db_path, std::span<const std::int64_t> acked) {
  std::vector<std::int64_t> present;
  std::vector<std::string> integrity;
  auto read_all = [&]() -> Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(db_path));
    SQLSTEWARD_RETURN_IF_ERROR(db->Read([&](ReadTransaction& tx) -> Status {
      present.clear();
      integrity.clear();
      {
        SQLSTEWARD_ASSIGN_OR_RETURN(Statement ids,
                                    tx.Prepare("SELECT id FROM torture_writes ORDER BY id"));
        for (;;) {
          SQLSTEWARD_ASSIGN_OR_RETURN(bool row, ids.Step());
          if (!row) break;
          present.push_back(ids.ColumnInt64(0));
        }
      }
      SQLSTEWARD_ASSIGN_OR_RETURN(Statement check, tx.Prepare("PRAGMA integrity_check(20)"));
      for (;;) {
        SQLSTEWARD_ASSIGN_OR_RETURN(bool row, check.Step());
        if (!row) break;
        integrity.emplace_back(check.ColumnText(0));
      }
      return Status();
    }));
    return db->Close();
  };
  // Through a FUSE or network mount, a -journal removed through the other
  // path can stay listed here for a second (the entry cache), and SQLite's
  // open of it fails with ENOENT: Database::Open waits that out
  // (core/open_steps.cc), a read that comes after it may still meet it.
  // Retried like Open does, within the same bound; the read changes nothing.
  const auto give_up = std::chrono::steady_clock::now() + kStaleEntryWait;
  Status read = read_all();
  while (IsStaleEntry(read) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(kStaleEntryRetry);
    read = read_all();
  }
  if (read.code() == StatusCode::kCorruption) {
    CheckResult r = Compare({}, acked);
    r.integrity = {std::string(read.message())};
    return r;
  }
  SQLSTEWARD_RETURN_IF_ERROR(read.WithContext("check " + db_path));
  CheckResult r = Compare(present, acked);
  r.integrity = std::move(integrity);
  return r;
}

}  // namespace sqlsteward::cli::torture
