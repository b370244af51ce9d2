#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "base/status_builders.h"
#include "probe/child.h"
#include "probe/probes.h"

namespace sqlsteward::probe_internal {

Result<ProbeFile> ProbeFile::Create(posix::Env* env, const std::string& dir) {
  std::string prefix = dir;
  if (prefix.empty() || prefix.back() != '/') prefix += '/';
  prefix += ".sqlsteward-probe-" + std::to_string(getpid()) + "-";
  for (int attempt = 0; attempt < 8; ++attempt) {
    char random[17];
    std::snprintf(random, sizeof random, "%016" PRIx64, Random64());
    std::string path = prefix + random;
    int fd = env->Open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd >= 0) return ProbeFile(env, std::move(path), posix::UniqueFd(env, fd));
    if (errno != EEXIST) {
      return posix::ErrnoStatus(errno, "open", path,
                                "sqlsteward creates a short-lived probe file in the database's "
                                "directory; make the directory writable by this user");
    }
  }
  return Internal("probe: no unused probe file name in " + dir + " after 8 tries");
}

ProbeFile::ProbeFile(ProbeFile&& other) noexcept
    : env_(other.env_), path_(std::move(other.path_)), fd_(std::move(other.fd_)) {
  other.path_.clear();
}

ProbeFile::~ProbeFile() {
  if (path_.empty()) return;
  // Close first: unlinking an open file makes NFS and FUSE keep a
  // .nfsXXXX / .fuse_hiddenXXXX copy until the last close.
  fd_.Reset();
  env_->Unlink(path_.c_str());
}

}  // namespace sqlsteward::probe_internal
