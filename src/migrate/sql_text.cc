#include "migrate/sql_text.h"

#include <algorithm>
#include <cstdint>

#include "base/strings.h"

namespace sqlsteward::internal {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (static_cast<unsigned char>(c) >= 0x80);
}

}  // namespace

// Index of the first character that is not whitespace or part of a comment.
std::size_t SkipBlank(std::string_view s, std::size_t i) {
  while (i < s.size()) {
    if (IsSpace(s[i])) {
      ++i;
    } else if (s.compare(i, 2, "--") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (s.compare(i, 2, "/*") == 0) {
      std::size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      break;
    }
  }
  return i;
}

bool IsBlank(std::string_view s) {
  for (std::size_t i = SkipBlank(s, 0); i < s.size(); i = SkipBlank(s, i + 1)) {
    if (s[i] != ';') return false;
  }
  return true;
}

// The next token: a keyword or identifier (lower-cased, quotes removed), or
// a single punctuation character; empty at the end.
std::string NextToken(std::string_view s, std::size_t* pos) {
  std::size_t i = SkipBlank(s, *pos);
  if (i >= s.size()) {
    *pos = i;
    return {};
  }
  char c = s[i];
  char close = c == '"' ? '"' : c == '`' ? '`' : c == '[' ? ']' : c == '\'' ? '\'' : '\0';
  if (close != '\0') {
    std::size_t end = s.find(close, i + 1);
    if (end == std::string_view::npos) end = s.size();
    *pos = std::min(end + 1, s.size());
    return AsciiLower(s.substr(i + 1, end - i - 1));
  }
  if (!IsWordChar(c)) {
    *pos = i + 1;
    return std::string(1, c);
  }
  std::size_t end = i;
  while (end < s.size() && IsWordChar(s[end])) ++end;
  *pos = end;
  return AsciiLower(s.substr(i, end - i));
}

std::string Excerpt(std::string_view sql) {
  std::string out;
  for (std::size_t i = SkipBlank(sql, 0); i < sql.size() && out.size() < 80; ++i) {
    char c = sql[i];
    if (IsSpace(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

namespace {

std::string Trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Splits a script where SQLite's own tokenizer says a statement ends.
// Tokens and states of SQLite's rule for where a statement ends (the
// sqlite3_complete() state machine, applied incrementally).
enum Token { kSemi, kSpace, kOther, kExplain, kCreate, kTemp, kTrigger, kEnd };
// clang-format off
constexpr std::uint8_t kNextState[8][8] = {
    /* start (fresh)      */ {1, 0, 2, 3, 4, 2, 2, 2},
    /* start (after ';')  */ {1, 1, 2, 3, 4, 2, 2, 2},
    /* in a statement     */ {1, 2, 2, 2, 2, 2, 2, 2},
    /* after EXPLAIN      */ {1, 3, 3, 2, 4, 2, 2, 2},
    /* after CREATE       */ {1, 4, 2, 2, 2, 4, 5, 2},
    /* in a trigger       */ {6, 5, 5, 5, 5, 5, 5, 5},
    /* trigger, after ';' */ {6, 6, 5, 5, 5, 5, 5, 7},
    /* trigger, after END */ {1, 7, 5, 5, 5, 5, 5, 5},
};
// clang-format on
constexpr std::uint8_t kStatementEnded = 1;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

Token KeywordToken(std::string_view word) {
  const std::string lower = AsciiLower(word);
  if (lower == "create") return kCreate;
  if (lower == "trigger") return kTrigger;
  if (lower == "temp" || lower == "temporary") return kTemp;
  if (lower == "end") return kEnd;
  if (lower == "explain") return kExplain;
  return kOther;
}

// The token at sql[i], and where the next one starts; false when the text
// ends inside a quote or a block comment (no statement can end after it).
bool ReadToken(std::string_view sql, std::size_t i, Token* token, std::size_t* next) {
  const char c = sql[i];
  if (c == ';') {
    *token = kSemi;
    *next = i + 1;
  } else if (IsSpace(c)) {
    *token = kSpace;
    *next = i + 1;
  } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
    const std::size_t end = sql.find("*/", i + 2);
    if (end == std::string_view::npos) return false;
    *token = kSpace;
    *next = end + 2;
  } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
    const std::size_t end = sql.find('\n', i + 2);
    *token = kSpace;
    *next = end == std::string_view::npos ? sql.size() : end + 1;
  } else if (c == '[' || c == '"' || c == '`' || c == '\'') {
    const std::size_t end = sql.find(c == '[' ? ']' : c, i + 1);
    if (end == std::string_view::npos) return false;
    *token = kOther;
    *next = end + 1;
  } else if (IsIdChar(c)) {
    std::size_t end = i + 1;
    while (end < sql.size() && IsIdChar(sql[end])) ++end;
    *token = KeywordToken(sql.substr(i, end - i));
    *next = end;
  } else {
    *token = kOther;
    *next = i + 1;
  }
  return true;
}

}  // namespace

std::vector<std::string> SplitStatements(std::string_view sql) {
  std::vector<std::string> out;
  std::size_t start = 0;
  std::uint8_t state = 0;
  for (std::size_t i = 0; i < sql.size();) {
    Token token;
    std::size_t next;
    if (!ReadToken(sql, i, &token, &next)) break;
    state = kNextState[state][token];
    if (token == kSemi && state == kStatementEnded) {
      std::string_view statement = sql.substr(start, next - start);
      if (!IsBlank(statement)) out.push_back(Trim(statement));
      start = next;
      state = 0;
    }
    i = next;
  }
  std::string_view tail = sql.substr(start);
  if (!IsBlank(tail)) out.push_back(Trim(tail));
  return out;
}

}  // namespace sqlsteward::internal
