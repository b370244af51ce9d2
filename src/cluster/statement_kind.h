// What a client must know about SQL before sending it to dqlite: whether
// it is refused outright, and whether running it can commit (so that a lost
// reply leaves its outcome unknown, client.h).
//
// The classification looks only at the first keyword of each statement,
// skipping comments and not splitting inside quotes. It errs on the side of
// "can commit": a statement it does not recognise as a read or as
// transaction control is taken for a write.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_CLUSTER_STATEMENT_KIND_H_
#define SQLSTEWARD_CLUSTER_STATEMENT_KIND_H_

#include <string_view>
#include <vector>

#include "sqlsteward/status.h"

namespace sqlsteward::cluster {

enum class StatementKind {
  kRead,      // SELECT, VALUES, EXPLAIN
  kWrite,     // anything else that may change the database
  kBegin,     // BEGIN
  kCommit,    // COMMIT, END
  kRollback,  // ROLLBACK (not ROLLBACK TO)
  kVacuum,
  kAttach,    // ATTACH, DETACH
};

// The kinds of the statements in `sql`, in order (empty statements skipped).
std::vector<StatementKind> ClassifySql(std::string_view sql);

// kFailedPrecondition for VACUUM and ATTACH/DETACH, which dqlite 1.11.1
// cannot run safely; OK otherwise.
Status CheckAllowed(std::string_view sql);

// Whether running `sql` may commit, given whether an explicit transaction
// is open on the connection.
bool MayCommit(std::string_view sql, bool in_transaction);

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_STATEMENT_KIND_H_
