// LoadMigrations (sqlsteward/migrator.h): a directory of NNNN_name.sql
// files read into migrations, with the checks Migrate() makes applied at
// load, so a bad file fails before any database is touched.
//
// The directory may hold anything (issue 11, class 4): its entries are
// judged by lstat before any is opened. An entry whose name claims to be a
// migration (a .sql suffix or a leading digit) must be a regular file: a
// symbolic link (to /dev/zero, to a secret), a FIFO, a device, a socket or
// a directory of such a name is refused (kFailedPrecondition), never
// followed, opened or waited on. Refused rather than skipped: skipping would
// run a different set of migrations than the directory shows, and the last
// one would go missing unnoticed. Entries with other names are ignored, as
// is a subdirectory without the .sql suffix ("archive", "2023"). Each file
// is then read through posix::ReadRegularFile (no link followed, no
// blocking, at most kMaxMigrationFileBytes).
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "base/status_builders.h"
#include "migrate/prepare.h"
#include "migrate/sql_text.h"
#include "posix/env.h"
#include "posix/read_only.h"
#include "sqlsteward/migrator.h"

namespace sqlsteward {

using internal::IsBlank;

namespace {

// A migration is schema and a few rows; a file this large is not one, and
// is not read into memory.
constexpr std::int64_t kMaxMigrationFileBytes = 64 << 20;

std::string_view KindOf(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

Result<std::vector<Migration>> LoadMigrations(const std::string& dir) {
  posix::Env* env = posix::Env::Default();
  std::vector<std::string> names;
  if (env->ListDirectory(dir.c_str(), &names) != 0) {
    const int err = errno;
    StatusCode code = err == ENOENT                   ? StatusCode::kNotFound
                      : err == EACCES || err == EPERM ? StatusCode::kPermissionDenied
                      : err == ENOTDIR                ? StatusCode::kInvalidArgument
                                                      : StatusCode::kIOError;
    return Status(code,
                  "cannot read the migrations directory " + dir + ": " + std::strerror(err),
                  "pass the directory that holds the NNNN_name.sql files", 0, err);
  }
  std::sort(names.begin(), names.end());
  std::vector<Migration> out;
  std::map<std::int64_t, std::string> files;  // version -> file name
  for (const std::string& file : names) {
    if (file.empty() || file[0] == '.') continue;
    const std::string path = dir + "/" + file;
    bool sql_suffix = file.size() >= 4 && file.compare(file.size() - 4, 4, ".sql") == 0;
    bool leading_digit = file[0] >= '0' && file[0] <= '9';
    if (!sql_suffix && !leading_digit) continue;  // README.md and the like.
    struct stat st;
    if (env->Lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // Removed since the listing.
      return posix::ErrnoStatus(errno, "stat", path);
    }
    if (S_ISDIR(st.st_mode) && !sql_suffix) continue;  // A subfolder: "2023", "0001-archive".
    if (!S_ISREG(st.st_mode)) {
      return FailedPrecondition(
          "migration file " + path + " is " + std::string(KindOf(st.st_mode)) +
              ", not a regular file",
          "sqlsteward reads only regular files as migrations and never follows links: put the "
          "file itself in the directory, or move the entry out of it");
    }
    SQLSTEWARD_ASSIGN_OR_RETURN(internal::MigrationFileName parsed,
                                internal::ParseMigrationFileName(file, path));
    const std::int64_t version = parsed.version;
    if (auto dup = files.find(version); dup != files.end()) {
      return InvalidArgument("duplicate migration version " + std::to_string(version) + " in " +
                                 dir + ": " + dup->second + " and " + file,
                             "give each migration its own number");
    }
    SQLSTEWARD_ASSIGN_OR_RETURN(
        std::string text,
        posix::ReadRegularFile(env, path, "migration file", kMaxMigrationFileBytes));
    if (IsBlank(text)) {
      return InvalidArgument("migration file " + path + " contains no SQL statement",
                             "write the migration, or make it an explicit no-op such as SELECT 1;");
    }
    files[version] = file;
    out.push_back(Migration{version, std::move(parsed.name), std::move(text), nullptr});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].version != out[i - 1].version + 1) {
      return InvalidArgument(
          "gap in migration files in " + dir + ": " + files[out[i - 1].version] +
              " is followed by " + files[out[i].version] + " (version " +
              std::to_string(out[i - 1].version + 1) + " is missing)",
          "number migrations without gaps; a removed migration must stay (make it a "
          "no-op) because databases may have applied it");
    }
  }
  // The same statement checks Migrate() makes, so a bad file fails at load.
  auto prepared = internal::PrepareAll(out);
  if (!prepared.has_value()) {
    return std::move(prepared).error().WithContext(dir);
  }
  return out;
}

}  // namespace sqlsteward
