#include "cluster/client_session.h"

#include <cctype>
#include <string>

#include "base/status_builders.h"
#include "core/statement_policy.h"

namespace sqlsteward::cluster {
namespace {

// The first two words of `sql`, upper case, past whitespace and comments.
std::pair<std::string, std::string> LeadingWords(std::string_view sql) {
  std::string words[2];
  std::size_t i = 0;
  for (std::string& word : words) {
    while (i < sql.size()) {
      if (std::isspace(static_cast<unsigned char>(sql[i]))) {
        ++i;
      } else if (sql.compare(i, 2, "--") == 0) {
        i = sql.find('\n', i);
        if (i == std::string_view::npos) i = sql.size();
      } else if (sql.compare(i, 2, "/*") == 0) {
        i = sql.find("*/", i + 2);
        i = i == std::string_view::npos ? sql.size() : i + 2;
      } else {
        break;
      }
    }
    while (i < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_')) {
      word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i]))));
      ++i;
    }
  }
  return {words[0], words[1]};
}

}  // namespace

Status ClientSession::Check(std::string_view sql) const {
  if (kind_ == Kind::kRead) {
    if (internal::ReturnsRows(sql)) return Status();
    return InvalidArgument(
        "a Read() callback ran a statement that writes (\"" + std::string(sql.substr(0, 60)) +
            "\")",
        "Read() callbacks only query; write inside Write()");
  }
  auto [first, second] = LeadingWords(sql);
  if (first == "BEGIN" || first == "COMMIT" || first == "END" ||
      (first == "ROLLBACK" && second != "TO")) {
    internal::Refusal refusal = internal::TransactionControlRefusal();
    return InvalidArgument("\"" + std::string(sql.substr(0, 60)) + "\": " + refusal.why,
                           refusal.hint);
  }
  return Status();
}

Result<internal::RemoteRows> ClientSession::Query(std::string_view sql,
                                                  std::span<const internal::RemoteValue> params) {
  SQLSTEWARD_RETURN_IF_ERROR(Check(sql));
  SQLSTEWARD_ASSIGN_OR_RETURN(Rows rows, client_->QuerySql(sql, params));
  return internal::RemoteRows{std::move(rows.columns), std::move(rows.rows)};
}

Status ClientSession::Exec(std::string_view sql, std::span<const internal::RemoteValue> params) {
  SQLSTEWARD_RETURN_IF_ERROR(Check(sql));
  SQLSTEWARD_ASSIGN_OR_RETURN(ExecResult result, client_->ExecSql(sql, params));
  last_insert_id_ = result.last_insert_id;
  changes_ = result.rows_affected;
  return Status();
}

Status ClientSession::ExecScript(std::string_view sql) {
  SQLSTEWARD_RETURN_IF_ERROR(Check(sql));
  SQLSTEWARD_ASSIGN_OR_RETURN(ExecResult result, client_->ExecSql(sql));
  last_insert_id_ = result.last_insert_id;
  changes_ = result.rows_affected;
  return Status();
}

}  // namespace sqlsteward::cluster
