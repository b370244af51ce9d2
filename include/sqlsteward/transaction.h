// Statements and transactions as a job sees them.
//
// A ReadTransaction is handed to Database::Read callbacks, a Transaction to
// Database::Write jobs. Both are only valid inside the callback that received
// them, on the thread that runs it; neither may be stored or shared.
#ifndef SQLSTEWARD_TRANSACTION_H_
#define SQLSTEWARD_TRANSACTION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "sqlsteward/status.h"

struct sqlite3_stmt;  // Opaque; <sqlite3.h> stays out of public headers.

namespace sqlsteward {

namespace internal {
class Connection;
class RemoteSession;
class RemoteStatement;
struct RemoteAccess;
}

// A prepared statement from the connection's cache. Movable, not copyable.
// Destruction resets it and clears its bindings so the next user of the
// cached statement starts clean. Bind errors are sticky and reported by the
// next Step() or Run().
// On a cluster handle (Database::Open("dqlite://...")) the statement runs on
// the leader at its first Step(): its rows are fetched then, and the Column
// accessors read the fetched copy (docs/cluster.md).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite.
  // Any integer type (and bool) binds as a 64-bit integer.
  template <typename T>
    requires std::is_integral_v<T>
  Statement& Bind(int index, T value) {
    return BindInt64(index, static_cast<std::int64_t>(value));
  }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, const std::string& text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, std::span<const std::byte> blob);
  Statement& Bind(int index, std::nullptr_t);
  template <typename T>
  Statement& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : Bind(index, nullptr);
  }
  // Binds args to parameters 1..N.
  template <typename... Args>
  Statement& BindAll(const Args&... args) {
    int index = 0;
    (Bind(++index, args), ...);
    return *this;
  }

  // true: a row is available through the Column accessors; false: done.
  Result<bool> Step();
  // Steps to completion, discarding rows.
  Status Run();

  // Parameters the SQL declares (?, ?N, :name): the highest index.
  int ParameterCount() const;

  enum class Type { kInteger, kReal, kText, kBlob, kNull };
  int ColumnCount() const;
  // The column's name as the SELECT gives it (its AS alias, if any).
  std::string_view ColumnName(int col) const;
  // The storage class of the value in the current row.
  Type ColumnType(int col) const;
  bool ColumnIsNull(int col) const;
  std::int64_t ColumnInt64(int col) const;
  double ColumnDouble(int col) const;
  // Valid until the next Step() or the statement's destruction.
  std::string_view ColumnText(int col) const;
  std::span<const std::byte> ColumnBlob(int col) const;

 private:
  friend class ReadTransaction;
  Statement(internal::Connection* conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  explicit Statement(internal::RemoteStatement* remote) : remote_(remote) {}
  void Release();
  Statement& BindInt64(int index, std::int64_t value);

  internal::Connection* conn_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  // Owned; set instead of conn_/stmt_ on a cluster handle.
  internal::RemoteStatement* remote_ = nullptr;
  Status bind_error_;
};

// A read transaction: every statement sees one consistent snapshot.
class ReadTransaction {
 public:
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

  // Prepares (or takes from the cache) exactly one statement.
  Result<Statement> Prepare(std::string_view sql);

  // Runs one statement with parameters, discarding rows.
  template <typename... Args>
  Status Exec(std::string_view sql, const Args&... args) {
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
    return stmt.BindAll(args...).Run();
  }

  // First column of the first row as an integer. kNotFound when there is no
  // row; NULL reads as nullopt.
  template <typename... Args>
  Result<std::optional<std::int64_t>> QueryInt64(std::string_view sql, const Args&... args) {
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
    stmt.BindAll(args...);
    return FirstInt64(stmt, sql);
  }

  // First column of the first row as text; kNotFound when there is no row.
  template <typename... Args>
  Result<std::optional<std::string>> QueryText(std::string_view sql, const Args&... args) {
    SQLSTEWARD_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
    stmt.BindAll(args...);
    return FirstText(stmt, sql);
  }

 protected:
  explicit ReadTransaction(internal::Connection* conn) : conn_(conn) {}
  explicit ReadTransaction(internal::RemoteSession* remote) : conn_(nullptr), remote_(remote) {}
  ~ReadTransaction() = default;
  internal::Connection* conn_;
  internal::RemoteSession* remote_ = nullptr;  // Set instead of conn_ on a cluster handle.

 private:
  friend class internal::Connection;
  friend struct internal::RemoteAccess;
  static Result<std::optional<std::int64_t>> FirstInt64(Statement& stmt, std::string_view sql);
  static Result<std::optional<std::string>> FirstText(Statement& stmt, std::string_view sql);
};

// A write job's view of the batch transaction. The job runs inside its own
// SAVEPOINT: returning a non-OK Status (or throwing) rolls back this job
// alone. Nested Savepoint()s are allowed; BEGIN/COMMIT/ROLLBACK are not (the
// batch owns the transaction).
class Transaction : public ReadTransaction {
 public:
  // Runs one or more statements without parameters (DDL, scripts).
  Status ExecScript(std::string_view sql);

  std::int64_t LastInsertRowId() const;
  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  std::int64_t Changes() const;

 private:
  friend class internal::Connection;
  friend struct internal::RemoteAccess;
  explicit Transaction(internal::Connection* conn) : ReadTransaction(conn) {}
  explicit Transaction(internal::RemoteSession* remote) : ReadTransaction(remote) {}
  ~Transaction() = default;
};

// A write job (Database::Write) and a read callback (Database::Read).
using WriteFn = std::function<Status(Transaction&)>;
using ReadFn = std::function<Status(ReadTransaction&)>;

}  // namespace sqlsteward

#endif  // SQLSTEWARD_TRANSACTION_H_
