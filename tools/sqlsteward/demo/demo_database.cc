#include "demo/demo_database.h"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <memory>

#include "common/cli.h"
#include "demo/demo_protocol.h"

namespace sqlsteward::cli::demo {

Status MakeDirectories(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status();
    return Status(StatusCode::kInvalidArgument, dir + " exists and is not a directory",
                  "pass --dir a directory for the demo's files");
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "stat " + dir);
  std::string parent = std::filesystem::path(dir).parent_path().string();
  if (!parent.empty() && parent != dir) SQLSTEWARD_RETURN_IF_ERROR(MakeDirectories(parent));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir " + dir, "pass --dir a directory you can write to");
  }
  return Status();
}

Status CreateSchema(const std::string& db_path, std::string* journal_mode) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(db_path));
  *journal_mode = JournalModeName(db->journal_mode());
  SQLSTEWARD_RETURN_IF_ERROR(
      db->Write([](Transaction& tx) { return tx.ExecScript(kCreateTable); })
          .WithContext("create table ledger"));
  // The parent writes nothing else; closing also keeps its connections and
  // locks out of the workers' way and out of fork().
  return db->Close();
}

Result<DbFacts> ReadFacts(const std::string& db_path, std::string* journal_mode) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(db_path));
  *journal_mode = JournalModeName(db->journal_mode());
  DbFacts facts;
  SQLSTEWARD_RETURN_IF_ERROR(db->Read([&](ReadTransaction& tx) -> Status {
    {
      SQLSTEWARD_ASSIGN_OR_RETURN(
          Statement totals,
          tx.Prepare("SELECT count(*), coalesce(min(n), 0), coalesce(max(n), 0) FROM ledger"));
      SQLSTEWARD_ASSIGN_OR_RETURN(bool row, totals.Step());
      if (!row) return Status(StatusCode::kInternal, "aggregate query returned no row");
      facts.rows = totals.ColumnInt64(0);
      facts.min_n = totals.ColumnInt64(1);
      facts.max_n = totals.ColumnInt64(2);
    }
    {
      SQLSTEWARD_ASSIGN_OR_RETURN(Statement by_pid,
                                  tx.Prepare("SELECT pid, count(*) FROM ledger GROUP BY pid"));
      for (;;) {
        SQLSTEWARD_ASSIGN_OR_RETURN(bool row, by_pid.Step());
        if (!row) break;
        facts.rows_by_pid[by_pid.ColumnInt64(0)] = by_pid.ColumnInt64(1);
      }
    }
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement check, tx.Prepare("PRAGMA integrity_check(20)"));
    for (;;) {
      SQLSTEWARD_ASSIGN_OR_RETURN(bool row, check.Step());
      if (!row) break;
      facts.integrity.emplace_back(check.ColumnText(0));
    }
    return Status();
  }).WithContext("verify " + db_path));
  SQLSTEWARD_RETURN_IF_ERROR(db->Close());
  return facts;
}

}  // namespace sqlsteward::cli::demo
