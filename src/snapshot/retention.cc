#include "snapshot/retention.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/time.h"
#include "posix/fs.h"
#include "snapshot/file_io.h"
#include "snapshot/manifest.h"
#include "snapshot/names.h"
#include "sqlsteward/snapshot.h"

namespace sqlsteward::internal {
namespace {

// A pair that passed every check of retention.h.
struct OwnPair {
  std::string file;
  std::int64_t created_unix_ms = 0;
  std::int64_t seq = 0;
};

// Whether `file` (named `parsed`) and its manifest are a pair this user
// published, not dated past `latest_unix_ms`; fills *out when so. Any
// failure to read or check means "not ours": it is skipped, never an
// error, so a stranger's file cannot stop the snapshot being taken.
bool IsOwnPair(posix::Env* env, const std::string& dir, const std::string& file,
               const SnapshotFileName& parsed, std::int64_t latest_unix_ms, OwnPair* out) {
  const uid_t me = ::geteuid();
  const std::string path = JoinPath(dir, file);
  struct stat snap;
  if (env->Lstat(path.c_str(), &snap) != 0 || !S_ISREG(snap.st_mode) || snap.st_uid != me) {
    return false;
  }
  struct stat mst;
  auto m = ReadManifest(env, ManifestPathFor(path), &mst);
  if (!m.has_value() || mst.st_uid != me || m->kind != "snapshot" || m->file != file ||
      m->size_bytes != snap.st_size || CompactUtc(m->created_unix_ms) != parsed.timestamp ||
      m->created_unix_ms > latest_unix_ms) {
    return false;
  }
  *out = OwnPair{file, m->created_unix_ms, parsed.seq};
  return true;
}

}  // namespace

Result<std::vector<std::string>> ApplyRetention(posix::Env* env, const std::string& dir,
                                                std::string_view prefix, int keep,
                                                std::string_view spare,
                                                std::int64_t now_unix_ms) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(env, dir));
  const std::int64_t latest = now_unix_ms + kClockSkewAllowance.count();
  std::vector<OwnPair> pairs;
  int kept = 0;
  for (const std::string& name : names) {
    if (name == spare) {
      ++kept;
      continue;
    }
    auto parsed = ParseSnapshotFileName(name, prefix);
    if (!parsed.has_value()) continue;
    OwnPair pair;
    if (IsOwnPair(env, dir, name, *parsed, latest, &pair)) pairs.push_back(std::move(pair));
  }
  std::sort(pairs.begin(), pairs.end(), [](const OwnPair& a, const OwnPair& b) {
    if (a.created_unix_ms != b.created_unix_ms) return a.created_unix_ms > b.created_unix_ms;
    return a.seq > b.seq;
  });
  for (const OwnPair& pair : pairs) {
    if (kept < keep) {
      ++kept;
      continue;
    }
    const std::string path = JoinPath(dir, pair.file);
    const std::string manifest_path = ManifestPathFor(path);
    if (env->Unlink(path.c_str()) != 0 && errno != ENOENT) {
      return posix::ErrnoStatus(errno, "remove old snapshot", path);
    }
    if (env->Unlink(manifest_path.c_str()) != 0 && errno != ENOENT) {
      return posix::ErrnoStatus(errno, "remove old manifest", manifest_path);
    }
    removed.push_back(path);
  }
  if (!removed.empty()) SQLSTEWARD_RETURN_IF_ERROR(posix::SyncDirectory(env, dir));
  return removed;
}

}  // namespace sqlsteward::internal
