#include "snapshot/file_io.h"

#include <cerrno>

namespace sqlsteward::internal {

Status WriteAll(posix::Env* env, int fd, std::string_view data, const std::string& path) {
  off_t offset = 0;
  while (!data.empty()) {
    ssize_t n = env->Pwrite(fd, data.data(), data.size(), offset);
    if (n < 0) return posix::ErrnoStatus(errno, "write", path);
    if (n == 0) return posix::ErrnoStatus(ENOSPC, "write", path);
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += n;
  }
  return Status();
}

Status ReadAt(posix::Env* env, int fd, void* buf, std::size_t len, off_t offset,
              const std::string& path, std::size_t* got) {
  *got = 0;
  auto* out = static_cast<char*>(buf);
  while (*got < len) {
    ssize_t n = env->Pread(fd, out + *got, len - *got, offset + static_cast<off_t>(*got));
    if (n < 0) return posix::ErrnoStatus(errno, "read", path);
    if (n == 0) break;
    *got += static_cast<std::size_t>(n);
  }
  return Status();
}

Result<std::vector<std::string>> ListNames(posix::Env* env, const std::string& dir) {
  std::vector<std::string> names;
  if (env->ListDirectory(dir.c_str(), &names) != 0) {
    return posix::ErrnoStatus(errno, "list", dir);
  }
  return names;
}

}  // namespace sqlsteward::internal
