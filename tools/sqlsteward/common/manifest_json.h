// A snapshot manifest as the --json outputs of snapshot, verify and restore
// show it.
#ifndef SQLSTEWARD_TOOLS_COMMON_MANIFEST_JSON_H_
#define SQLSTEWARD_TOOLS_COMMON_MANIFEST_JSON_H_

#include <nlohmann/json.hpp>

#include "sqlsteward/snapshot.h"

namespace sqlsteward::cli {

nlohmann::json ManifestJson(const SnapshotManifest& manifest);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_MANIFEST_JSON_H_
