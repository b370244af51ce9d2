#include "sqlsteward/transaction.h"

#include <sqlite3.h>

#include "base/status_builders.h"
#include "core/connection.h"

namespace sqlsteward {

Statement::Statement(Statement&& other) noexcept
    : conn_(other.conn_), stmt_(other.stmt_), bind_error_(std::move(other.bind_error_)) {
  other.conn_ = nullptr;
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Release();
    conn_ = other.conn_;
    stmt_ = other.stmt_;
    bind_error_ = std::move(other.bind_error_);
    other.conn_ = nullptr;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { Release(); }

void Statement::Release() {
  if (stmt_ != nullptr) conn_->ReturnStatement(stmt_);
  stmt_ = nullptr;
  conn_ = nullptr;
}

namespace {

Status BindStatus(int rc, sqlite3_stmt* stmt, int index) {
  return internal::SqliteStatus(rc, sqlite3_db_handle(stmt),
                                "bind parameter " + std::to_string(index));
}

}  // namespace

Statement& Statement::BindInt64(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, std::span<const std::byte> blob) {
  int rc = sqlite3_bind_blob64(stmt_, index, blob.data(), blob.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, std::nullptr_t) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(stmt_);
  return internal::SqliteStatus(
      rc, sqlite3_db_handle(stmt_),
      "step \"" + std::string(sql != nullptr ? sql : "").substr(0, 120) + "\"");
}

Status Statement::Run() {
  while (true) {
    auto row = Step();
    if (!row.has_value()) return std::move(row).error();
    if (!*row) return Status();
  }
}

int Statement::ParameterCount() const { return sqlite3_bind_parameter_count(stmt_); }
int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

std::string_view Statement::ColumnName(int col) const {
  const char* name = sqlite3_column_name(stmt_, col);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

Statement::Type Statement::ColumnType(int col) const {
  switch (sqlite3_column_type(stmt_, col)) {
    case SQLITE_INTEGER:
      return Type::kInteger;
    case SQLITE_FLOAT:
      return Type::kReal;
    case SQLITE_TEXT:
      return Type::kText;
    case SQLITE_BLOB:
      return Type::kBlob;
    default:
      return Type::kNull;
  }
}
bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}
std::int64_t Statement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::ColumnDouble(int col) const { return sqlite3_column_double(stmt_, col); }

std::string_view Statement::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::span<const std::byte> Statement::ColumnBlob(int col) const {
  const void* blob = sqlite3_column_blob(stmt_, col);
  if (blob == nullptr) return {};
  return {static_cast<const std::byte*>(blob),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

Result<Statement> ReadTransaction::Prepare(std::string_view sql) {
  auto stmt = conn_->Prepare(sql);
  if (!stmt.has_value()) return std::move(stmt).error();
  return Statement(conn_, *stmt);
}

Result<std::optional<std::int64_t>> ReadTransaction::FirstInt64(Statement& stmt,
                                                                std::string_view sql) {
  auto row = stmt.Step();
  if (!row.has_value()) return std::move(row).error();
  if (!*row) {
    return NotFound("no row from \"" + std::string(sql.substr(0, 120)) + "\"");
  }
  if (stmt.ColumnIsNull(0)) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(stmt.ColumnInt64(0));
}

Result<std::optional<std::string>> ReadTransaction::FirstText(Statement& stmt,
                                                              std::string_view sql) {
  auto row = stmt.Step();
  if (!row.has_value()) return std::move(row).error();
  if (!*row) {
    return NotFound("no row from \"" + std::string(sql.substr(0, 120)) + "\"");
  }
  if (stmt.ColumnIsNull(0)) return std::optional<std::string>();
  return std::optional<std::string>(std::string(stmt.ColumnText(0)));
}

Status Transaction::ExecScript(std::string_view sql) { return conn_->Exec(sql); }

std::int64_t Transaction::LastInsertRowId() const {
  return sqlite3_last_insert_rowid(conn_->handle());
}

std::int64_t Transaction::Changes() const { return sqlite3_changes64(conn_->handle()); }

}  // namespace sqlsteward
