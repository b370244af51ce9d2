// Reading migration SQL as text: statement boundaries and leading keywords,
// before anything runs.
//
// Statement boundaries follow SQLite's own rule (sqlite3_complete): a ';'
// ends a statement unless it is inside a string, a quoted identifier, a
// comment or a CREATE TRIGGER body (which ends at "END;"). SplitStatements
// applies that rule in one pass over the text, so a long script costs time
// in proportion to its length.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_MIGRATE_SQL_TEXT_H_
#define SQLSTEWARD_MIGRATE_SQL_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sqlsteward::internal {

// Index of the first character of `s` at or after `i` that is not
// whitespace or part of a comment.
std::size_t SkipBlank(std::string_view s, std::size_t i);

// Whitespace, comments and ';' only.
bool IsBlank(std::string_view s);

// The next token from *pos: a keyword or identifier (lower-cased, quotes
// removed), or a single punctuation character; empty at the end.
std::string NextToken(std::string_view s, std::size_t* pos);

// The statement's first 80 characters, whitespace folded, for messages.
std::string Excerpt(std::string_view sql);

// The statements of a script, each trimmed, blank ones dropped.
std::vector<std::string> SplitStatements(std::string_view sql);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_MIGRATE_SQL_TEXT_H_
