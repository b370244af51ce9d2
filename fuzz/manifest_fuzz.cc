// The snapshot manifest parser (src/snapshot/manifest.h): the JSON beside
// every snapshot, which verify, restore and retention read from a
// directory anyone may have written to.
//
// The input is the manifest's text. Properties:
//   - a parse fails only with kCorruption (malformed) or
//     kFailedPrecondition (another format version);
//   - a parsed manifest has a 64-digit lower-case sha256 and no negative
//     size;
//   - written again by ManifestToJson, it parses to the same value, and
//     writing that gives the same text (one spelling per manifest).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "snapshot/manifest.h"

using namespace sqlsteward;
using namespace sqlsteward::internal;

namespace {

bool Same(const SnapshotManifest& a, const SnapshotManifest& b) {
  return a.format_version == b.format_version && a.kind == b.kind && a.file == b.file &&
         a.sha256 == b.sha256 && a.size_bytes == b.size_bytes && a.page_size == b.page_size &&
         a.page_count == b.page_count && a.schema_version == b.schema_version &&
         a.source == b.source && a.source_journal_mode == b.source_journal_mode &&
         a.created_at == b.created_at && a.created_unix_ms == b.created_unix_ms &&
         a.sqlite_version == b.sqlite_version && a.integrity_check == b.integrity_check;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxManifestBytes) return 0;  // ReadManifest refuses these unread.
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  Result<SnapshotManifest> parsed = ParseManifestJson(json, "fuzz.manifest.json");
  if (!parsed.ok()) {
    const StatusCode code = parsed.error().code();
    FUZZ_CHECK(code == StatusCode::kCorruption || code == StatusCode::kFailedPrecondition);
    return 0;
  }
  const SnapshotManifest& m = *parsed;
  FUZZ_CHECK(m.format_version == kManifestFormatVersion);
  FUZZ_CHECK(m.sha256.size() == 64);
  FUZZ_CHECK(m.size_bytes >= 0 && m.page_size >= 0 && m.page_count >= 0);

  Result<std::string> written = ManifestToJson(m);
  FUZZ_CHECK(written.ok());
  Result<SnapshotManifest> reparsed = ParseManifestJson(*written, "rewritten");
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(Same(m, *reparsed));
  Result<std::string> rewritten = ManifestToJson(*reparsed);
  FUZZ_CHECK(rewritten.ok() && *rewritten == *written);
  return 0;
}
