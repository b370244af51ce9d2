#include "sqlsteward/transaction.h"

#include <sqlite3.h>

#include "base/status_builders.h"
#include "core/connection.h"
#include "core/remote.h"

namespace sqlsteward {

Statement::Statement(Statement&& other) noexcept
    : conn_(other.conn_),
      stmt_(other.stmt_),
      remote_(other.remote_),
      bind_error_(std::move(other.bind_error_)) {
  other.conn_ = nullptr;
  other.stmt_ = nullptr;
  other.remote_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Release();
    conn_ = other.conn_;
    stmt_ = other.stmt_;
    remote_ = other.remote_;
    bind_error_ = std::move(other.bind_error_);
    other.conn_ = nullptr;
    other.stmt_ = nullptr;
    other.remote_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { Release(); }

void Statement::Release() {
  if (stmt_ != nullptr) conn_->ReturnStatement(stmt_);
  stmt_ = nullptr;
  conn_ = nullptr;
  delete remote_;
  remote_ = nullptr;
}

namespace {

Status BindStatus(int rc, sqlite3_stmt* stmt, int index) {
  return internal::SqliteStatus(rc, sqlite3_db_handle(stmt),
                                "bind parameter " + std::to_string(index));
}

const internal::RemoteValue kRemoteNull = nullptr;

// The current row's value of a remote statement's column; NULL when there
// is none, as sqlite3_column_* reads past the last column.
const internal::RemoteValue& RemoteColumn(const internal::RemoteStatement* remote, int col) {
  const internal::RemoteValue* v = remote->Column(col);
  return v != nullptr ? *v : kRemoteNull;
}

// Bind errors are sticky, as on the local path.
void BindRemote(internal::RemoteStatement* remote, Status* bind_error, int index,
                internal::RemoteValue value) {
  Status st = remote->Bind(index, std::move(value));
  if (!st.ok() && bind_error->ok()) *bind_error = std::move(st);
}

}  // namespace

Statement& Statement::BindInt64(int index, std::int64_t value) {
  if (remote_ != nullptr) [[unlikely]] {
    BindRemote(remote_, &bind_error_, index, value);
    return *this;
  }
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  if (remote_ != nullptr) [[unlikely]] {
    BindRemote(remote_, &bind_error_, index, value);
    return *this;
  }
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  if (remote_ != nullptr) [[unlikely]] {
    BindRemote(remote_, &bind_error_, index, std::string(text));
    return *this;
  }
  int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, std::span<const std::byte> blob) {
  if (remote_ != nullptr) [[unlikely]] {
    BindRemote(remote_, &bind_error_, index, std::vector<std::byte>(blob.begin(), blob.end()));
    return *this;
  }
  int rc = sqlite3_bind_blob64(stmt_, index, blob.data(), blob.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, std::nullptr_t) {
  if (remote_ != nullptr) [[unlikely]] {
    BindRemote(remote_, &bind_error_, index, nullptr);
    return *this;
  }
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = BindStatus(rc, stmt_, index);
  return *this;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  if (remote_ != nullptr) [[unlikely]] return remote_->Step();
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

int Statement::ParameterCount() const {
  if (remote_ != nullptr) [[unlikely]] return remote_->ParameterCount();
  return sqlite3_bind_parameter_count(stmt_);
}
int Statement::ColumnCount() const {
  if (remote_ != nullptr) [[unlikely]] return remote_->ColumnCount();
  return sqlite3_column_count(stmt_);
}

std::string_view Statement::ColumnName(int col) const {
  if (remote_ != nullptr) [[unlikely]] return remote_->ColumnName(col);
  const char* name = sqlite3_column_name(stmt_, col);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

Statement::Type Statement::ColumnType(int col) const {
  if (remote_ != nullptr) [[unlikely]] {
    static constexpr Type kByIndex[] = {Type::kNull, Type::kInteger, Type::kReal, Type::kText,
                                        Type::kBlob};
    return kByIndex[RemoteColumn(remote_, col).index()];
  }
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
  if (remote_ != nullptr) [[unlikely]] {
    return std::holds_alternative<std::nullptr_t>(RemoteColumn(remote_, col));
  }
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}
std::int64_t Statement::ColumnInt64(int col) const {
  if (remote_ != nullptr) [[unlikely]] return internal::RemoteInt64(RemoteColumn(remote_, col));
  return sqlite3_column_int64(stmt_, col);
}
double Statement::ColumnDouble(int col) const {
  if (remote_ != nullptr) [[unlikely]] return internal::RemoteDouble(RemoteColumn(remote_, col));
  return sqlite3_column_double(stmt_, col);
}

std::string_view Statement::ColumnText(int col) const {
  if (remote_ != nullptr) [[unlikely]] return remote_->Text(col);
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::span<const std::byte> Statement::ColumnBlob(int col) const {
  if (remote_ != nullptr) [[unlikely]] return internal::RemoteBlob(RemoteColumn(remote_, col));
  const void* blob = sqlite3_column_blob(stmt_, col);
  if (blob == nullptr) return {};
  return {static_cast<const std::byte*>(blob),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

Result<Statement> ReadTransaction::Prepare(std::string_view sql) {
  if (remote_ != nullptr) [[unlikely]] {
    return Statement(new internal::RemoteStatement(remote_, sql));
  }
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

Status Transaction::ExecScript(std::string_view sql) {
  if (remote_ != nullptr) [[unlikely]] return remote_->ExecScript(sql);
  return conn_->Exec(sql);
}

std::int64_t Transaction::LastInsertRowId() const {
  if (remote_ != nullptr) [[unlikely]] return remote_->LastInsertRowId();
  return sqlite3_last_insert_rowid(conn_->handle());
}

std::int64_t Transaction::Changes() const {
  if (remote_ != nullptr) [[unlikely]] return remote_->Changes();
  return sqlite3_changes64(conn_->handle());
}

}  // namespace sqlsteward
