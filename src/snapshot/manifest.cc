#include "snapshot/manifest.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "base/status_builders.h"
#include "core/connection.h"
#include "posix/read_only.h"
#include "snapshot/file_io.h"
#include "snapshot/names.h"
#include "snapshot/sqlite_util.h"

namespace sqlsteward {

namespace internal {
namespace {

Status Malformed(std::string_view where, const std::string& why) {
  return Corruption("manifest malformed: " + std::string(where) + ": " + why,
                    "the manifest is damaged or not a sqlsteward manifest; without it the "
                    "snapshot cannot be verified: use another snapshot");
}

// One top-level field of the manifest's JSON.
struct Field {
  std::string type;
  std::string text;
  std::int64_t integer = 0;
};

// Reads the fields of one JSON text, one at a time, each checked for its
// type; the first problem is the error.
class FieldReader {
 public:
  FieldReader(std::string_view json, std::string_view where) : json_(json), where_(where) {}

  Status Prepare() {
    SQLSTEWARD_ASSIGN_OR_RETURN(db_,
                                OpenSqlite(":memory:", SQLITE_OPEN_READWRITE, "memory database"));
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(
        db_.get(), "SELECT json_valid(?1), json_type(?1), json_type(?1, ?2), json_extract(?1, ?2)",
        -1, &raw, nullptr);
    stmt_.reset(raw);
    if (rc != SQLITE_OK) return SqliteStatus(rc, db_.get(), "manifest json");
    sqlite3_bind_text(raw, 1, json_.data(), static_cast<int>(json_.size()), SQLITE_STATIC);
    return Status();
  }

  // Field `name`, which must have JSON type `want` ("text", "integer").
  Status Read(const char* name, const char* want, Field* out) {
    sqlite3_stmt* raw = stmt_.get();
    std::string path = std::string("$.") + name;
    sqlite3_reset(raw);
    sqlite3_bind_text(raw, 2, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
    int step = sqlite3_step(raw);
    if (step != SQLITE_ROW) return Malformed(where_, "not JSON");
    if (sqlite3_column_int(raw, 0) != 1) return Malformed(where_, "not JSON");
    const unsigned char* top = sqlite3_column_text(raw, 1);
    if (top == nullptr || std::strcmp(reinterpret_cast<const char*>(top), "object") != 0) {
      return Malformed(where_, "not a JSON object");
    }
    const unsigned char* type = sqlite3_column_text(raw, 2);
    if (type == nullptr) {
      return Malformed(where_, std::string("field \"") + name + "\" is missing");
    }
    out->type = reinterpret_cast<const char*>(type);
    if (out->type != want) {
      return Malformed(where_,
                       std::string("field \"") + name + "\" is " + out->type + ", not " + want);
    }
    if (out->type == "integer") {
      out->integer = sqlite3_column_int64(raw, 3);
    } else {
      const unsigned char* t = sqlite3_column_text(raw, 3);
      out->text = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    }
    return Status();
  }

 private:
  std::string_view json_;  // Bound SQLITE_STATIC: must outlive stmt_.
  std::string_view where_;
  SqliteHandle db_;
  StmtHandle stmt_;  // Declared after db_: finalized before it closes.
};

// The format and its version, read before anything else: a manifest of a
// newer version is not malformed, only too new.
Status CheckFormat(FieldReader& fields, std::string_view where) {
  Field f;
  SQLSTEWARD_RETURN_IF_ERROR(fields.Read("format", "text", &f));
  if (f.text != kManifestFormat) return Malformed(where, "format is \"" + f.text + "\"");
  SQLSTEWARD_RETURN_IF_ERROR(fields.Read("format_version", "integer", &f));
  if (f.integer != kManifestFormatVersion) {
    return FailedPrecondition(std::string(where) + " has manifest format version " +
                                  std::to_string(f.integer) + "; this sqlsteward reads version " +
                                  std::to_string(kManifestFormatVersion),
                              "use the sqlsteward version that wrote the snapshot, or a newer one");
  }
  return Status();
}

}  // namespace

Result<std::string> ManifestToJson(const SnapshotManifest& m) {
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle db,
                              OpenSqlite(":memory:", SQLITE_OPEN_READWRITE, "memory database"));
  static constexpr const char* kSql =
      "SELECT json_object('format', ?1, 'format_version', ?2, 'kind', ?3, 'file', ?4, "
      "'sha256', ?5, 'size_bytes', ?6, 'page_size', ?7, 'page_count', ?8, "
      "'schema_version', ?9, 'source', ?10, 'source_journal_mode', ?11, 'created_at', ?12, "
      "'created_unix_ms', ?13, 'sqlite_version', ?14, 'integrity_check', ?15)";
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), kSql, -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db.get(), "manifest json");
  auto text = [&](int i, const std::string& s) {
    sqlite3_bind_text(raw, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  };
  text(1, std::string(kManifestFormat));
  sqlite3_bind_int(raw, 2, m.format_version);
  text(3, m.kind);
  text(4, m.file);
  text(5, m.sha256);
  sqlite3_bind_int64(raw, 6, m.size_bytes);
  sqlite3_bind_int64(raw, 7, m.page_size);
  sqlite3_bind_int64(raw, 8, m.page_count);
  sqlite3_bind_int64(raw, 9, m.schema_version);
  text(10, m.source);
  text(11, m.source_journal_mode);
  text(12, m.created_at);
  sqlite3_bind_int64(raw, 13, m.created_unix_ms);
  text(14, m.sqlite_version);
  text(15, m.integrity_check);
  rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, db.get(), "manifest json");
  const unsigned char* out = sqlite3_column_text(raw, 0);
  return std::string(reinterpret_cast<const char*>(out));
}

Result<SnapshotManifest> ParseManifestJson(std::string_view json, std::string_view where) {
  FieldReader fields(json, where);
  SQLSTEWARD_RETURN_IF_ERROR(fields.Prepare());
  SQLSTEWARD_RETURN_IF_ERROR(CheckFormat(fields, where));
  SnapshotManifest m;
  m.format_version = kManifestFormatVersion;
  Field f;
  const std::pair<const char*, std::string*> texts[] = {
      {"kind", &m.kind},
      {"file", &m.file},
      {"sha256", &m.sha256},
      {"source", &m.source},
      {"source_journal_mode", &m.source_journal_mode},
      {"created_at", &m.created_at},
      {"sqlite_version", &m.sqlite_version},
      {"integrity_check", &m.integrity_check}};
  for (const auto& [name, out] : texts) {
    SQLSTEWARD_RETURN_IF_ERROR(fields.Read(name, "text", &f));
    *out = f.text;
  }
  const std::pair<const char*, std::int64_t*> integers[] = {
      {"size_bytes", &m.size_bytes},
      {"page_size", &m.page_size},
      {"page_count", &m.page_count},
      {"schema_version", &m.schema_version},
      {"created_unix_ms", &m.created_unix_ms}};
  for (const auto& [name, out] : integers) {
    SQLSTEWARD_RETURN_IF_ERROR(fields.Read(name, "integer", &f));
    *out = f.integer;
  }
  if (m.sha256.size() != 64 || !std::all_of(m.sha256.begin(), m.sha256.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return Malformed(where, "sha256 is not 64 lower-case hexadecimal digits");
  }
  if (m.size_bytes < 0 || m.page_count < 0 || m.page_size < 0) {
    return Malformed(where, "negative size");
  }
  return m;
}

Result<SnapshotManifest> ReadManifest(posix::Env* env, const std::string& manifest_path,
                                      struct stat* st_out) {
  // Through the one opener of files we only read: a link, a FIFO or a
  // directory planted as a manifest is refused without blocking.
  struct stat st;
  auto opened = posix::OpenRegularForReading(env, manifest_path, "manifest", &st);
  if (!opened.has_value()) {
    if (opened.error().code() == StatusCode::kNotFound) {
      return NotFound("manifest " + manifest_path + " does not exist",
                      "a snapshot cannot be verified without its manifest; copy the "
                      ".manifest.json file along with the .db file",
                      0, ENOENT);
    }
    return std::move(opened).error();
  }
  posix::UniqueFd fd = std::move(opened).value();
  if (st.st_size > static_cast<off_t>(kMaxManifestBytes)) {
    return Corruption("manifest malformed: " + manifest_path + ": larger than " +
                          std::to_string(kMaxManifestBytes) + " bytes",
                      "the manifest is damaged or not a sqlsteward manifest; use another snapshot");
  }
  // One byte beyond the bound tells a file that grew since the fstat.
  std::string text(kMaxManifestBytes + 1, '\0');
  std::size_t got = 0;
  SQLSTEWARD_RETURN_IF_ERROR(
      ReadAt(env, fd.get(), text.data(), text.size(), 0, manifest_path, &got));
  if (got > kMaxManifestBytes) {
    return Corruption("manifest malformed: " + manifest_path + ": larger than " +
                          std::to_string(kMaxManifestBytes) + " bytes",
                      "the manifest is damaged or not a sqlsteward manifest; use another snapshot");
  }
  text.resize(got);
  if (st_out != nullptr) *st_out = st;
  return ParseManifestJson(text, manifest_path);
}

}  // namespace internal

std::string ManifestPathFor(const std::string& snapshot_path) {
  std::string_view base(snapshot_path);
  if (base.ends_with(".db")) base.remove_suffix(3);
  return std::string(base) + std::string(internal::kManifestSuffix);
}

Result<SnapshotManifest> ReadManifest(const std::string& manifest_path) {
  return internal::ReadManifest(posix::Env::Default(), manifest_path);
}

}  // namespace sqlsteward
