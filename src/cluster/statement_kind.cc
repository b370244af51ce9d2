#include "cluster/statement_kind.h"

#include <cctype>
#include <string>

#include "base/status_builders.h"

namespace sqlsteward::cluster {
namespace {

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Skips whitespace and comments from `i`.
std::size_t SkipSpace(std::string_view sql, std::size_t i) {
  while (i < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[i])) != 0) {
      ++i;
    } else if (sql.compare(i, 2, "--") == 0) {
      const std::size_t nl = sql.find('\n', i);
      i = nl == std::string_view::npos ? sql.size() : nl + 1;
    } else if (sql.compare(i, 2, "/*") == 0) {
      const std::size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
    } else {
      break;
    }
  }
  return i;
}

std::string WordAt(std::string_view sql, std::size_t i) {
  std::size_t j = i;
  while (j < sql.size() && IsWordChar(sql[j])) ++j;
  return Upper(sql.substr(i, j - i));
}

// The end of the statement starting at `i`: its ';' or the end of `sql`.
std::size_t StatementEnd(std::string_view sql, std::size_t i) {
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : c;
      const std::size_t end = sql.find(close, i + 1);
      i = end == std::string_view::npos ? sql.size() : end + 1;
    } else if (sql.compare(i, 2, "--") == 0 || sql.compare(i, 2, "/*") == 0) {
      i = SkipSpace(sql, i);
    } else if (c == ';') {
      return i;
    } else {
      ++i;
    }
  }
  return i;
}

StatementKind Kind(std::string_view sql, std::size_t i) {
  const std::string word = WordAt(sql, i);
  if (word == "SELECT" || word == "VALUES" || word == "EXPLAIN") return StatementKind::kRead;
  if (word == "BEGIN") return StatementKind::kBegin;
  if (word == "COMMIT" || word == "END") return StatementKind::kCommit;
  if (word == "ROLLBACK") {
    const std::size_t next = SkipSpace(sql, i + word.size());
    const std::string second = WordAt(sql, next);
    if (second == "TO") return StatementKind::kWrite;
    if (second == "TRANSACTION") {
      if (WordAt(sql, SkipSpace(sql, next + second.size())) == "TO") return StatementKind::kWrite;
    }
    return StatementKind::kRollback;
  }
  if (word == "VACUUM") return StatementKind::kVacuum;
  if (word == "ATTACH" || word == "DETACH") return StatementKind::kAttach;
  return StatementKind::kWrite;
}

}  // namespace

std::vector<StatementKind> ClassifySql(std::string_view sql) {
  std::vector<StatementKind> kinds;
  std::size_t i = 0;
  while (i < sql.size()) {
    i = SkipSpace(sql, i);
    if (i >= sql.size()) break;
    if (sql[i] == ';') {
      ++i;
      continue;
    }
    kinds.push_back(Kind(sql, i));
    i = StatementEnd(sql, i);
    if (i < sql.size()) ++i;  // the ';'
  }
  return kinds;
}

Status CheckAllowed(std::string_view sql) {
  for (StatementKind k : ClassifySql(sql)) {
    if (k == StatementKind::kVacuum) {
      return FailedPrecondition(
          "VACUUM is refused on dqlite",
          "dqlite 1.11.1 crashes the leader on VACUUM of a database with deleted rows; "
          "the space is reused by later inserts without it");
    }
    if (k == StatementKind::kAttach) {
      return FailedPrecondition(
          "ATTACH and DETACH are refused on dqlite",
          "an attached database is not replicated: its writes would exist on one node "
          "only; keep the tables in the one replicated database");
    }
  }
  return Status();
}

bool MayCommit(std::string_view sql, bool in_transaction) {
  bool in_tx = in_transaction;
  for (StatementKind k : ClassifySql(sql)) {
    switch (k) {
      case StatementKind::kBegin:
        in_tx = true;
        break;
      case StatementKind::kCommit:
        return true;
      case StatementKind::kRollback:
        in_tx = false;
        break;
      case StatementKind::kRead:
        break;
      case StatementKind::kWrite:
      case StatementKind::kVacuum:
      case StatementKind::kAttach:
        if (!in_tx) return true;
        break;
    }
  }
  return false;
}

}  // namespace sqlsteward::cluster
