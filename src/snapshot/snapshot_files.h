// Pieces of the snapshotter that tests exercise on their own: file names,
// the manifest's JSON, retention and the removal of stale temporary files.
// Not part of the public API.
#ifndef SQLSTEWARD_SNAPSHOT_SNAPSHOT_FILES_H_
#define SQLSTEWARD_SNAPSHOT_SNAPSHOT_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "posix/env.h"
#include "sqlsteward/snapshot.h"
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

// "<prefix>-<yyyymmddThhmmssZ>-<seq>.db", split.
struct SnapshotFileName {
  std::string timestamp;  // yyyymmddThhmmssZ
  std::int64_t seq = 0;
};
// The parts of `file` when it is a snapshot name with exactly this prefix.
std::optional<SnapshotFileName> ParseSnapshotFileName(std::string_view file,
                                                      std::string_view prefix);


// The manifest as one line of JSON (written and parsed with SQLite's JSON
// functions: no JSON library in the library).
Result<std::string> ManifestToJson(const SnapshotManifest& manifest);
// `where` names the file in error messages.
Result<SnapshotManifest> ParseManifestJson(std::string_view json, std::string_view where);

// Deletes all but the newest `keep` snapshots named `prefix` in `dir`, and
// their manifests. A file is deleted only when it and its manifest exist,
// the manifest parses, names the file and has kind "snapshot". `spare` (a
// file name) is never deleted. Returns the paths of deleted snapshots.
Result<std::vector<std::string>> ApplyRetention(posix::Env* env, const std::string& dir,
                                                std::string_view prefix, int keep,
                                                std::string_view spare);

// Removes `.snapshot-*.tmp` files in `dir` whose writer is gone (their lock
// is free), with their manifest temporaries. Returns the paths removed.
Result<std::vector<std::string>> RemoveStaleTemporaries(posix::Env* env, const std::string& dir);

// The VFS through which the snapshotter writes its temporary file: the
// default VFS with sequential page writes gathered into 64 KiB writes
// (snapshot_vfs.cc). Registers it on first call; nullptr if it cannot be.
inline constexpr char kSnapshotWriterVfs[] = "sqlsteward-snapshot-writer";
const char* RegisterSnapshotWriterVfs();
// sqlite3_file_control op of that VFS: write out the buffer now and return
// any write error not reported yet.
inline constexpr int kFlushFileControl = 0x53570001;

// "file:<path, percent-encoded>?<params>", for sqlite3_open_v2 with
// SQLITE_OPEN_URI.
std::string SqliteUri(const std::string& path, std::string_view params);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_SNAPSHOT_FILES_H_
