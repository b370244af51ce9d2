// The /proc/self/mountinfo parser (FindMount, include/sqlsteward/probe.h):
// the probe's first word on which filesystem holds a database. The kernel
// writes the text, but its fields carry names users chose (mount points
// with spaces, FUSE subtypes, NFS exports) in the kernel's octal escapes.
//
// The input is a mountinfo text. For each of a few paths, properties:
//   - a relative path is kInvalidArgument; otherwise the answer is a mount
//     whose mount point is absolute and holds the path at a component
//     boundary, kNotFound, or kInvalidArgument naming a line;
//   - the mount found, written back as a mountinfo line the way the kernel
//     escapes it, parses to the same fields (unescape inverts escape).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "sqlsteward/probe.h"

using namespace sqlsteward;

namespace {

// The kernel's mangling (fs/proc_namespace.c, show_mountinfo): space, tab,
// newline and backslash as \ooo.
std::string Escape(std::string_view field) {
  std::string out;
  for (char c : field) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
      char octal[5];
      std::snprintf(octal, sizeof octal, "\\%03o", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += octal;
    } else {
      out += c;
    }
  }
  return out;
}

bool Holds(std::string_view mount_point, std::string_view path) {
  if (mount_point == "/") return true;
  return path.starts_with(mount_point) &&
         (path.size() == mount_point.size() || path[mount_point.size()] == '/');
}

bool Same(const MountInfo& a, const MountInfo& b) {
  return a.mount_point == b.mount_point && a.fs_type == b.fs_type &&
         a.fs_subtype == b.fs_subtype && a.source == b.source &&
         a.mount_options == b.mount_options && a.super_options == b.super_options &&
         a.root == b.root && a.device == b.device;
}

void CheckPath(std::string_view text, std::string_view path) {
  Result<MountInfo> mount = FindMount(text, path);
  if (!mount.ok()) {
    const StatusCode code = mount.error().code();
    FUZZ_CHECK(code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument);
    return;
  }
  std::string_view trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.remove_suffix(1);
  FUZZ_CHECK(!mount->mount_point.empty() && mount->mount_point[0] == '/');
  FUZZ_CHECK(Holds(mount->mount_point, trimmed));
  FsKind kind = ClassifyFsType(mount->fs_type);
  (void)FsKindName(kind);
  (void)MountOptionValue(mount->super_options, "local_lock");
  (void)HasMountOption(mount->mount_options, "nobrl");

  // Fields with a NUL or an empty field cannot be written back as a line.
  const std::string type =
      mount->fs_subtype.empty() ? mount->fs_type : mount->fs_type + "." + mount->fs_subtype;
  for (std::string_view field : {std::string_view(mount->device), std::string_view(mount->root),
                                 std::string_view(mount->mount_point),
                                 std::string_view(mount->mount_options), std::string_view(type),
                                 std::string_view(mount->source),
                                 std::string_view(mount->super_options)}) {
    if (field.empty() || field == "-") return;
  }
  const std::string line = "36 35 " + Escape(mount->device) + " " + Escape(mount->root) + " " +
                           Escape(mount->mount_point) + " " + Escape(mount->mount_options) +
                           " shared:1 - " + Escape(type) + " " + Escape(mount->source) + " " +
                           Escape(mount->super_options) + "\n";
  Result<MountInfo> again = FindMount(line, mount->mount_point);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(Same(*mount, *again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  FUZZ_CHECK(FindMount(text, "relative/app.db").error().code() == StatusCode::kInvalidArgument);
  for (std::string_view path :
       {"/", "/data", "/data/", "/home/user/My Projects/app", "/mnt/nfs/share/db",
        "/var/lib/docker/overlay2/l/merged/srv", "/run/user/1000/doc/x", "/tmp/sqlsteward",
        "/media/usb drive/db"}) {
    CheckPath(text, path);
  }
  return 0;
}
