// The "schema" section: the schema version as `sqlsteward migrate` sees it,
// the ledger's newest version (schema_migrations), mirrored in PRAGMA
// user_version.
#include <string>

#include <fmt/core.h>

#include "doctor/checks.h"
#include "doctor/raw_sqlite.h"

namespace sqlsteward::cli::doctor {

using nlohmann::json;

void ReadSchemaFacts(sqlite3* db, Report& r) {
  std::optional<SqlError> err;
  json& s = r.schema;
  s = {{"available", false}, {"version", nullptr}};
  const std::optional<std::int64_t> user_version = QueryInt(db, "PRAGMA user_version", &err);
  const std::optional<std::int64_t> ledgers = QueryInt(
      db,
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
      &err);
  if (!user_version || !ledgers) {
    s["error"] = err ? err->message : std::string("no result");
    return;
  }
  s["available"] = true;
  s["user_version"] = *user_version;
  s["ledger"] = *ledgers > 0;
  if (*ledgers == 0) {
    s["version"] = 0;
    return;
  }
  const std::optional<std::int64_t> version =
      QueryInt(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &err);
  const std::optional<std::int64_t> applied =
      QueryInt(db, "SELECT count(*) FROM schema_migrations", &err);
  const std::optional<std::int64_t> checksums = QueryInt(
      db, "SELECT count(*) FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
      &err);
  if (!version || !applied || !checksums) {
    s["available"] = false;
    s["error"] = err ? err->message : std::string("no result");
    return;
  }
  s["version"] = *version;
  s["migrations"] = *applied;
  s["checksums"] = *checksums > 0;
}

void CheckSchema(Report& r) {
  const json& s = r.schema;
  if (s.is_null() || !s.value("available", false)) {
    r.Add("schema.version", s.contains("error") ? Severity::kWarning : Severity::kOk,
          s.contains("error")
              ? "cannot read the schema version: " + s["error"].get<std::string>()
              : std::string("schema version: unknown (the database could not be read)"),
          s.contains("error") ? "run doctor again; see the database findings above" : "");
    return;
  }
  const std::int64_t user_version = s["user_version"].get<std::int64_t>();
  if (!s["ledger"].get<bool>()) {
    r.Add("schema.version", Severity::kOk,
          fmt::format("no schema_migrations table: the schema is not managed by `sqlsteward "
                      "migrate` (user_version {})",
                      user_version));
    return;
  }
  const std::int64_t version = s["version"].get<std::int64_t>();
  const std::int64_t applied = s["migrations"].get<std::int64_t>();
  if (!s["checksums"].get<bool>()) {
    r.Add("schema.version", Severity::kOk,
          fmt::format("schema version {} ({} migration(s) in a ledger without checksums; "
                      "`sqlsteward migrate` adopts it at its next run)",
                      version, applied));
    return;
  }
  if (user_version != version) {
    r.Add("schema.version", Severity::kWarning,
          fmt::format("schema version {} ({} migration(s) applied), but PRAGMA user_version "
                      "is {}: something other than `sqlsteward migrate` changed one of them",
                      version, applied, user_version),
          "the ledger (schema_migrations) is what `sqlsteward migrate` trusts; find what set "
          "user_version or edited the ledger, and check `sqlsteward migrate DB --dir DIR "
          "--dry-run`");
    return;
  }
  r.Add("schema.version", Severity::kOk,
        fmt::format("schema version {} ({} migration(s) applied; user_version {})", version,
                    applied, user_version));
}

}  // namespace sqlsteward::cli::doctor
