// Retention: keeping the newest N snapshots of one name in a directory.
//
// Deleting is the one thing here that can lose data, and a snapshot
// directory may hold files that someone else, or a clock gone wrong, put
// there (issue 11, class 5: a planted or future-dated pair ranked by its
// name made retention delete the real snapshots). So a name is never
// trusted: a pair is counted, ranked or deleted only when it is positively
// one this user's snapshotter published:
//   - the snapshot, looked at with lstat (no link followed, nothing
//     opened), is a regular file owned by our effective uid;
//   - its manifest, opened by posix::OpenRegularForReading (no link
//     followed, a FIFO never waited on), is a regular file owned by our
//     effective uid, parses, has kind "snapshot", names this very file,
//     and its size_bytes is the snapshot's size;
//   - the timestamp in the file name is the manifest's created_unix_ms, as
//     the publisher writes it;
//   - it is not dated in the future: created_unix_ms is at most
//     kClockSkewAllowance past now.
// Pairs are ranked by the manifest's created_unix_ms (then the name's
// sequence number), never by the name alone. Every other file is neither
// counted nor deleted: retention deletes only what it made, and a planted
// pair cannot push a real snapshot out.
//
// What is not checked: the sha256. Checking it would read every kept
// snapshot in full at every snapshot (N x the database's size, GiBs, under
// the directory's flock); retention ranks what the publisher recorded, and
// `verify` is the check of content. A pair damaged in place but of the right
// size still counts as kept.
//
// The snapshot just published is spared whatever it ranks as. Callers hold
// the directory's flock (create.cc), so two publishers never count the same
// files at once.
//
// Thread safety: safe for concurrent use under that flock.
#ifndef SQLSTEWARD_SNAPSHOT_RETENTION_H_
#define SQLSTEWARD_SNAPSHOT_RETENTION_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// How far past the wall clock a manifest's created time may be and still
// count: clocks of hosts that share a directory differ by this much at
// most when they are synchronised at all.
inline constexpr std::chrono::milliseconds kClockSkewAllowance{5 * 60 * 1000};

// Deletes all but the newest `keep` snapshots named `prefix` in `dir`, and
// their manifests, counting only the pairs described above. `spare` (a file
// name) is never deleted and counts as kept. `now_unix_ms` is the wall
// clock. Returns the paths of deleted snapshots.
Result<std::vector<std::string>> ApplyRetention(posix::Env* env, const std::string& dir,
                                                std::string_view prefix, int keep,
                                                std::string_view spare,
                                                std::int64_t now_unix_ms);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_RETENTION_H_
