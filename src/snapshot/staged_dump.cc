#include "snapshot/staged_dump.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/status_builders.h"
#include "snapshot/names.h"

namespace sqlsteward::internal {
namespace {

Status WriteNewFile(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return IOError("create " + path + ": " + std::strerror(errno),
                   "check that the snapshot directory is writable", 0, errno);
  }
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return IOError("write " + path + ": " + std::strerror(err),
                     "free space where the snapshot goes, then snapshot again", 0, err);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return Status();
}

}  // namespace

Result<std::unique_ptr<StagedDump>> StagedDump::Create(
    Engine& engine, const std::string& dest_dir, std::chrono::steady_clock::time_point deadline) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<EngineFile> files, engine.Dump(deadline));
  if (files.empty()) {
    return Internal("the cluster's dump held no database file", "report this as a bug");
  }
  if (::mkdir(dest_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IOError("create " + dest_dir + ": " + std::strerror(errno),
                   "create the snapshot directory or pass another one", 0, errno);
  }
  std::string tmpl = JoinPath(dest_dir, ".cluster-dump-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return IOError("create a staging directory in " + dest_dir + ": " + std::strerror(errno),
                   "check that the snapshot directory is writable", 0, errno);
  }
  std::unique_ptr<StagedDump> staged(new StagedDump(tmpl));
  staged->path_ = JoinPath(tmpl, "db");
  // The first file is the database; a WAL follows it as "<name>-wal".
  SQLSTEWARD_RETURN_IF_ERROR(WriteNewFile(staged->path_, files[0].data));
  for (std::size_t i = 1; i < files.size(); ++i) {
    if (files[i].name.ends_with("-wal") && !files[i].data.empty()) {
      SQLSTEWARD_RETURN_IF_ERROR(WriteNewFile(staged->path_ + "-wal", files[i].data));
    }
  }
  return staged;
}

StagedDump::~StagedDump() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace sqlsteward::internal
