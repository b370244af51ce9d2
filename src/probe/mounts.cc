#include "probe/mounts.h"

#include <sys/statfs.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status_builders.h"

namespace sqlsteward {
namespace probe_internal {
namespace {

std::string Unescape(std::string_view field) {
  // The kernel writes ' ', '\t', '\n' and '\\' in mountinfo as \ooo.
  std::string out;
  out.reserve(field.size());
  auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) &&
        is_octal(field[i + 2]) && is_octal(field[i + 3])) {
      int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      if (value <= 0xff) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (start <= line.size()) {
    std::size_t end = line.find(' ', start);
    if (end == std::string_view::npos) end = line.size();
    if (end > start) fields.push_back(line.substr(start, end - start));
    start = end + 1;
  }
  return fields;
}

// Parses one mountinfo line:
//   36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
// (7) is zero or more optional fields ended by the "-" of (8).
std::optional<MountInfo> ParseMountLine(std::string_view line) {
  std::vector<std::string_view> fields = SplitFields(line);
  std::size_t separator = 6;
  while (separator < fields.size() && fields[separator] != "-") ++separator;
  if (separator >= fields.size() || fields.size() - separator < 4) return std::nullopt;
  MountInfo info;
  info.device = Unescape(fields[2]);
  info.root = Unescape(fields[3]);
  info.mount_point = Unescape(fields[4]);
  info.mount_options = Unescape(fields[5]);
  std::string type = Unescape(fields[separator + 1]);
  if (type.starts_with("fuse.")) {
    info.fs_type = "fuse";
    info.fs_subtype = type.substr(5);
  } else {
    info.fs_type = std::move(type);
  }
  info.source = Unescape(fields[separator + 2]);
  info.super_options = Unescape(fields[separator + 3]);
  if (info.mount_point.empty() || info.mount_point[0] != '/') return std::nullopt;
  return info;
}

bool Holds(std::string_view mount_point, std::string_view path) {
  if (mount_point == "/") return true;
  if (!path.starts_with(mount_point)) return false;
  return path.size() == mount_point.size() || path[mount_point.size()] == '/';
}

}  // namespace

std::string FullMountType(const MountInfo& mount) {
  return mount.fs_subtype.empty() ? mount.fs_type : mount.fs_type + "." + mount.fs_subtype;
}

namespace {

// statfs(2) f_type values (linux/magic.h, plus ZFS's own). virtiofs has no
// magic of its own: it reports FUSE's.
struct Magic {
  std::uint32_t f_type;
  const char* name;
  FsKind kind;
};
constexpr Magic kMagics[] = {
    {0xEF53, "ext2/ext3/ext4", FsKind::kLocal}, {0x58465342, "xfs", FsKind::kLocal},
    {0x9123683E, "btrfs", FsKind::kLocal},      {0x2FC12FC1, "zfs", FsKind::kLocal},
    {0xF2F52010, "f2fs", FsKind::kLocal},       {0x01021994, "tmpfs", FsKind::kTmpfs},
    {0x794C7630, "overlay", FsKind::kOverlay},  {0x65735546, "fuse", FsKind::kFuse},
    {0x01021997, "9p", FsKind::kNineP},         {0x6969, "nfs", FsKind::kNfs},
    {0xFF534D42, "cifs", FsKind::kCifs},        {0xFE534D42, "smb3", FsKind::kCifs},
};

// f_type is a signed long; 32-bit ABIs sign-extend the high magics.
const Magic* FindMagic(std::int64_t f_type) {
  for (const Magic& magic : kMagics) {
    if (magic.f_type == static_cast<std::uint32_t>(f_type)) return &magic;
  }
  return nullptr;
}

}  // namespace

const char* StatfsMagicName(std::int64_t f_type) {
  const Magic* magic = FindMagic(f_type);
  return magic == nullptr ? "unknown" : magic->name;
}

namespace {

std::string Hex(std::uint64_t value) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, value);
  return buf;
}

Result<std::string> ReadProcFile(posix::Env* env, const char* path) {
  constexpr std::size_t kChunk = 64 << 10;
  constexpr std::size_t kLimit = 64 << 20;
  int fd = env->Open(path, O_RDONLY, 0);
  if (fd < 0) return posix::ErrnoStatus(errno, "open", path);
  posix::UniqueFd guard(env, fd);
  std::string text;
  for (;;) {
    std::size_t old_size = text.size();
    if (old_size > kLimit) {
      return ResourceExhausted(std::string(path) + " is larger than 64 MiB");
    }
    text.resize(old_size + kChunk);
    ssize_t got = env->Pread(fd, text.data() + old_size, kChunk, static_cast<off_t>(old_size));
    if (got < 0) return posix::ErrnoStatus(errno, "pread", path);
    text.resize(old_size + static_cast<std::size_t>(got));
    if (got == 0) return text;
  }
}

}  // namespace

void IdentifyFilesystem(posix::Env* env, int dir_fd, ProbeReport* report) {
  bool from_mountinfo = false;
  Result<std::string> text = ReadProcFile(env, "/proc/self/mountinfo");
  if (text.ok()) {
    Result<MountInfo> mount = FindMount(*text, report->directory);
    if (mount.ok()) {
      report->mount = std::move(mount).value();
      report->kind = ClassifyFsType(report->mount.fs_type);
      from_mountinfo = true;
      report->reasons.push_back(
          report->directory + " is on the " + FullMountType(report->mount) + " mount at " +
          report->mount.mount_point + " (source " + report->mount.source + "), classified as " +
          std::string(FsKindName(report->kind)) + " by /proc/self/mountinfo.");
    } else {
      report->reasons.push_back("/proc/self/mountinfo has no usable entry for " +
                                report->directory + " (" + std::string(mount.error().message()) +
                                "); using statfs(2).");
    }
  } else {
    report->reasons.push_back("/proc/self/mountinfo is unreadable (" +
                              std::string(text.error().message()) + "); using statfs(2).");
  }

  struct statfs fs;
  if (env->Fstatfs(dir_fd, &fs) != 0) {
    report->reasons.push_back(
        std::string("statfs(2) failed: ") + std::strerror(errno) +
        (from_mountinfo ? "; no cross-check." : "; the filesystem is unknown."));
  } else {
    auto magic = static_cast<std::int64_t>(fs.f_type);
    FsKind magic_kind = ClassifyStatfsMagic(magic);
    std::string magic_text =
        Hex(static_cast<std::uint32_t>(magic)) + " (" + StatfsMagicName(magic) + ")";
    if (!from_mountinfo) {
      report->kind = magic_kind;
      report->mount.fs_type = StatfsMagicName(magic);
      report->reasons.push_back(
          "statfs(2) reports magic " + magic_text + ", classified as " +
          std::string(FsKindName(magic_kind)) +
          (magic_kind == FsKind::kFuse ? "; virtiofs reports the same magic." : "."));
    } else if (magic_kind != FsKind::kUnknown && magic_kind != report->kind &&
               !(report->kind == FsKind::kVirtiofs && magic_kind == FsKind::kFuse)) {
      report->reasons.push_back("statfs(2) of the directory reports magic " + magic_text +
                                ", not " + FullMountType(report->mount) +
                                "; trusting statfs (the mount entry found may be hidden under "
                                "another) and ignoring the entry.");
      report->kind = magic_kind;
      report->mount = MountInfo();
      report->mount.fs_type = StatfsMagicName(magic);
    }
  }

  if (report->kind == FsKind::kNfs) {
    std::string_view local_lock = MountOptionValue(report->mount.super_options, "local_lock");
    if (local_lock.empty()) {
      local_lock = MountOptionValue(report->mount.mount_options, "local_lock");
    }
    report->nfs_local_lock = std::string(local_lock);
    if (local_lock == "all" || local_lock == "posix") {
      report->reasons.push_back(
          "nfs is mounted with local_lock=" + report->nfs_local_lock +
          ": POSIX locks stay on this client; processes on other hosts do not "
          "see them.");
    } else if (!local_lock.empty()) {
      report->reasons.push_back("nfs is mounted with local_lock=" + report->nfs_local_lock +
                                ": POSIX locks go to the server (if its lock service works).");
    }
  }
  if (report->kind == FsKind::kCifs && (HasMountOption(report->mount.super_options, "nobrl") ||
                                        HasMountOption(report->mount.mount_options, "nobrl"))) {
    report->reasons.push_back(
        "cifs is mounted with nobrl: byte-range locks stay on this client; other SMB clients do "
        "not see them.");
  }
}

bool SingleDomainFilesystem(FsKind kind) {
  return kind == FsKind::kLocal || kind == FsKind::kTmpfs || kind == FsKind::kOverlay;
}

}  // namespace probe_internal

using probe_internal::FindMagic;
using probe_internal::FullMountType;
using probe_internal::Holds;
using probe_internal::Magic;
using probe_internal::ParseMountLine;

Result<MountInfo> FindMount(std::string_view mountinfo_text, std::string_view path) {
  if (path.empty() || path[0] != '/') {
    return InvalidArgument("FindMount needs an absolute path, got '" + std::string(path) + "'");
  }
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  std::optional<MountInfo> best;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < mountinfo_text.size()) {
    std::size_t end = mountinfo_text.find('\n', start);
    if (end == std::string_view::npos) end = mountinfo_text.size();
    std::string_view line = mountinfo_text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::optional<MountInfo> mount = ParseMountLine(line);
    if (!mount) {
      return InvalidArgument("mountinfo line " + std::to_string(line_number) +
                             " does not parse: '" + std::string(line) + "'");
    }
    // ">=": of mounts stacked on one directory the last one is visible.
    if (Holds(mount->mount_point, path) &&
        (!best || mount->mount_point.size() >= best->mount_point.size())) {
      best = std::move(mount);
    }
  }
  if (!best) {
    return NotFound("no mount in mountinfo holds " + std::string(path));
  }
  return std::move(*best);
}

std::string_view FsKindName(FsKind kind) {
  switch (kind) {
    case FsKind::kLocal:
      return "local";
    case FsKind::kTmpfs:
      return "tmpfs";
    case FsKind::kOverlay:
      return "overlay";
    case FsKind::kFuse:
      return "fuse";
    case FsKind::kVirtiofs:
      return "virtiofs";
    case FsKind::kNineP:
      return "9p";
    case FsKind::kNfs:
      return "nfs";
    case FsKind::kCifs:
      return "cifs";
    case FsKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

FsKind ClassifyFsType(std::string_view fs_type) {
  if (fs_type == "ext4" || fs_type == "ext3" || fs_type == "ext2" || fs_type == "xfs" ||
      fs_type == "btrfs" || fs_type == "zfs" || fs_type == "f2fs") {
    return FsKind::kLocal;
  }
  if (fs_type == "tmpfs") return FsKind::kTmpfs;
  if (fs_type == "overlay") return FsKind::kOverlay;
  if (fs_type == "fuse" || fs_type == "fuseblk" || fs_type.starts_with("fuse.")) {
    return FsKind::kFuse;
  }
  if (fs_type == "virtiofs") return FsKind::kVirtiofs;
  if (fs_type == "9p") return FsKind::kNineP;
  if (fs_type == "nfs" || fs_type == "nfs4") return FsKind::kNfs;
  if (fs_type == "cifs" || fs_type == "smb3") return FsKind::kCifs;
  return FsKind::kUnknown;
}

FsKind ClassifyStatfsMagic(std::int64_t f_type) {
  const Magic* magic = FindMagic(f_type);
  return magic == nullptr ? FsKind::kUnknown : magic->kind;
}

std::string_view MountOptionValue(std::string_view options, std::string_view key) {
  while (!options.empty()) {
    std::size_t comma = options.find(',');
    std::string_view option = options.substr(0, comma);
    if (option.size() > key.size() && option.starts_with(key) && option[key.size()] == '=') {
      return option.substr(key.size() + 1);
    }
    if (comma == std::string_view::npos) break;
    options.remove_prefix(comma + 1);
  }
  return {};
}

bool HasMountOption(std::string_view options, std::string_view flag) {
  while (!options.empty()) {
    std::size_t comma = options.find(',');
    if (options.substr(0, comma) == flag) return true;
    if (comma == std::string_view::npos) break;
    options.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace sqlsteward
