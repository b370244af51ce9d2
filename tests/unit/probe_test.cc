// Tests for the environment probe: the mountinfo parser on recorded tables,
// the lock and shared-memory probes on real filesystems (the build disk, a
// tmpfs, a bindfs FUSE mount), the per-directory cache and the policy.
#include "sqlsteward/probe.h"

#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "posix/env.h"
#include "probe/probes.h"
#include "support/fault_env.h"
#include "support/testing.h"

extern char** environ;

namespace sqlsteward {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr std::int64_t kFuseMagic = 0x65735546;
constexpr std::int64_t kTmpfsMagic = 0x01021994;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(SQLSTEWARD_FIXTURES) + "/mountinfo/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::int64_t StatfsMagic(const std::string& path) {
  struct statfs fs;
  if (statfs(path.c_str(), &fs) != 0) return -1;
  return static_cast<std::int64_t>(static_cast<std::uint32_t>(fs.f_type));
}

std::vector<std::string> ProbeLeftovers(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(".sqlsteward-probe-")) found.push_back(name);
  }
  return found;
}

// A directory from mkdtemp, removed with its contents at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& parent) {
    std::string pattern = parent + "/probe_test.XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const {
    std::string sub = path_ + "/" + name;
    mkdir(sub.c_str(), 0700);
    return sub;
  }

 private:
  std::string path_;
};

using testing::BindfsMount;

#define ASSERT_BINDFS(mount) ASSERT_THAT((mount).error(), IsEmpty())

// A directory on a block-device filesystem (ext4, xfs, ...): the test
// binary's own directory, /var/tmp or /tmp, whichever is first.
std::string LocalDiskParent() {
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  for (const std::string& candidate : {self, std::string("/var/tmp"), std::string("/tmp")}) {
    struct statfs fs;
    if (!candidate.empty() && statfs(candidate.c_str(), &fs) == 0 &&
        ClassifyStatfsMagic(static_cast<std::int64_t>(fs.f_type)) == FsKind::kLocal &&
        access(candidate.c_str(), W_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

// ---------------------------------------------------------------------------
// FindMount on recorded tables

struct MountCase {
  const char* fixture;
  const char* path;
  const char* mount_point;
  const char* fs_type;
  const char* fs_subtype;
  const char* source;
  FsKind kind;
};

// "escaped.txt:/mnt/my_disk/app": test names without blanks for CTest.
void PrintTo(const MountCase& c, std::ostream* os) {
  std::string name = std::string(c.fixture) + ":" + c.path;
  for (char& ch : name) {
    if (ch == ' ' || ch == '\t' || ch == '\\') ch = '_';
  }
  *os << name;
}

class FindMountTest : public ::testing::TestWithParam<MountCase> {};

TEST_P(FindMountTest, FindsTheMountAndClassifiesIt) {
  const MountCase& c = GetParam();
  std::string text = ReadFixture(c.fixture);
  ASSERT_FALSE(text.empty()) << "missing fixture " << c.fixture;
  Result<MountInfo> mount = FindMount(text, c.path);
  ASSERT_TRUE(mount.ok()) << mount.error().ToString();
  EXPECT_EQ(mount->mount_point, c.mount_point);
  EXPECT_EQ(mount->fs_type, c.fs_type);
  EXPECT_EQ(mount->fs_subtype, c.fs_subtype);
  EXPECT_EQ(mount->source, c.source);
  EXPECT_EQ(ClassifyFsType(mount->fs_type), c.kind) << FsKindName(ClassifyFsType(mount->fs_type));
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FindMountTest,
    ::testing::Values(
        MountCase{"ext4_root.txt", "/var/lib/app", "/", "ext4", "", "/dev/sda2", FsKind::kLocal},
        MountCase{"ext4_root.txt", "/dev/shm/x", "/dev/shm", "tmpfs", "", "tmpfs", FsKind::kTmpfs},
        MountCase{"ext4_root.txt", "/", "/", "ext4", "", "/dev/sda2", FsKind::kLocal},
        MountCase{"tmpfs.txt", "/tmp/app", "/tmp", "tmpfs", "", "tmpfs", FsKind::kTmpfs},
        MountCase{"tmpfs.txt", "/run/user/1000/app", "/run/user/1000", "tmpfs", "", "tmpfs",
                  FsKind::kTmpfs},
        MountCase{"tmpfs.txt", "/run/lock", "/run", "tmpfs", "", "tmpfs", FsKind::kTmpfs},
        MountCase{"docker_overlay.txt", "/app/data", "/", "overlay", "", "overlay",
                  FsKind::kOverlay},
        MountCase{"docker_overlay.txt", "/var/lib/app/db", "/var/lib/app", "ext4", "", "/dev/sda2",
                  FsKind::kLocal},
        MountCase{"docker_desktop_grpcfuse.txt", "/workspace/data", "/workspace", "fuse",
                  "grpcfuse", "grpcfuse", FsKind::kFuse},
        MountCase{"docker_desktop_grpcfuse.txt", "/cache", "/cache", "ext4", "", "/dev/vda1",
                  FsKind::kLocal},
        MountCase{"bindfs.txt", "/mnt/view/db", "/mnt/view", "fuse", "bindfs", "/srv/shared",
                  FsKind::kFuse},
        // bindfs started by root mounts directly, without the subtype.
        MountCase{"bindfs.txt", "/mnt/rootview/db", "/mnt/rootview", "fuse", "", "/srv/shared",
                  FsKind::kFuse},
        MountCase{"virtiofs.txt", "/srv/db/app.db", "/srv/db", "virtiofs", "", "kataShared",
                  FsKind::kVirtiofs},
        MountCase{"virtiofs.txt", "/etc", "/", "virtiofs", "", "kataShared", FsKind::kVirtiofs},
        MountCase{"9p.txt", "/mnt/c/Users/alice", "/mnt/c", "9p", "", "drvfs", FsKind::kNineP},
        MountCase{"9p.txt", "/srv/share", "/srv/share", "9p", "", "hostshare", FsKind::kNineP},
        MountCase{"nfs4_local_lock_none.txt", "/mnt/nfs/alice", "/mnt/nfs", "nfs4", "",
                  "fileserver:/export/home", FsKind::kNfs},
        MountCase{"nfs_local_lock_all.txt", "/srv/nfs3/app", "/srv/nfs3", "nfs", "",
                  "fileserver:/export/data", FsKind::kNfs},
        MountCase{"cifs.txt", "/mnt/share/db", "/mnt/share", "cifs", "", "//nas/share",
                  FsKind::kCifs},
        MountCase{"smb3.txt", "/mnt/smb/db", "/mnt/smb", "smb3", "", "//nas/backup", FsKind::kCifs},
        MountCase{"xfs.txt", "/var/lib/pgsql/data", "/var/lib/pgsql", "xfs", "",
                  "/dev/mapper/rhel-data", FsKind::kLocal},
        MountCase{"btrfs.txt", "/home/alice", "/home", "btrfs", "", "/dev/nvme0n1p3",
                  FsKind::kLocal},
        MountCase{"zfs.txt", "/tank/data/app", "/tank/data", "zfs", "", "tank/data",
                  FsKind::kLocal},
        MountCase{"zfs.txt", "/tank/other", "/", "zfs", "", "rpool/ROOT/ubuntu", FsKind::kLocal},
        // Escapes: \040 space, \011 tab, \134 backslash.
        MountCase{"escaped.txt", "/mnt/my disk/app", "/mnt/my disk", "ext4", "",
                  "/dev/disk/by-label/My Disk", FsKind::kLocal},
        MountCase{"escaped.txt", "/mnt/my/app", "/mnt/my", "xfs", "", "/dev/sdb1", FsKind::kLocal},
        MountCase{"escaped.txt", "/mnt/tab\tdir/x", "/mnt/tab\tdir", "btrfs", "", "/dev/sdd1",
                  FsKind::kLocal},
        MountCase{"escaped.txt", "/mnt/back\\slash", "/mnt/back\\slash", "zfs", "",
                  "pool/back\\slash", FsKind::kLocal},
        // Component boundaries: /data does not hold /database or /datafile.
        MountCase{"nested.txt", "/database/app.db", "/database", "btrfs", "", "/dev/sdc1",
                  FsKind::kLocal},
        MountCase{"nested.txt", "/datafile", "/", "ext4", "", "/dev/sda2", FsKind::kLocal},
        MountCase{"nested.txt", "/data", "/data", "xfs", "", "/dev/sdb1", FsKind::kLocal},
        MountCase{"nested.txt", "/data/", "/data", "xfs", "", "/dev/sdb1", FsKind::kLocal},
        MountCase{"nested.txt", "/data/subway", "/data", "xfs", "", "/dev/sdb1", FsKind::kLocal},
        // Longest prefix, with several optional fields before " - ".
        MountCase{"nested.txt", "/data/sub/x", "/data/sub", "tmpfs", "", "tmpfs", FsKind::kTmpfs},
        // Two mounts stacked on /srv: the later one is the visible one.
        MountCase{"nested.txt", "/srv/www", "/srv", "ext4", "", "/dev/sde1", FsKind::kLocal}));

TEST(FindMount, KeepsOptionsRootAndDevice) {
  Result<MountInfo> nfs = FindMount(ReadFixture("nfs4_local_lock_none.txt"), "/mnt/nfs/a");
  ASSERT_TRUE(nfs.ok()) << nfs.error().ToString();
  EXPECT_EQ(nfs->mount_options, "rw,relatime");
  EXPECT_EQ(MountOptionValue(nfs->super_options, "local_lock"), "none");
  EXPECT_EQ(MountOptionValue(nfs->super_options, "vers"), "4.2");
  EXPECT_EQ(nfs->device, "0:52");

  Result<MountInfo> volume = FindMount(ReadFixture("docker_overlay.txt"), "/var/lib/app");
  ASSERT_TRUE(volume.ok()) << volume.error().ToString();
  EXPECT_EQ(volume->root, "/var/lib/docker/volumes/appdata/_data");

  // "C:\134;" in the file is "C:\;" once unescaped.
  Result<MountInfo> drvfs = FindMount(ReadFixture("9p.txt"), "/mnt/c");
  ASSERT_TRUE(drvfs.ok()) << drvfs.error().ToString();
  EXPECT_THAT(drvfs->super_options, HasSubstr("path=C:\\;uid=1000"));
}

TEST(FindMount, NfsLocalLockValues) {
  std::string text = ReadFixture("nfs_local_lock_all.txt");
  struct {
    const char* path;
    const char* value;
  } cases[] = {{"/srv/nfs3", "all"}, {"/srv/nfs-posix", "posix"}, {"/srv/nfs-flock", "flock"}};
  for (const auto& c : cases) {
    Result<MountInfo> mount = FindMount(text, c.path);
    ASSERT_TRUE(mount.ok()) << mount.error().ToString();
    EXPECT_EQ(MountOptionValue(mount->super_options, "local_lock"), c.value) << c.path;
  }
}

TEST(FindMount, CifsNobrl) {
  std::string text = ReadFixture("cifs.txt");
  Result<MountInfo> plain = FindMount(text, "/mnt/share");
  Result<MountInfo> nobrl = FindMount(text, "/mnt/share-nobrl/db");
  ASSERT_TRUE(plain.ok() && nobrl.ok());
  EXPECT_FALSE(HasMountOption(plain->super_options, "nobrl"));
  EXPECT_TRUE(HasMountOption(nobrl->super_options, "nobrl"));
  EXPECT_EQ(nobrl->mount_point, "/mnt/share-nobrl");
}

TEST(FindMount, MountOptionHelpers) {
  EXPECT_EQ(MountOptionValue("rw,local_lock=none", "local_lock"), "none");
  EXPECT_EQ(MountOptionValue("rw,xlocal_lock=all,local_lock=posix", "local_lock"), "posix");
  EXPECT_EQ(MountOptionValue("rw,local_lock", "local_lock"), "");
  EXPECT_EQ(MountOptionValue("", "local_lock"), "");
  EXPECT_TRUE(HasMountOption("nobrl", "nobrl"));
  EXPECT_FALSE(HasMountOption("rw,nobrlx,brl=1", "nobrl"));
}

TEST(FindMount, Errors) {
  std::string text = ReadFixture("ext4_root.txt");
  EXPECT_EQ(FindMount(text, "relative/path").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FindMount(text, "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FindMount("", "/x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(FindMount("29 22 8:3 / /data rw - xfs /dev/sdb1 rw\n", "/other").status().code(),
            StatusCode::kNotFound);
  // No " - " separator, too few fields after it, a relative mount point.
  for (const char* bad :
       {"22 1 8:2 / / rw,relatime shared:1 ext4 /dev/sda2 rw",
        "22 1 8:2 / / rw,relatime - ext4 /dev/sda2", "22 1 8:2 / data rw - ext4 /dev/sda2 rw"}) {
    Result<MountInfo> mount = FindMount(text + bad + "\n", "/x");
    EXPECT_EQ(mount.status().code(), StatusCode::kInvalidArgument) << bad;
    if (!mount.ok()) {
      EXPECT_THAT(std::string(mount.error().message()), HasSubstr("line 8"));
    }
  }
}

TEST(FindMount, ThisProcessesMountTable) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  Result<MountInfo> proc = FindMount(text.str(), "/proc/self");
  ASSERT_TRUE(proc.ok()) << proc.error().ToString();
  EXPECT_EQ(proc->fs_type, "proc");
  EXPECT_EQ(ClassifyFsType(proc->fs_type), FsKind::kUnknown);
}

TEST(Classify, TypeNames) {
  for (const char* type : {"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs"}) {
    EXPECT_EQ(ClassifyFsType(type), FsKind::kLocal) << type;
  }
  EXPECT_EQ(ClassifyFsType("tmpfs"), FsKind::kTmpfs);
  EXPECT_EQ(ClassifyFsType("overlay"), FsKind::kOverlay);
  EXPECT_EQ(ClassifyFsType("fuse"), FsKind::kFuse);
  EXPECT_EQ(ClassifyFsType("fuseblk"), FsKind::kFuse);
  EXPECT_EQ(ClassifyFsType("fuse.sshfs"), FsKind::kFuse);
  EXPECT_EQ(ClassifyFsType("virtiofs"), FsKind::kVirtiofs);
  EXPECT_EQ(ClassifyFsType("9p"), FsKind::kNineP);
  EXPECT_EQ(ClassifyFsType("nfs"), FsKind::kNfs);
  EXPECT_EQ(ClassifyFsType("nfs4"), FsKind::kNfs);
  EXPECT_EQ(ClassifyFsType("cifs"), FsKind::kCifs);
  EXPECT_EQ(ClassifyFsType("smb3"), FsKind::kCifs);
  EXPECT_EQ(ClassifyFsType("vfat"), FsKind::kUnknown);
  EXPECT_EQ(ClassifyFsType("fakeowner"), FsKind::kUnknown);
}

TEST(Classify, StatfsMagic) {
  EXPECT_EQ(ClassifyStatfsMagic(0xEF53), FsKind::kLocal);
  EXPECT_EQ(ClassifyStatfsMagic(0x58465342), FsKind::kLocal);
  EXPECT_EQ(ClassifyStatfsMagic(0x9123683E), FsKind::kLocal);
  EXPECT_EQ(ClassifyStatfsMagic(kTmpfsMagic), FsKind::kTmpfs);
  EXPECT_EQ(ClassifyStatfsMagic(0x794C7630), FsKind::kOverlay);
  EXPECT_EQ(ClassifyStatfsMagic(kFuseMagic), FsKind::kFuse);
  EXPECT_EQ(ClassifyStatfsMagic(0x01021997), FsKind::kNineP);
  EXPECT_EQ(ClassifyStatfsMagic(0x6969), FsKind::kNfs);
  EXPECT_EQ(ClassifyStatfsMagic(0xFF534D42), FsKind::kCifs);
  EXPECT_EQ(ClassifyStatfsMagic(0xFE534D42), FsKind::kCifs);
  // f_type can arrive sign-extended on 32-bit ABIs.
  EXPECT_EQ(ClassifyStatfsMagic(static_cast<std::int32_t>(0xFF534D42)), FsKind::kCifs);
  EXPECT_EQ(ClassifyStatfsMagic(0x12345678), FsKind::kUnknown);
}

// ---------------------------------------------------------------------------
// Real probes

void ExpectEverythingWorks(const ProbeReport& report) {
  EXPECT_TRUE(report.posix_locks_visible);
  EXPECT_TRUE(report.ofd_locks_visible);
  EXPECT_TRUE(report.shared_memory_coherent);
  for (const std::string& reason : report.reasons) EXPECT_THAT(reason, Not(HasSubstr("NOT")));
}

TEST(ProbeDirectory, LocalDisk) {
  std::string parent = LocalDiskParent();
  if (parent.empty()) GTEST_SKIP() << "no writable directory on a block-device filesystem";
  TempDir dir(parent);
  ASSERT_TRUE(dir.ok());
  Result<ProbeReport> report = ProbeDirectory(dir.path());
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->kind, FsKind::kLocal);
  EXPECT_EQ(report->directory, std::filesystem::canonical(dir.path()).string());
  EXPECT_FALSE(report->mount.mount_point.empty());
  ExpectEverythingWorks(*report);
  EXPECT_THAT(ProbeLeftovers(dir.path()), IsEmpty());

  JournalPolicy policy = ChoosePolicy(*report);
  EXPECT_TRUE(policy.allow_wal) << policy.reason;
  EXPECT_TRUE(policy.allow_rollback);
  EXPECT_TRUE(policy.allow_multi_process);
}

// A tmpfs of our own, mounted in a private mount namespace (root only), for
// machines where /dev/shm is not tmpfs.
class PrivateTmpfs {
 public:
  PrivateTmpfs() {
    std::string pattern = "/tmp/probe_test_tmpfs.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) return;
    path_ = pattern;
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0) {
      error_ = std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  PrivateTmpfs(const PrivateTmpfs&) = delete;
  PrivateTmpfs& operator=(const PrivateTmpfs&) = delete;
  ~PrivateTmpfs() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
    if (!path_.empty()) rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  std::string error_ = "mkdtemp failed";
  bool mounted_ = false;
};

TEST(ProbeDirectory, Tmpfs) {
  std::string parent = "/dev/shm";
  std::optional<PrivateTmpfs> own;
  if (StatfsMagic(parent) != kTmpfsMagic) {
    if (geteuid() != 0) GTEST_SKIP() << "/dev/shm is not tmpfs and only root can mount one";
    own.emplace();
    ASSERT_EQ(StatfsMagic(own->path()), kTmpfsMagic) << "mounting a tmpfs: " << own->error();
    parent = own->path();
  }
  TempDir dir(parent);
  ASSERT_TRUE(dir.ok());
  Result<ProbeReport> report = ProbeDirectory(dir.path());
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->kind, FsKind::kTmpfs);
  EXPECT_EQ(report->mount.fs_type, "tmpfs");
  ExpectEverythingWorks(*report);
  EXPECT_TRUE(ChoosePolicy(*report).allow_wal);
  EXPECT_THAT(ProbeLeftovers(dir.path()), IsEmpty());
}

// Measured on Linux 6.x with bindfs 1.14: within one bindfs mount the
// kernel's FUSE layer keeps one lock table and one page cache per inode, so
// a single mount probed by itself passes both probes. The policy still
// refuses WAL, because another mount of the same directory (next test) is
// a separate lock domain that no probe through this mount can see.
TEST(ProbeDirectory, BindfsMount) {
  TempDir dir(LocalDiskParent().empty() ? "/tmp" : LocalDiskParent());
  ASSERT_TRUE(dir.ok());
  std::string source = dir.Sub("source");
  std::string view = dir.Sub("view");
  BindfsMount mount(source, view);
  ASSERT_BINDFS(mount);

  Result<ProbeReport> report = ProbeDirectory(view);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->kind, FsKind::kFuse);
  EXPECT_EQ(report->mount.fs_type, "fuse");
  // "bindfs" when mounted through fusermount; root's bindfs mounts directly
  // and the kernel records no subtype.
  EXPECT_THAT(report->mount.fs_subtype, ::testing::AnyOf("", "bindfs"));
  EXPECT_EQ(report->mount.mount_point, std::filesystem::canonical(view).string());
  EXPECT_EQ(report->mount.source, source);
  EXPECT_TRUE(report->posix_locks_visible);
  EXPECT_TRUE(report->ofd_locks_visible);
  EXPECT_TRUE(report->shared_memory_coherent);
  EXPECT_THAT(ProbeLeftovers(source), IsEmpty());

  JournalPolicy policy = ChoosePolicy(*report);
  EXPECT_FALSE(policy.allow_wal);
  EXPECT_TRUE(policy.allow_rollback);
  EXPECT_TRUE(policy.allow_multi_process);
  EXPECT_THAT(policy.reason, HasSubstr("another mount"));
}

// The limit of any probe: two bindfs mounts of one directory are two lock
// domains. An OFD lock taken through one is not seen through the other,
// although both mounts pass the probe on their own.
TEST(ProbeDirectory, TwoBindfsMountsAreTwoLockDomains) {
  TempDir dir(LocalDiskParent().empty() ? "/tmp" : LocalDiskParent());
  ASSERT_TRUE(dir.ok());
  std::string source = dir.Sub("source");
  std::string a = dir.Sub("a");
  std::string b = dir.Sub("b");
  BindfsMount mount_a(source, a);
  ASSERT_BINDFS(mount_a);
  BindfsMount mount_b(source, b);
  ASSERT_BINDFS(mount_b);

  int fd_a = open((a + "/shared").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd_a, 0) << std::strerror(errno);
  int fd_b = open((b + "/shared").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd_b, 0) << std::strerror(errno);
  int fd_a2 = open((a + "/shared").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd_a2, 0) << std::strerror(errno);

  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_len = 1;
  ASSERT_EQ(fcntl(fd_a, F_OFD_SETLK, &lock), 0) << std::strerror(errno);

  struct flock same_mount = {};
  same_mount.l_type = F_WRLCK;
  same_mount.l_whence = SEEK_SET;
  same_mount.l_len = 1;
  struct flock other_mount = same_mount;
  ASSERT_EQ(fcntl(fd_a2, F_OFD_GETLK, &same_mount), 0);
  ASSERT_EQ(fcntl(fd_b, F_OFD_GETLK, &other_mount), 0);
  EXPECT_EQ(same_mount.l_type, F_WRLCK) << "a lock is visible within one mount";
  EXPECT_EQ(other_mount.l_type, F_UNLCK) << "a lock is invisible through the other mount";
  close(fd_a2);
  close(fd_b);
  close(fd_a);

  for (const std::string& view : {a, b}) {
    Result<ProbeReport> report = ProbeDirectory(view);
    ASSERT_TRUE(report.ok()) << report.error().ToString();
    EXPECT_TRUE(report->posix_locks_visible && report->ofd_locks_visible) << view;
    EXPECT_FALSE(ChoosePolicy(*report).allow_wal) << view;
  }
}

// A mount hidden under a later one: the longest mount point in mountinfo
// names the hidden tmpfs, while the path really reaches the disk bound over
// it. statfs describes the inode we opened, so it wins. The mounts live in
// a private mount namespace of a child process.
TEST(ProbeDirectory, StatfsWinsOverAHiddenMountEntry) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount";
  std::string parent = LocalDiskParent();
  if (parent.empty()) GTEST_SKIP() << "no writable directory on a block-device filesystem";
  TempDir dir(parent);
  ASSERT_TRUE(dir.ok());
  std::string top = dir.Sub("top");
  std::string hidden = dir.Sub("top/sub");
  std::string over = dir.Sub("over");
  dir.Sub("over/sub");
  EXPECT_EXIT(
      {
        if (unshare(CLONE_NEWNS) != 0 ||
            mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            mount("tmpfs", hidden.c_str(), "tmpfs", 0, "size=1m") != 0 ||
            mount(over.c_str(), top.c_str(), nullptr, MS_BIND, nullptr) != 0) {
          std::fprintf(stderr, "mount setup: %s\n", std::strerror(errno));
          std::_Exit(2);
        }
        Result<ProbeReport> report = ProbeDirectory(hidden);
        if (!report.ok()) {
          std::fprintf(stderr, "%s\n", report.error().ToString().c_str());
          std::_Exit(3);
        }
        bool explained = false;
        for (const std::string& reason : report->reasons) {
          explained = explained || reason.find("trusting statfs") != std::string::npos;
        }
        std::fprintf(stderr, "kind=%s fs_type=%s explained=%d\n",
                     std::string(FsKindName(report->kind)).c_str(), report->mount.fs_type.c_str(),
                     explained);
        std::_Exit(report->kind == FsKind::kLocal && report->mount.mount_point.empty() && explained
                       ? 0
                       : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// The probes' negative answers, measured: the child reaches the probe file
// through a second bindfs mount of the same directory, as a container
// behind a Docker Desktop bind mount would.
TEST(ProbeInternals, ChildBehindAnotherMountSeesNothing) {
  TempDir dir(LocalDiskParent().empty() ? "/tmp" : LocalDiskParent());
  ASSERT_TRUE(dir.ok());
  std::string source = dir.Sub("source");
  std::string a = dir.Sub("a");
  std::string b = dir.Sub("b");
  BindfsMount mount_a(source, a);
  ASSERT_BINDFS(mount_a);
  BindfsMount mount_b(source, b);
  ASSERT_BINDFS(mount_b);

  posix::Env* env = posix::Env::Default();
  Result<probe_internal::ProbeFile> file = probe_internal::ProbeFile::Create(env, a);
  ASSERT_TRUE(file.ok()) << file.error().ToString();
  std::string through_b = b + file->path().substr(a.size());

  Result<probe_internal::LockProbeResult> locks =
      probe_internal::RunLockProbe(env, *file, through_b);
  ASSERT_TRUE(locks.ok()) << locks.error().ToString();
  EXPECT_FALSE(locks->posix_visible) << locks->detail;
  EXPECT_FALSE(locks->ofd_visible) << locks->detail;
  EXPECT_THAT(locks->detail, HasSubstr("was NOT visible here (F_GETLK)"));
  EXPECT_THAT(locks->detail, HasSubstr("was NOT visible here (F_OFD_GETLK)"));

  // Through b the file still has the size b cached when the lock probe's
  // child opened it (0 bytes; FUSE caches attributes for a second), so the
  // child does not map it. Past that second it maps and sees nothing.
  Result<probe_internal::MmapProbeResult> stale =
      probe_internal::RunMmapProbe(env, *file, through_b, std::chrono::milliseconds(200));
  ASSERT_TRUE(stale.ok()) << stale.error().ToString();
  EXPECT_FALSE(stale->coherent) << stale->detail;
  EXPECT_THAT(stale->detail, ::testing::AnyOf(HasSubstr("sees the file as 0 bytes long"),
                                              HasSubstr("did not share memory")));

  // A second file, which mount b has not looked at yet: the child maps it,
  // and neither side's store reaches the other.
  Result<probe_internal::ProbeFile> fresh = probe_internal::ProbeFile::Create(env, a);
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  auto start = std::chrono::steady_clock::now();
  Result<probe_internal::MmapProbeResult> shm = probe_internal::RunMmapProbe(
      env, *fresh, b + fresh->path().substr(a.size()), std::chrono::milliseconds(200));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(shm.ok()) << shm.error().ToString();
  EXPECT_FALSE(shm->coherent) << shm->detail;
  EXPECT_THAT(shm->detail, HasSubstr("did not share memory"));
  // Both directions waited out their deadline, and no longer.
  EXPECT_GE(took, std::chrono::milliseconds(400));
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(ProbeDirectory, Errors) {
  TempDir dir("/tmp");
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(ProbeDirectory("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ProbeDirectory(dir.path() + "/missing").status().code(), StatusCode::kNotFound);
  std::string file = dir.path() + "/file";
  std::ofstream(file) << "x";
  EXPECT_EQ(ProbeDirectory(file).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ProbeDirectoryCached(file).status().code(), StatusCode::kInvalidArgument);
}

constexpr std::string_view kProbeFiles = "/.sqlsteward-probe-";
using Op = testing::FaultEnv::Op;

TEST(ProbeDirectory, UnwritableDirectoryIsPermissionDenied) {
  TempDir dir("/tmp");
  ASSERT_TRUE(dir.ok());
  testing::FaultEnv env;
  env.FailAlways(Op::kOpen, EACCES, std::string(kProbeFiles));
  Result<ProbeReport> report = probe_internal::ProbeDirectory(&env, dir.path());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(report.error().sys_errno(), EACCES);
  EXPECT_THAT(std::string(report.error().hint()), HasSubstr("writable"));
}

TEST(ProbeDirectory, FallsBackToStatfsWithoutMountinfo) {
  TempDir dir("/dev/shm");
  ASSERT_TRUE(dir.ok());
  ASSERT_EQ(StatfsMagic(dir.path()), kTmpfsMagic) << "this test expects /dev/shm to be tmpfs";
  testing::FaultEnv env;
  env.FailAlways(Op::kOpen, EACCES, "/proc/self/mountinfo");
  Result<ProbeReport> report = probe_internal::ProbeDirectory(&env, dir.path());
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->kind, FsKind::kTmpfs);
  EXPECT_EQ(report->mount.fs_type, "tmpfs");
  EXPECT_THAT(report->mount.mount_point, IsEmpty());
  ASSERT_FALSE(report->reasons.empty());
  EXPECT_THAT(report->reasons[0], HasSubstr("unreadable"));
  EXPECT_THAT(report->reasons[1], HasSubstr("statfs(2) reports magic 0x1021994 (tmpfs)"));
}

TEST(ProbeDirectory, CachedPerDirectory) {
  TempDir dir("/tmp");
  ASSERT_TRUE(dir.ok());
  ClearProbeCache();
  testing::FaultEnv env;
  Result<ProbeReport> cold = probe_internal::ProbeDirectoryCached(&env, dir.path());
  ASSERT_TRUE(cold.ok()) << cold.error().ToString();
  EXPECT_EQ(env.Calls(Op::kOpen, kProbeFiles), 1);

  auto start = std::chrono::steady_clock::now();
  Result<ProbeReport> warm = probe_internal::ProbeDirectoryCached(&env, dir.path() + "/./");
  auto warm_time = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(warm.ok()) << warm.error().ToString();
  EXPECT_EQ(env.Calls(Op::kOpen, kProbeFiles), 1) << "a warm call must not probe again";
  EXPECT_EQ(warm->directory, cold->directory);
  EXPECT_EQ(warm->reasons, cold->reasons);
  EXPECT_LT(warm_time, std::chrono::milliseconds(50));

  // Another directory is another entry; clearing forgets both.
  TempDir other("/tmp");
  ASSERT_TRUE(probe_internal::ProbeDirectoryCached(&env, other.path()).ok());
  EXPECT_EQ(env.Calls(Op::kOpen, kProbeFiles), 2);
  ClearProbeCache();
  ASSERT_TRUE(probe_internal::ProbeDirectoryCached(&env, dir.path()).ok());
  EXPECT_EQ(env.Calls(Op::kOpen, kProbeFiles), 3);
}

// A filesystem mounted over a cached directory is a new directory.
TEST(ProbeDirectory, CacheSeesAMountOverTheDirectory) {
  TempDir dir(LocalDiskParent().empty() ? "/tmp" : LocalDiskParent());
  ASSERT_TRUE(dir.ok());
  std::string source = dir.Sub("source");
  std::string target = dir.Sub("target");
  ClearProbeCache();
  Result<ProbeReport> before = ProbeDirectoryCached(target);
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  EXPECT_NE(before->kind, FsKind::kFuse);

  BindfsMount mount(source, target);
  ASSERT_BINDFS(mount);
  Result<ProbeReport> after = ProbeDirectoryCached(target);
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_EQ(after->kind, FsKind::kFuse);
  ClearProbeCache();
}

TEST(ProbeDirectory, ConcurrentCallersFromThreads) {
  TempDir dir("/tmp");
  ASSERT_TRUE(dir.ok());
  ClearProbeCache();
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (std::size_t i = 0; i < ok.size(); ++i) {
    threads.emplace_back([&, i] {
      Result<ProbeReport> report =
          i % 2 == 0 ? ProbeDirectoryCached(dir.path()) : ProbeDirectory(dir.path());
      ok[i] = report.ok() && report->posix_locks_visible && report->ofd_locks_visible &&
              report->shared_memory_coherent;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (std::size_t i = 0; i < ok.size(); ++i) EXPECT_EQ(ok[i], 1) << "caller " << i;
  EXPECT_THAT(ProbeLeftovers(dir.path()), IsEmpty());
  ClearProbeCache();
}

// ---------------------------------------------------------------------------
// The probes one by one

TEST(ProbeInternals, ProbeFileIsPrivateAndRemoved) {
  TempDir dir("/tmp");
  ASSERT_TRUE(dir.ok());
  std::string path;
  {
    Result<probe_internal::ProbeFile> file =
        probe_internal::ProbeFile::Create(posix::Env::Default(), dir.path());
    ASSERT_TRUE(file.ok()) << file.error().ToString();
    path = file->path();
    EXPECT_THAT(path, HasSubstr("/.sqlsteward-probe-" + std::to_string(getpid()) + "-"));
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    probe_internal::ProbeFile moved = std::move(file).value();
    EXPECT_EQ(moved.path(), path);
  }
  struct stat st;
  EXPECT_NE(lstat(path.c_str(), &st), 0) << "probe file left behind";
}

TEST(ProbeInternals, LockAndMmapProbes) {
  TempDir dir("/tmp");
  ASSERT_TRUE(dir.ok());
  posix::Env* env = posix::Env::Default();
  Result<probe_internal::ProbeFile> file = probe_internal::ProbeFile::Create(env, dir.path());
  ASSERT_TRUE(file.ok()) << file.error().ToString();

  Result<probe_internal::LockProbeResult> locks = probe_internal::RunLockProbe(env, *file);
  ASSERT_TRUE(locks.ok()) << locks.error().ToString();
  EXPECT_TRUE(locks->posix_visible) << locks->detail;
  EXPECT_TRUE(locks->ofd_visible) << locks->detail;
  // The child released its locks when it exited.
  struct flock query = {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  query.l_len = 2;
  ASSERT_EQ(fcntl(file->fd(), F_OFD_GETLK, &query), 0);
  EXPECT_EQ(query.l_type, F_UNLCK);

  Result<probe_internal::MmapProbeResult> shm = probe_internal::RunMmapProbe(env, *file);
  ASSERT_TRUE(shm.ok()) << shm.error().ToString();
  EXPECT_TRUE(shm->coherent) << shm->detail;
}

// ---------------------------------------------------------------------------
// Policy

ProbeReport Report(FsKind kind, bool posix, bool ofd, bool shm) {
  ProbeReport report;
  report.directory = "/srv/app";
  report.kind = kind;
  report.mount.fs_type = std::string(FsKindName(kind));
  report.posix_locks_visible = posix;
  report.ofd_locks_visible = ofd;
  report.shared_memory_coherent = shm;
  return report;
}

TEST(ChoosePolicy, WalOnSingleDomainFilesystems) {
  for (FsKind kind : {FsKind::kLocal, FsKind::kTmpfs, FsKind::kOverlay}) {
    JournalPolicy policy = ChoosePolicy(Report(kind, true, true, true));
    EXPECT_TRUE(policy.allow_wal) << FsKindName(kind);
    EXPECT_TRUE(policy.allow_rollback);
    EXPECT_TRUE(policy.allow_multi_process);
    EXPECT_THAT(policy.reason, HasSubstr("WAL is safe"));
  }
}

TEST(ChoosePolicy, NoWalWhereAnotherDomainCanHideEvenIfTheProbePassed) {
  for (FsKind kind : {FsKind::kFuse, FsKind::kVirtiofs, FsKind::kNineP, FsKind::kNfs, FsKind::kCifs,
                      FsKind::kUnknown}) {
    JournalPolicy policy = ChoosePolicy(Report(kind, true, true, true));
    EXPECT_FALSE(policy.allow_wal) << FsKindName(kind);
    EXPECT_TRUE(policy.allow_rollback) << FsKindName(kind);
    EXPECT_TRUE(policy.allow_multi_process) << FsKindName(kind);
    EXPECT_THAT(policy.reason, HasSubstr("cannot see")) << FsKindName(kind);
  }
}

TEST(ChoosePolicy, RollbackWhenSharedMemoryIsNotCoherent) {
  JournalPolicy policy = ChoosePolicy(Report(FsKind::kLocal, true, true, false));
  EXPECT_FALSE(policy.allow_wal);
  EXPECT_TRUE(policy.allow_rollback);
  EXPECT_TRUE(policy.allow_multi_process);
  EXPECT_THAT(policy.reason, HasSubstr("rollback journal"));
}

TEST(ChoosePolicy, OneProcessOnlyWhenLocksAreInvisible) {
  struct {
    bool posix;
    bool ofd;
    const char* named;
  } cases[] = {{false, false, "POSIX and OFD locks"},
               {false, true, "POSIX locks"},
               {true, false, "OFD locks"}};
  for (const auto& c : cases) {
    for (bool shm : {true, false}) {
      JournalPolicy policy = ChoosePolicy(Report(FsKind::kLocal, c.posix, c.ofd, shm));
      EXPECT_FALSE(policy.allow_multi_process) << c.named;
      EXPECT_FALSE(policy.allow_wal) << c.named;
      EXPECT_TRUE(policy.allow_rollback) << c.named;
      EXPECT_THAT(policy.reason, HasSubstr(c.named));
      EXPECT_THAT(policy.reason, HasSubstr("named volume"));
    }
  }
}

TEST(ChoosePolicy, HostLocalLocksAreNamed) {
  ProbeReport nfs = Report(FsKind::kNfs, true, true, true);
  nfs.nfs_local_lock = "all";
  EXPECT_THAT(ChoosePolicy(nfs).reason, HasSubstr("local_lock=all"));
  nfs.nfs_local_lock = "none";
  EXPECT_THAT(ChoosePolicy(nfs).reason, Not(HasSubstr("local_lock")));

  ProbeReport cifs = Report(FsKind::kCifs, true, true, true);
  cifs.mount.super_options = "rw,vers=3.0,nobrl";
  EXPECT_THAT(ChoosePolicy(cifs).reason, HasSubstr("nobrl"));
}

}  // namespace
}  // namespace sqlsteward
