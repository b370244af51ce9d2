#include "snapshot/retention.h"

#include <algorithm>
#include <cerrno>

#include "posix/fs.h"
#include "snapshot/file_io.h"
#include "snapshot/manifest.h"
#include "snapshot/names.h"
#include "sqlsteward/snapshot.h"

namespace sqlsteward::internal {
namespace {

struct Candidate {
  std::string file;
  SnapshotFileName parsed;
};

// The snapshots named `prefix` among `names`, newest first: the timestamp
// is fixed-width, so text order is time order.
std::vector<Candidate> NewestFirst(const std::vector<std::string>& names, std::string_view prefix) {
  std::vector<Candidate> candidates;
  for (const std::string& name : names) {
    auto parsed = ParseSnapshotFileName(name, prefix);
    if (!parsed.has_value()) continue;
    candidates.push_back({name, *parsed});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.parsed.timestamp != b.parsed.timestamp) return a.parsed.timestamp > b.parsed.timestamp;
    return a.parsed.seq > b.parsed.seq;
  });
  return candidates;
}

}  // namespace

Result<std::vector<std::string>> ApplyRetention(posix::Env* env, const std::string& dir,
                                                std::string_view prefix, int keep,
                                                std::string_view spare) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(env, dir));
  int kept = 0;
  for (const Candidate& c : NewestFirst(names, prefix)) {
    const std::string path = JoinPath(dir, c.file);
    const std::string manifest_path = ManifestPathFor(path);
    if (c.file == spare) {
      ++kept;
      continue;
    }
    // Only a complete pair that says it is this snapshot counts, or is
    // deleted.
    auto manifest = ReadManifest(env, manifest_path);
    if (!manifest.has_value() || manifest->file != c.file || manifest->kind != "snapshot") {
      continue;
    }
    if (kept < keep) {
      ++kept;
      continue;
    }
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
