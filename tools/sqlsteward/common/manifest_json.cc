#include "common/manifest_json.h"

namespace sqlsteward::cli {

nlohmann::json ManifestJson(const SnapshotManifest& m) {
  return {{"format_version", m.format_version},
          {"kind", m.kind},
          {"file", m.file},
          {"sha256", m.sha256},
          {"size_bytes", m.size_bytes},
          {"page_size", m.page_size},
          {"page_count", m.page_count},
          {"schema_version", m.schema_version},
          {"source", m.source},
          {"source_journal_mode", m.source_journal_mode},
          {"created_at", m.created_at},
          {"created_unix_ms", m.created_unix_ms},
          {"sqlite_version", m.sqlite_version},
          {"integrity_check", m.integrity_check}};
}

}  // namespace sqlsteward::cli
