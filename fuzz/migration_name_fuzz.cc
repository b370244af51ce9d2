// Migration file names (ParseMigrationFileName, src/migrate/prepare.h): the
// entries of a migrations directory, named by whoever put them there.
//
// The input is one file name. Properties:
//   - a name that parses has a version in 1..2147483647 and a valid name,
//     and is <digits>_<name>.sql with those digits meaning the version;
//   - the canonical spelling (LabelOf + ".sql") parses to the same pair;
//   - a name that does not parse is kInvalidArgument naming its path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "migrate/prepare.h"

using namespace sqlsteward;
using namespace sqlsteward::internal;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  const std::string path = "/migrations/" + std::string(file);
  Result<MigrationFileName> parsed = ParseMigrationFileName(file, path);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.error().code() == StatusCode::kInvalidArgument);
    FUZZ_CHECK(parsed.error().message().find(path) != std::string_view::npos);
    return 0;
  }
  FUZZ_CHECK(parsed->version >= 1 && parsed->version <= kMaxMigrationVersion);
  FUZZ_CHECK(ValidMigrationName(parsed->name));
  const std::string suffix = "_" + parsed->name + ".sql";
  FUZZ_CHECK(file.ends_with(suffix));
  const std::string_view digits = file.substr(0, file.size() - suffix.size());
  FUZZ_CHECK(digits.size() >= 4);
  std::int64_t version = 0;
  for (char c : digits) {
    FUZZ_CHECK(c >= '0' && c <= '9');
    version = version * 10 + (c - '0');
    FUZZ_CHECK(version <= kMaxMigrationVersion);
  }
  FUZZ_CHECK(version == parsed->version);

  const std::string canonical = LabelOf(parsed->version, parsed->name) + ".sql";
  Result<MigrationFileName> again = ParseMigrationFileName(canonical, canonical);
  FUZZ_CHECK(again.ok() && again->version == parsed->version && again->name == parsed->name);
  return 0;
}
