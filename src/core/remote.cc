#include "core/remote.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "base/status_builders.h"

namespace sqlsteward::internal {
namespace {

// Skips whitespace and comments from `i`.
std::size_t SkipSpace(std::string_view sql, std::size_t i) {
  while (i < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[i]))) {
      ++i;
    } else if (sql.compare(i, 2, "--") == 0) {
      i = sql.find('\n', i);
      if (i == std::string_view::npos) return sql.size();
    } else if (sql.compare(i, 2, "/*") == 0) {
      i = sql.find("*/", i + 2);
      if (i == std::string_view::npos) return sql.size();
      i += 2;
    } else {
      break;
    }
  }
  return i;
}

std::string UpperWord(std::string_view sql, std::size_t* i) {
  std::string word;
  while (*i < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[*i])) || sql[*i] == '_')) {
    word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[*i]))));
    ++*i;
  }
  return word;
}

template <typename Tx, typename Fn>
Status CallUserCode(Tx& tx, const Fn& fn, std::string_view what) {
  try {
    return fn(tx);
  } catch (const std::exception& e) {
    return Internal(std::string(what) + " threw: " + e.what(),
                    "its changes were rolled back; return a Status instead of throwing");
  } catch (...) {
    return Internal(std::string(what) + " threw a non-std exception",
                    "its changes were rolled back; return a Status instead of throwing");
  }
}

}  // namespace

std::int64_t RemoteInt64(const RemoteValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
  if (const auto* t = std::get_if<std::string>(&v)) return std::strtoll(t->c_str(), nullptr, 10);
  return 0;
}

double RemoteDouble(const RemoteValue& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* t = std::get_if<std::string>(&v)) return std::strtod(t->c_str(), nullptr);
  return 0.0;
}

std::string_view RemoteText(const RemoteValue& v) {
  if (const auto* t = std::get_if<std::string>(&v)) return *t;
  if (const auto* b = std::get_if<std::vector<std::byte>>(&v)) {
    return {reinterpret_cast<const char*>(b->data()), b->size()};
  }
  // Numbers as text would need storage the value does not have; the local
  // path converts them, the remote one reads them through ColumnInt64 or
  // ColumnDouble (docs/cluster.md).
  return {};
}

std::span<const std::byte> RemoteBlob(const RemoteValue& v) {
  if (const auto* b = std::get_if<std::vector<std::byte>>(&v)) return *b;
  if (const auto* t = std::get_if<std::string>(&v)) {
    return {reinterpret_cast<const std::byte*>(t->data()), t->size()};
  }
  return {};
}

bool ReturnsRows(std::string_view sql) {
  std::size_t i = SkipSpace(sql, 0);
  const std::string word = UpperWord(sql, &i);
  if (word == "SELECT" || word == "WITH" || word == "VALUES" || word == "EXPLAIN") return true;
  if (word != "PRAGMA") return false;
  // PRAGMA name = value / name(value) assigns; PRAGMA name / name(arg) of a
  // table-valued pragma (table_info(t)) reads. Assignments by '=' only are
  // told apart; both forms run as queries otherwise, which dqlite accepts.
  return sql.find('=', i) == std::string_view::npos;
}

// Whether `sql` has the keyword RETURNING outside quotes, comments and
// other words.
bool HasReturningClause(std::string_view sql) {
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : c;
      const std::size_t end = sql.find(close, i + 1);
      if (end == std::string_view::npos) return false;
      i = end + 1;
    } else if (sql.substr(i, 2) == "--") {
      const std::size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) return false;
      i = end + 1;
    } else if (sql.substr(i, 2) == "/*") {
      const std::size_t end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) return false;
      i = end + 2;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      if (UpperWord(sql, &i) == "RETURNING") return true;
    } else {
      ++i;
    }
  }
  return false;
}

int CountParameters(std::string_view sql) {
  int highest = 0;
  int next = 1;
  std::set<std::string, std::less<>> names;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : c;
      std::size_t end = sql.find(close, i + 1);
      i = end == std::string_view::npos ? sql.size() : end + 1;
    } else if (sql.compare(i, 2, "--") == 0 || sql.compare(i, 2, "/*") == 0) {
      i = SkipSpace(sql, i);
    } else if (c == '?') {
      std::size_t j = i + 1;
      int n = 0;
      while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) {
        n = std::min(n * 10 + (sql[j] - '0'), 1 << 20);
        ++j;
      }
      if (j == i + 1) n = next;
      highest = std::max(highest, n);
      next = highest + 1;
      i = j;
    } else if (c == ':' || c == '@' || c == '$') {
      std::size_t j = i + 1;
      while (j < sql.size() &&
             (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) {
        ++j;
      }
      if (j > i + 1 && names.emplace(sql.substr(i, j - i)).second) {
        highest = next;
        ++next;
      }
      i = j;
    } else {
      ++i;
    }
  }
  return highest;
}

RemoteStatement::RemoteStatement(RemoteSession* session, std::string_view sql)
    : session_(session), sql_(sql), parameters_(CountParameters(sql)) {}

Status RemoteStatement::Bind(int index, RemoteValue value) {
  if (index < 1 || index > parameters_) {
    return InvalidArgument("bind parameter " + std::to_string(index) + ": out of range (the "
                               "statement declares " + std::to_string(parameters_) + ")",
                           "parameters are numbered from 1, as in SQLite", 25 /* SQLITE_RANGE */);
  }
  const auto slot = static_cast<std::size_t>(index);
  if (params_.size() < slot) params_.resize(slot);
  params_[slot - 1] = std::move(value);
  return Status();
}

Result<bool> RemoteStatement::Step() {
  if (!ran_) {
    ran_ = true;
    // Parameters never bound are NULL, as in SQLite.
    params_.resize(std::max(params_.size(), static_cast<std::size_t>(parameters_)));
    if (ReturnsRows(sql_)) {
      auto rows = session_->Query(sql_, params_);
      if (!rows.has_value()) {
        return std::move(rows).error().WithContext("step \"" + sql_.substr(0, 120) + "\"");
      }
      rows_ = std::move(rows).value();
    } else {
      if (HasReturningClause(sql_)) {
        // Run as an exec, its rows would be dropped without a word.
        return FailedPrecondition(
            "RETURNING is not supported on a dqlite cluster: \"" + sql_.substr(0, 120) + "\"",
            "run the statement without RETURNING, then read the rows back in the same job "
            "(e.g. by last_insert_rowid() or by their key)");
      }
      SQLSTEWARD_RETURN_IF_ERROR(
          session_->Exec(sql_, params_).WithContext("step \"" + sql_.substr(0, 120) + "\""));
    }
  }
  number_text_.clear();
  if (next_ >= rows_.rows.size()) return false;
  ++next_;
  return true;
}

std::string_view RemoteStatement::Text(int col) const {
  const RemoteValue* v = Column(col);
  if (v == nullptr) return {};
  std::string text;
  if (const auto* i = std::get_if<std::int64_t>(v)) {
    text = std::to_string(*i);
  } else if (const auto* d = std::get_if<double>(v)) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.15g", *d);
    text = buf;
    if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  } else {
    return RemoteText(*v);
  }
  const auto slot = static_cast<std::size_t>(col);
  if (number_text_.size() <= slot) number_text_.resize(slot + 1);
  number_text_[slot] = std::move(text);
  return number_text_[slot];
}

const std::vector<std::string>& RemoteStatement::Columns() const {
  if (ran_) return rows_.columns;
  if (!described_.has_value()) {
    described_.emplace();
    if (!ReturnsRows(sql_)) return *described_;
    std::string_view body = sql_;
    while (!body.empty() && (std::isspace(static_cast<unsigned char>(body.back())) ||
                             body.back() == ';')) {
      body.remove_suffix(1);
    }
    std::size_t i = SkipSpace(body, 0);
    const std::string word = UpperWord(body, &i);
    const bool wrappable = word == "SELECT" || word == "WITH" || word == "VALUES";
    // A pragma or EXPLAIN cannot be a subquery; without parameters it is
    // run as it is (it only reads), its rows discarded.
    if (!wrappable && parameters_ > 0) return *described_;
    const std::string probe =
        wrappable ? "SELECT * FROM (" + std::string(body) + "\n) LIMIT 0" : sql_;
    const std::vector<RemoteValue> nulls(static_cast<std::size_t>(parameters_));
    auto rows = session_->Query(probe, nulls);
    if (rows.has_value()) described_ = std::move(rows->columns);
  }
  return *described_;
}

std::string_view RemoteStatement::ColumnName(int col) const {
  const std::vector<std::string>& columns = Columns();
  if (col < 0 || static_cast<std::size_t>(col) >= columns.size()) return {};
  return columns[static_cast<std::size_t>(col)];
}

const RemoteValue* RemoteStatement::Column(int col) const {
  if (next_ == 0 || next_ > rows_.rows.size()) return nullptr;
  const auto& row = rows_.rows[next_ - 1];
  if (col < 0 || static_cast<std::size_t>(col) >= row.size()) return nullptr;
  return &row[static_cast<std::size_t>(col)];
}

Status RemoteAccess::RunJob(RemoteSession* session, const WriteFn& fn) {
  Transaction tx(session);
  return CallUserCode(tx, fn, "write job");
}

Status RemoteAccess::RunRead(RemoteSession* session, const ReadFn& fn) {
  ReadTransaction tx(session);
  return CallUserCode(tx, fn, "read callback");
}

}  // namespace sqlsteward::internal
