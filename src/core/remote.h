// The seam between a job's Transaction/Statement and an engine that runs its
// SQL somewhere else: the dqlite cluster (src/cluster/engine.h).
//
// Why a seam here and not a second Transaction class: jobs, read callbacks
// and the migrator are written against Transaction and Statement; on a
// cluster handle the same code must run unchanged. A Statement is either
// local (sqlite3_stmt on a Connection, the fast path, untouched) or remote
// (a RemoteStatement: parameters collected by Bind, the statement run by
// the session at the first Step, its rows materialised and then stepped
// through locally). The local path pays one predictable null test per call.
//
// A remote statement runs as a query (rows come back) or as an exec (last
// insert id and changes come back) by its first keyword: SELECT, WITH,
// VALUES, EXPLAIN and PRAGMA without an assignment are queries; anything else
// is an exec; an exec with a RETURNING clause is refused with
// kFailedPrecondition rather than run with its rows dropped
// (docs/cluster.md).
//
// Thread safety: a RemoteSession and its statements belong to the one
// thread running the job or callback.
#ifndef SQLSTEWARD_CORE_REMOTE_H_
#define SQLSTEWARD_CORE_REMOTE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sqlsteward/status.h"
#include "sqlsteward/transaction.h"

namespace sqlsteward::internal {

// Same alternatives, in the same order, as cluster::Value.
using RemoteValue =
    std::variant<std::nullptr_t, std::int64_t, double, std::string, std::vector<std::byte>>;

struct RemoteRows {
  std::vector<std::string> columns;
  std::vector<std::vector<RemoteValue>> rows;
};

// Where a remote statement runs: one connection to the engine, inside the
// transaction its owner opened.
class RemoteSession {
 public:
  virtual ~RemoteSession() = default;
  virtual Result<RemoteRows> Query(std::string_view sql, std::span<const RemoteValue> params) = 0;
  // Records the last insert id and the changes for LastInsertRowId/Changes.
  virtual Status Exec(std::string_view sql, std::span<const RemoteValue> params) = 0;
  // One or more statements without parameters.
  virtual Status ExecScript(std::string_view sql) = 0;
  virtual std::int64_t LastInsertRowId() const = 0;
  virtual std::int64_t Changes() const = 0;
};

// A value read as SQLite's sqlite3_column_* would convert it.
std::int64_t RemoteInt64(const RemoteValue& v);
double RemoteDouble(const RemoteValue& v);
std::string_view RemoteText(const RemoteValue& v);
std::span<const std::byte> RemoteBlob(const RemoteValue& v);

// True when `sql` runs as a query (see the top of this file).
bool ReturnsRows(std::string_view sql);

// Highest parameter index `sql` declares (?, ?NNN, :name, @name, $name),
// counted outside string literals, identifiers in quotes and comments.
int CountParameters(std::string_view sql);

class RemoteStatement {
 public:
  RemoteStatement(RemoteSession* session, std::string_view sql);

  Status Bind(int index, RemoteValue value);
  Result<bool> Step();
  int ParameterCount() const { return parameters_; }
  // Before the first Step, as SQLite after prepare: the columns the query
  // will return, asked of the engine (the query wrapped in LIMIT 0, its
  // parameters NULL).
  int ColumnCount() const { return static_cast<int>(Columns().size()); }
  std::string_view ColumnName(int col) const;
  const RemoteValue* Column(int col) const;
  // As RemoteText, and numbers as SQLite writes them as text; valid until
  // the next Step.
  std::string_view Text(int col) const;

 private:
  const std::vector<std::string>& Columns() const;

  RemoteSession* const session_;
  const std::string sql_;
  const int parameters_;
  std::vector<RemoteValue> params_;
  RemoteRows rows_;
  bool ran_ = false;
  std::size_t next_ = 0;  // Row the next Step() makes current.
  mutable std::vector<std::string> number_text_;  // Current row's numbers as text.
  mutable std::optional<std::vector<std::string>> described_;  // Columns before the run.
};

// Runs user code with a Transaction or ReadTransaction on a RemoteSession,
// turning an exception into a Status, as Connection::RunJob does.
struct RemoteAccess {
  static Status RunJob(RemoteSession* session, const WriteFn& fn);
  static Status RunRead(RemoteSession* session, const ReadFn& fn);
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_CORE_REMOTE_H_
