// The manifest beside every snapshot: one line of JSON that says what the
// snapshot file must be (size, sha256, page size and count) and where it
// came from. Verify trusts a snapshot only as far as its manifest matches
// it; retention deletes only files whose manifest names them.
//
// The JSON is written and parsed with SQLite's JSON functions on an
// in-memory connection: no JSON library in the library. The format is
// docs/snapshots.md's; kManifestFormatVersion changes only with it.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_SNAPSHOT_MANIFEST_H_
#define SQLSTEWARD_SNAPSHOT_MANIFEST_H_

#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "posix/env.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

inline constexpr std::string_view kManifestFormat = "sqlsteward-snapshot";
inline constexpr int kManifestFormatVersion = 1;
// A manifest is a few hundred bytes; anything much larger is not one, and
// is not read into memory.
inline constexpr std::size_t kMaxManifestBytes = 64 << 10;

// The manifest as one line of JSON.
Result<std::string> ManifestToJson(const SnapshotManifest& manifest);
// `where` names the file in error messages.
Result<SnapshotManifest> ParseManifestJson(std::string_view json, std::string_view where);

// ReadManifest (sqlsteward/snapshot.h) through `env`. The manifest is
// opened by posix::OpenRegularForReading: a link, a FIFO, a directory or
// anything but a regular file is kFailedPrecondition, never followed or
// waited on. `st`, when given, receives the manifest's fstat (retention
// checks its owner).
Result<SnapshotManifest> ReadManifest(posix::Env* env, const std::string& manifest_path,
                                      struct stat* st = nullptr);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_MANIFEST_H_
