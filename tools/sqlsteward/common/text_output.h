// Data in human-readable output: what a terminal shows must be what the
// bytes are, and nothing a file, a database or another process wrote may
// move the cursor, clear the screen or fake a line of our own.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_TOOLS_COMMON_TEXT_OUTPUT_H_
#define SQLSTEWARD_TOOLS_COMMON_TEXT_OUTPUT_H_

#include <string>
#include <string_view>

namespace sqlsteward::cli {

enum class LineBreaks { kEscape, kKeep };

// `text` for a terminal: valid UTF-8 passes unchanged except control
// characters; \n \r \t become those two-character escapes (with kKeep, \n
// and \t stay as they are, for multi-line text such as SQL); every other C0
// control, DEL, the C1 controls (U+0080-U+009F, as their UTF-8 bytes) and
// each byte that is not part of valid UTF-8 become \xNN. A backslash stays
// a backslash: this is for reading, not a reversible encoding.
std::string Printable(std::string_view text, LineBreaks breaks = LineBreaks::kEscape);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_TEXT_OUTPUT_H_
