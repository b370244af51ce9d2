// Small text helpers the layers share.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_BASE_STRINGS_H_
#define SQLSTEWARD_BASE_STRINGS_H_

#include <string>
#include <string_view>

namespace sqlsteward {

// ASCII letters lower-cased; every other byte as it is (SQL keywords and
// pragma names are ASCII, identifiers may be UTF-8).
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace sqlsteward

#endif  // SQLSTEWARD_BASE_STRINGS_H_
