#include "posix/read_only.h"

#include <algorithm>
#include <cerrno>

#include "base/status_builders.h"

namespace sqlsteward::posix {
namespace {

std::string_view TypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

Result<UniqueFd> OpenRegularForReading(Env* env, const std::string& path, std::string_view what,
                                       struct stat* st_out) {
  int raw = env->Open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
  if (raw < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return NotFound(std::string(what) + " " + path + " does not exist", {}, 0, ENOENT);
    }
    if (err == ELOOP) {
      return FailedPrecondition(std::string(what) + " " + path + " is a symbolic link",
                                "sqlsteward never follows links for the files it reads; give "
                                "the path of the file itself",
                                0, ELOOP);
    }
    return ErrnoStatus(err, "open", path);
  }
  UniqueFd fd(env, raw);
  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "fstat", path);
  if (!S_ISREG(st.st_mode)) {
    return FailedPrecondition(std::string(what) + " " + path + " is " +
                                  std::string(TypeName(st.st_mode)) + ", not a regular file",
                              "move it aside; sqlsteward reads only regular files");
  }
  if (st_out != nullptr) *st_out = st;
  return fd;
}

Result<std::string> ReadRegularFile(Env* env, const std::string& path, std::string_view what,
                                    std::int64_t max_bytes) {
  struct stat st;
  SQLSTEWARD_ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularForReading(env, path, what, &st));
  if (st.st_size > max_bytes) {
    return FailedPrecondition(std::string(what) + " " + path + " is " +
                                  std::to_string(st.st_size) + " bytes, more than the " +
                                  std::to_string(max_bytes) + " this reads",
                              "is it the file you meant?");
  }
  // Sized from fstat; one byte beyond the bound tells a file that grew
  // past it since.
  const std::size_t limit = static_cast<std::size_t>(max_bytes) + 1;
  std::string text(std::min(static_cast<std::size_t>(st.st_size) + 1, limit), '\0');
  std::size_t got = 0;
  while (true) {
    if (got == text.size()) {
      if (text.size() >= limit) break;
      text.resize(std::min(text.size() * 2, limit));
    }
    ssize_t n = env->Pread(fd.get(), text.data() + got, text.size() - got,
                           static_cast<off_t>(got));
    if (n < 0) return ErrnoStatus(errno, "read", path);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > static_cast<std::size_t>(max_bytes)) {
    return FailedPrecondition(std::string(what) + " " + path + " grew past " +
                                  std::to_string(max_bytes) + " bytes while being read",
                              "is something still writing it?");
  }
  text.resize(got);
  return text;
}

}  // namespace sqlsteward::posix
