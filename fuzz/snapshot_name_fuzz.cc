// Snapshot file names (ParseSnapshotFileName and NextSequence,
// src/snapshot/names.h): retention reads the names of a directory anyone
// with access may have put files in, against the snapshot name the user
// chose.
//
// The input is "<prefix>\n<file name>". Properties:
//   - a name that parses is <prefix>-<yyyymmddThhmmssZ>-<seq>.db with the
//     parts returned, and the canonical spelling of those parts parses to
//     the same;
//   - NextSequence for the file's own stem is above its sequence.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "snapshot/names.h"

using namespace sqlsteward::internal;

namespace {

bool Digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  // Views into the input itself: a read past a name's end is a read past
  // libFuzzer's buffer, which the address sanitizer reports.
  const std::string_view prefix = input.substr(0, newline);
  const std::string_view file = input.substr(newline + 1);

  const auto parsed = ParseSnapshotFileName(file, prefix);
  if (parsed.has_value()) {
    FUZZ_CHECK(parsed->timestamp.size() == 16);
    FUZZ_CHECK(Digits(parsed->timestamp.substr(0, 8)) && parsed->timestamp[8] == 'T');
    FUZZ_CHECK(Digits(parsed->timestamp.substr(9, 6)) && parsed->timestamp[15] == 'Z');
    FUZZ_CHECK(parsed->seq >= 0);
    const std::string stem = std::string(prefix) + "-" + parsed->timestamp + "-";
    FUZZ_CHECK(file.starts_with(stem) && file.ends_with(".db"));
    const std::string_view seq = file.substr(stem.size(), file.size() - stem.size() - 3);
    FUZZ_CHECK(Digits(seq) && std::stoll(std::string(seq)) == parsed->seq);

    const std::string canonical = stem + std::to_string(parsed->seq) + ".db";
    const auto again = ParseSnapshotFileName(canonical, prefix);
    FUZZ_CHECK(again.has_value() && again->timestamp == parsed->timestamp &&
               again->seq == parsed->seq);
    FUZZ_CHECK(NextSequence({std::string(file)}, stem) == parsed->seq + 1);
  }
  FUZZ_CHECK(NextSequence({std::string(file)}, std::string(prefix)) >= 1);
  return 0;
}
