// The "files" section: the database's files (database, -wal, -shm,
// -journal, -steward) and their directory, as lstat(2) sees them: links,
// hard links, permissions and ownership.
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "doctor/checks.h"
#include "doctor/text.h"
#include "sidecar/format.h"

namespace sqlsteward::cli::doctor {
namespace {

using nlohmann::json;

std::optional<std::string> UserName(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return std::string(found->pw_name);
}

std::optional<std::string> GroupName(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return std::string(found->gr_name);
}

std::string OwnerString(const struct stat& st) {
  return fmt::format("{}:{} (uid {}, gid {})", UserName(st.st_uid).value_or("?"),
                     GroupName(st.st_gid).value_or("?"), st.st_uid, st.st_gid);
}

json Nullable(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// What the per-file rules found, one text per offending file.
struct FileScan {
  std::vector<std::string> links;
  std::vector<std::string> multi_linked;
  std::vector<std::string> loose;
  std::vector<std::string> loose_paths;  // shell-quoted, for the chmod hint
  std::vector<std::string> unreadable;
};

FileScan ScanFiles(const DbFiles& files) {
  FileScan scan;
  for (const FileState* f : files.Owned()) {
    if (f->error != 0) {
      scan.unreadable.push_back(fmt::format("{}: {}", f->path, std::strerror(f->error)));
      continue;
    }
    if (!f->exists) continue;
    if (f->is_link()) {
      char target[4096];
      ssize_t n = ::readlink(f->path.c_str(), target, sizeof target - 1);
      scan.links.push_back(fmt::format(
          "{} -> {}", f->path,
          n >= 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string("?")));
      continue;
    }
    if (f->is_regular() && f->st.st_nlink > 1) {
      scan.multi_linked.push_back(fmt::format("{} has {} hard links", f->path, f->st.st_nlink));
    }
    if (f->is_regular() && (f->st.st_mode & 0077) != 0) {
      scan.loose.push_back(fmt::format("{} is {}", Basename(f->path), ModeString(f->st.st_mode)));
      scan.loose_paths.push_back(ShellQuote(f->path));
    }
  }
  return scan;
}

// files.access, files.symlinks, files.hard_links, files.permissions.
void CheckFileRules(Report& r, const FileScan& scan, const FsFacts& fs) {
  // Claims about "every file" hold only for the files doctor could see.
  std::string partial;
  if (!scan.unreadable.empty()) {
    r.Add("files.access", Severity::kWarning, "cannot stat " + Join(scan.unreadable, "; "),
          "run doctor as the user that owns the database");
    partial = " (of the files doctor could stat)";
  }

  if (scan.links.empty()) {
    r.Add("files.symlinks", Severity::kOk,
          "none of the database's files is a symbolic link" + partial);
  } else {
    r.Add("files.symlinks", Severity::kProblem, "symbolic link: " + Join(scan.links, "; "),
          "replace each link with the file itself: SQLite names -wal and -journal after the "
          "path, so two names for one database break locking, and sqlsteward refuses links");
  }

  if (scan.multi_linked.empty()) {
    r.Add("files.hard_links", Severity::kOk, "every file has one name (one hard link)" + partial);
  } else {
    r.Add("files.hard_links", Severity::kProblem,
          Join(scan.multi_linked, "; ") +
              ": a second name has its own -wal and -journal, so a crash or a writer through it "
              "can corrupt the database (sqlite.org/howtocorrupt.html)",
          fmt::format("find the other names with: find {} -xdev -samefile {}; then remove them "
                      "(keep the one the service uses)",
                      ShellQuote(fs.mount_point), ShellQuote(r.path)));
  }

  if (scan.loose.empty()) {
    r.Add("files.permissions", Severity::kOk,
          "no group or other permissions on the database's files (0600 or tighter)" + partial);
  } else {
    r.Add("files.permissions", Severity::kWarning,
          Join(scan.loose, ", ") + ": group or others can read or write the database's data",
          "chmod 600 " + Join(scan.loose_paths, " "));
  }
}

// files.directory
void CheckDirectory(Report& r, const FileState& dir) {
  if (!dir.exists) {
    r.Add("files.directory", Severity::kProblem, fmt::format("directory {} does not exist", r.dir),
          "check the path");
    return;
  }
  if (!S_ISDIR(dir.st.st_mode)) {
    r.Add("files.directory", Severity::kProblem, fmt::format("{} is not a directory", r.dir),
          "check the path");
    return;
  }
  const mode_t mode = dir.st.st_mode;
  if ((mode & 0077) == 0) {
    r.Add("files.directory", Severity::kOk,
          fmt::format("directory {} is {}, owner {}", r.dir, ModeString(mode),
                      OwnerString(dir.st)));
    return;
  }
  const bool shared = (mode & 0002) != 0 || (mode & S_ISVTX) != 0;
  std::string_view why =
      "others can list it and see the database's -wal/-journal files come and go";
  if ((mode & 0002) != 0) {
    why = (mode & S_ISVTX) != 0 ? "anyone can create files in it, such as a -journal or -wal "
                                  "before the database's processes do"
                                : "anyone can create, rename or delete files in it, including "
                                  "the database's -wal and -journal";
  }
  r.Add("files.directory", Severity::kWarning,
        fmt::format("directory {} is {}: {}", r.dir, ModeString(mode), why),
        shared ? fmt::format("keep the database in a directory of its own: with every process "
                             "stopped, mkdir -m 700 {} and move the database and its -wal, "
                             "-shm and -steward files there",
                             ShellQuote(r.dir + "/" + std::string(Basename(r.path)) + ".d"))
               : "chmod 700 " + ShellQuote(r.dir) +
                     " (if other users need to pass through it, give the database a directory "
                     "of its own)");
}

// files.ownership: a -shm or -journal created by another user (a sqlite3
// shell run as root) locks the service out of its own database.
void CheckOwnership(Report& r, const DbFiles& files) {
  const FileState* reference = files.db.exists && !files.db.is_link() ? &files.db : nullptr;
  std::vector<std::string> owners;
  std::vector<std::string> foreign;
  for (const FileState* f : files.Owned()) {
    if (!f->exists || f->is_link()) continue;
    owners.push_back(fmt::format("{} {}", Basename(f->path), OwnerString(f->st)));
    if (reference != nullptr && f != reference &&
        (f->st.st_uid != reference->st.st_uid || f->st.st_gid != reference->st.st_gid)) {
      foreign.push_back(f->path);
    }
  }
  if (owners.empty()) {
    r.Add("files.ownership", Severity::kOk, "no files to check");
  } else if (foreign.empty() && reference != nullptr) {
    r.Add("files.ownership", Severity::kOk, "every file is owned by " + OwnerString(reference->st));
  } else if (foreign.empty()) {
    r.Add("files.ownership", Severity::kOk, "owner: " + Join(owners, "; "));
  } else {
    std::vector<std::string> quoted;
    for (const std::string& p : foreign) quoted.push_back(ShellQuote(p));
    r.Add("files.ownership", Severity::kWarning,
          "not all files have the database's owner: " + Join(owners, "; "),
          fmt::format("chown {}:{} {} (a file created by another user, e.g. a sqlite3 shell run "
                      "as root, can lock the service out)",
                      reference->st.st_uid, reference->st.st_gid, Join(quoted, " ")));
  }
}

}  // namespace

FileState StatFile(std::string role, std::string path) {
  FileState f;
  f.role = std::move(role);
  f.path = std::move(path);
  if (::lstat(f.path.c_str(), &f.st) == 0) {
    f.exists = true;
  } else if (errno != ENOENT && errno != ENOTDIR) {
    f.error = errno;
  }
  return f;
}

std::string FileTypeName(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return "file";
  if (S_ISDIR(st.st_mode)) return "directory";
  if (S_ISLNK(st.st_mode)) return "symlink";
  return "other";
}

json FileJson(const FileState& f) {
  json j = {{"role", f.role},   {"path", f.path},        {"exists", f.exists}, {"type", nullptr},
            {"mode", nullptr},  {"uid", nullptr},        {"gid", nullptr},     {"owner", nullptr},
            {"group", nullptr}, {"size_bytes", nullptr}, {"links", nullptr}};
  if (!f.exists) return j;
  j["type"] = FileTypeName(f.st);
  j["mode"] = ModeString(f.st.st_mode);
  j["uid"] = f.st.st_uid;
  j["gid"] = f.st.st_gid;
  j["owner"] = Nullable(UserName(f.st.st_uid));
  j["group"] = Nullable(GroupName(f.st.st_gid));
  j["size_bytes"] = static_cast<std::int64_t>(f.st.st_size);
  j["links"] = static_cast<std::uint64_t>(f.st.st_nlink);
  return j;
}

DbFiles DbFiles::Stat(const std::string& path, const std::string& dir) {
  DbFiles f{StatFile("database", path),
            StatFile("wal", path + "-wal"),
            StatFile("shm", path + "-shm"),
            StatFile("journal", path + "-journal"),
            StatFile("sidecar", internal::SidecarPath(path)),
            FileState{}};
  f.dir.role = "directory";
  f.dir.path = dir;
  if (::stat(dir.c_str(), &f.dir.st) == 0) {
    f.dir.exists = true;
  } else if (errno != ENOENT && errno != ENOTDIR) {
    f.dir.error = errno;
  }
  return f;
}

void CheckFiles(Report& r, const DbFiles& files, const FsFacts& fs) {
  for (const FileState* f : files.Owned()) r.files.push_back(FileJson(*f));
  r.files.push_back(FileJson(files.dir));
  CheckFileRules(r, ScanFiles(files), fs);
  CheckDirectory(r, files.dir);
  CheckOwnership(r, files);
}

}  // namespace sqlsteward::cli::doctor
