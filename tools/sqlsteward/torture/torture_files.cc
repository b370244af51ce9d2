#include "torture/torture_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>

#include <fmt/core.h>

#include "common/cli.h"
#include "common/run_files.h"
#include "sqlsteward/sqlsteward.h"
#include "torture/torture_protocol.h"

namespace sqlsteward::cli::torture {
namespace {

constexpr const char* kWritableHint = "pass a directory you can create files in";

// A name no user file has: created with O_EXCL, so never one that exists.
std::string MarkerName() {
  std::random_device random;
  return fmt::format(".sqlsteward-torture-{}-{:08x}", ::getpid(), random());
}

// Creates `dir`/`name` (empty, 0600).
Status CreateMarker(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "create a file in " + dir, kWritableHint);
  ::close(fd);
  return Status();
}

// The SQLite header's first 16 bytes and its application_id (offset 68,
// big-endian). A file shorter than the header is not a database.
constexpr std::size_t kHeaderBytes = 100;
constexpr char kSqliteMagic[] = "SQLite format 3";

// Whether `path` (a regular file of `size` bytes) is a database torture
// created: empty (created, never written) or one with its application_id.
Result<bool> IsTortureDatabase(const std::string& path, off_t size) {
  if (size == 0) return true;
  if (size < static_cast<off_t>(kHeaderBytes)) return false;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open " + path);
  std::array<unsigned char, kHeaderBytes> header{};
  if (::pread(fd.get(), header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    return ErrnoStatus(errno != 0 ? errno : EIO, "read " + path);
  }
  if (std::memcmp(header.data(), kSqliteMagic, sizeof kSqliteMagic) != 0) return false;
  const std::uint32_t id = (std::uint32_t{header[68]} << 24) | (std::uint32_t{header[69]} << 16) |
                           (std::uint32_t{header[70]} << 8) | std::uint32_t{header[71]};
  return id == kApplicationId;
}

}  // namespace

Status CheckDirectory(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Status(StatusCode::kNotFound, dir + " does not exist",
                    "pass an existing directory on the filesystem (mount) to test; torture "
                    "creates nothing but its own files in it",
                    0, ENOENT);
    }
    return ErrnoStatus(errno, "stat " + dir, kWritableHint);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status(StatusCode::kInvalidArgument, dir + " is not a directory",
                  "pass the directory to test, not a file in it");
  }
  const std::string marker = MarkerName();
  SQLSTEWARD_RETURN_IF_ERROR(CreateMarker(dir, marker));
  ::unlink((dir + "/" + marker).c_str());
  return Status();
}

Status CheckSameDirectory(const std::string& a, const std::string& b) {
  std::error_code ec_a;
  std::error_code ec_b;
  const auto canonical_a = std::filesystem::canonical(a, ec_a);
  const auto canonical_b = std::filesystem::canonical(b, ec_b);
  if (!ec_a && !ec_b && canonical_a == canonical_b) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{} and {} are the same path ({})", a, b, canonical_a.string()),
                  "--two-mounts takes two different paths to one directory, such as two "
                  "mounts of it; to test one path, run `sqlsteward torture DIR`");
  }
  const std::string marker = MarkerName();
  SQLSTEWARD_RETURN_IF_ERROR(CreateMarker(a, marker));
  struct stat st;
  const bool seen = ::stat((b + "/" + marker).c_str(), &st) == 0;
  const int seen_errno = errno;
  ::unlink((a + "/" + marker).c_str());
  if (!seen) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{} and {} are not one directory: a file created in {} does not "
                              "appear in {} ({})",
                              a, b, a, b, std::strerror(seen_errno)),
                  "pass two paths to the same directory, such as two mounts of it "
                  "(`bindfs /srv/data /mnt/a; bindfs /srv/data /mnt/b`) or a host path and "
                  "a container's view of it");
  }
  return Status();
}

Result<std::vector<std::string>> RemovePreviousRun(const std::string& db_path) {
  struct stat st;
  if (::lstat(db_path.c_str(), &st) == 0) {
    bool ours = false;
    if (S_ISREG(st.st_mode)) {
      SQLSTEWARD_ASSIGN_OR_RETURN(ours, IsTortureDatabase(db_path, st.st_size));
    }
    if (!ours) {
      return Status(StatusCode::kFailedPrecondition,
                    db_path + " exists and is not a database that `sqlsteward torture` created",
                    "torture never touches a file it did not create: move that file away, or "
                    "pass another directory");
    }
  } else if (errno != ENOENT) {
    return ErrnoStatus(errno, "stat " + db_path, kWritableHint);
  }
  return RemoveDatabaseFiles(db_path);
}

Result<std::string> CreateDatabase(const std::string& db_path) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(db_path));
  const std::string journal_mode(JournalModeName(db->journal_mode()));
  SQLSTEWARD_RETURN_IF_ERROR(db->Write([](Transaction& tx) {
                                 return tx.ExecScript(kSchema);
                               }).WithContext("create " + db_path));
  // The parent writes nothing else; closing keeps its connections and
  // locks out of the workers' way and out of their fork().
  SQLSTEWARD_RETURN_IF_ERROR(db->Close());
  return journal_mode;
}

}  // namespace sqlsteward::cli::torture
