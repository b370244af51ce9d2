// Splitting migration SQL into statements (SplitStatements,
// src/migrate/sql_text.h) and the checks made on each statement before
// anything runs (PrepareAll, src/migrate/prepare.h): a migration file's
// text, as whoever wrote it.
//
// The input is a migration's SQL. Properties:
//   - no statement is empty or begins or ends with whitespace;
//   - the statements are the input's own text, in order, and what lies
//     between them is blank (whitespace, comments, ';'): nothing is lost;
//   - every statement but the last ends with ';' and is complete by
//     SQLite's own rule (sqlite3_complete), the rule the splitter mirrors,
//     and no shorter prefix of it ending in ';' is;
//   - splitting the statements joined by newlines gives them back;
//   - PrepareAll either refuses with kInvalidArgument or gives statements
//     none of which is empty.
#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "migrate/prepare.h"
#include "migrate/sql_text.h"

using namespace sqlsteward;
using namespace sqlsteward::internal;

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The first character at or after `i` that IsBlank does not pass over.
std::size_t FirstSolid(std::string_view sql, std::size_t i) {
  i = SkipBlank(sql, i);
  while (i < sql.size() && sql[i] == ';') i = SkipBlank(sql, i + 1);
  return i;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> statements = SplitStatements(sql);

  // Where the statements can lie in the input: a statement's text may also
  // occur inside an earlier comment ("--x\n;x"), so every end reachable
  // through blank gaps is followed. Past a bound on the candidates the
  // check is left out for this input, never failed.
  std::vector<std::size_t> ends = {0};
  bool traced = true;
  for (std::size_t i = 0; i < statements.size(); ++i) {
    const std::string& s = statements[i];
    FUZZ_CHECK(!s.empty());
    FUZZ_CHECK(!IsSpace(s.front()) && !IsSpace(s.back()));
    FUZZ_CHECK(!IsBlank(s));
    if (i + 1 < statements.size()) {
      FUZZ_CHECK(s.back() == ';');
      // sqlite3_complete reads a C string: a NUL would end it early.
      if (s.find('\0') == std::string::npos) {
        FUZZ_CHECK(sqlite3_complete(s.c_str()) == 1);
        // Nor did SQLite's rule end it at an earlier ';'.
        for (std::size_t semi = s.find(';'); semi < s.size() - 1 && semi < 4096;
             semi = s.find(';', semi + 1)) {
          FUZZ_CHECK(sqlite3_complete(s.substr(0, semi + 1).c_str()) == 0);
        }
      }
    }
    if (!traced) continue;
    std::vector<std::size_t> next;
    for (std::size_t cursor : ends) {
      // A statement starts at or before the first character that is not
      // blank; one character more, since a cut can split "--" or "/*".
      const std::size_t limit = FirstSolid(sql, cursor) + 1;
      int candidates = 0;
      for (std::size_t at = sql.find(s, cursor); at != std::string_view::npos && at <= limit;
           at = sql.find(s, at + 1)) {
        traced = traced && ++candidates <= 64;
        if (IsBlank(sql.substr(cursor, at - cursor)) &&
            std::find(next.begin(), next.end(), at + s.size()) == next.end()) {
          next.push_back(at + s.size());
        }
      }
    }
    FUZZ_CHECK(!next.empty());
    traced = traced && next.size() <= 64;
    ends = std::move(next);
  }
  if (traced) {
    bool covered = false;
    for (std::size_t end : ends) covered = covered || IsBlank(sql.substr(end));
    FUZZ_CHECK(covered);
  }

  std::string joined;
  for (const std::string& s : statements) joined += s + "\n";
  FUZZ_CHECK(SplitStatements(joined) == statements);

  // Excerpt and NextToken, as the messages and the rewrite use them.
  for (const std::string& s : statements) {
    FUZZ_CHECK(Excerpt(s).size() <= 81);
    std::size_t pos = 0;
    while (SkipBlank(s, pos) < s.size()) {
      const std::size_t before = pos;
      NextToken(s, &pos);
      FUZZ_CHECK(pos > before && pos <= s.size());
    }
  }

  const std::vector<Migration> migrations = {Migration{1, "fuzz", std::string(sql), nullptr}};
  Result<std::vector<Prepared>> prepared = PrepareAll(migrations);
  if (!prepared.ok()) {
    FUZZ_CHECK(prepared.error().code() == StatusCode::kInvalidArgument);
  } else {
    FUZZ_CHECK(prepared->size() == 1);
    for (const std::string& s : (*prepared)[0].statements) FUZZ_CHECK(!s.empty());
  }
  return 0;
}
