// The names of snapshot files and of their temporaries, and the paths built
// from them. One place for every spelling: retention, the cleaner of stale
// temporaries and the publisher must agree on them exactly.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_SNAPSHOT_NAMES_H_
#define SQLSTEWARD_SNAPSHOT_NAMES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// A temporary snapshot is `.snapshot-<16 hex>.tmp`, its manifest
// `.snapshot-<16 hex>.manifest.tmp`; the writing process holds an OFD write
// lock on byte 0 of the `.tmp` file until it is renamed or removed.
inline constexpr std::string_view kTempPrefix = ".snapshot-";
inline constexpr std::string_view kTempSuffix = ".tmp";
inline constexpr std::string_view kManifestTempSuffix = ".manifest.tmp";
inline constexpr std::string_view kManifestSuffix = ".manifest.json";
inline constexpr std::string_view kPreRestoreInfix = "-pre-restore";

// `.snapshot-<hex>.tmp` and `.snapshot-<hex>.manifest.tmp`.
std::string TempName(std::string_view hex);
std::string ManifestTempName(std::string_view hex);

// "<prefix>-<yyyymmddThhmmssZ>-<seq>.db", split.
struct SnapshotFileName {
  std::string timestamp;  // yyyymmddThhmmssZ
  std::int64_t seq = 0;
};
// The parts of `file` when it is a snapshot name with exactly this prefix.
std::optional<SnapshotFileName> ParseSnapshotFileName(std::string_view file,
                                                      std::string_view prefix);

// Next free <seq> for <prefix>-<timestamp>- (`stem`): one above any existing
// file (snapshot or manifest) of that second among `names`.
std::int64_t NextSequence(const std::vector<std::string>& names, const std::string& stem);

// kInvalidArgument unless `name` can prefix a snapshot's file name.
Status CheckName(const std::string& name);

// The snapshot name of a database: its file name without the extension
// ("/data/app.db" -> "app"), or "snapshot".
std::string DefaultName(const std::string& db_path);

// "dir/name", with one '/' between.
std::string JoinPath(const std::string& dir, std::string_view name);

// `path` made absolute and normal (for manifests); `path` itself when the
// working directory cannot be read.
std::string AbsolutePath(const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_NAMES_H_
