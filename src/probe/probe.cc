// The environment probe.
//
// Why each probe exists:
//
// * Mount table. The filesystem type decides what can be trusted beyond
//   what a test on this host can show. A FUSE, virtiofs, 9p, NFS or SMB
//   directory can be reached at the same time through another mount, VM or
//   host whose locks and page cache never meet ours (opencode #14194: Docker
//   Desktop's grpcfuse), and no test run here can see that other side. We
//   take the longest mount point in /proc/self/mountinfo that holds the
//   canonical directory, because statfs(2) alone cannot tell virtiofs from
//   any other FUSE filesystem. statfs is the fallback when mountinfo is
//   unreadable, and a cross-check: it describes the very inode we opened,
//   so when the two disagree (a mount hidden under a later one) statfs wins.
//
// * Lock probe. SQLite keeps processes apart with POSIX byte-range locks;
//   our write queue and registry use OFD locks. Both only help if a lock
//   taken by one process is seen by another. A FUSE daemon, an NFS client
//   without lockd or an SMB mount with nobrl can accept a lock and keep it
//   to itself. So a child process takes a POSIX lock on one byte and an OFD
//   lock on another byte of a probe file, through its own open(), and waits;
//   we ask F_GETLK / F_OFD_GETLK through our own descriptor. The child holds
//   the locks until we tell it to go, so no sleep decides the outcome.
//
// * Shared-memory probe. WAL's index (<db>-shm) is a file mapped MAP_SHARED
//   by every process; if their mappings are not one memory, readers and
//   writers work from different indexes and the database is corrupted while
//   every commit "succeeds". A child maps the probe file and stores a nonce;
//   we wait for it to show in our own mapping, then store another nonce for
//   the child to see. A value that arrives answers at once; one that never
//   arrives is only known after a deadline (1 s). A child whose view of the
//   file is shorter than ours (stale FUSE attributes) would die of SIGBUS
//   on touching the mapping: it checks the size first, and a SIGBUS death is
//   a negative answer too. Through two bindfs mounts of one directory both
//   probes answer no (probe_test measures it).
//
// The children are forked, not exec'd, and may run in a multithreaded
// process: between fork and _exit they make only async-signal-safe system
// calls (open, fstat, fcntl, mmap, read, write, dup2, close_range,
// clock_gettime, nanosleep) on data prepared before the fork, and use raw
// calls rather than the Env, since they stand in for a foreign process.
// Each child first closes every descriptor it inherited but its own
// socket: another thread's probe running at the same moment must still see
// EOF from its own child.
//
// Policy (ChoosePolicy): locks not visible -> one process only; shared
// memory not coherent, or a filesystem that another kernel or mount can
// share -> rollback journal; otherwise WAL.

#include "sqlsteward/probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "posix/env.h"
#include "probe/probes.h"

namespace sqlsteward {
namespace {

using Millis = std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Mount table

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

std::string FullType(const MountInfo& mount) {
  return mount.fs_subtype.empty() ? mount.fs_type : mount.fs_type + "." + mount.fs_subtype;
}

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

const char* StatfsMagicName(std::int64_t f_type) {
  const Magic* magic = FindMagic(f_type);
  return magic == nullptr ? "unknown" : magic->name;
}

std::string Hex(std::uint64_t value) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, value);
  return buf;
}

// ---------------------------------------------------------------------------
// Helpers for the probes

std::uint64_t Random64() {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof value, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof value)) {
    return value;
  }
  // No entropy yet (early boot): uniqueness is all the name needs, and
  // O_EXCL catches the rest.
  static std::atomic<std::uint64_t> counter{0};
  auto now =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::uint64_t pid = static_cast<std::uint32_t>(getpid());
  return (now ^ (pid << 32)) * std::uint64_t{0x9E3779B97F4A7C15} + counter.fetch_add(1);
}

std::uint64_t NonZeroRandom() {
  std::uint64_t value = Random64();
  return value == 0 ? 1 : value;
}

std::int64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Async-signal-safe: polls `*slot` until it holds `want` or the monotonic
// clock passes `deadline_ns`. The pause between looks grows from 10 us to
// 1 ms; it only bounds CPU use, the answer does not depend on it.
bool AwaitValue(std::uint64_t* slot, std::uint64_t want, std::int64_t deadline_ns) {
  std::atomic_ref<std::uint64_t> value(*slot);
  long pause_ns = 10'000;
  for (;;) {
    if (value.load(std::memory_order_acquire) == want) return true;
    if (MonotonicNanos() >= deadline_ns) return value.load(std::memory_order_acquire) == want;
    struct timespec pause = {0, pause_ns};
    nanosleep(&pause, nullptr);
    if (pause_ns < 1'000'000) pause_ns *= 2;
  }
}

void Store(std::uint64_t* slot, std::uint64_t value) {
  std::atomic_ref<std::uint64_t>(*slot).store(value, std::memory_order_release);
}

struct flock WriteLockOn(off_t byte) {
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = byte;
  lock.l_len = 1;
  lock.l_pid = 0;  // must be 0 for F_OFD_*
  return lock;
}

// In a freshly forked child: closes every descriptor above stderr except
// `keep` and returns where `keep` now is. Another thread's probe may have
// forked us while its socket was open; holding that copy would keep its
// child or itself from ever seeing EOF. Async-signal-safe.
int KeepOnly(int keep) {
  constexpr int kFirst = STDERR_FILENO + 1;
  if (keep != kFirst) {
    if (dup2(keep, kFirst) < 0) return keep;  // then at least keep `keep` open
    keep = kFirst;
  }
  if (syscall(SYS_close_range, kFirst + 1, ~0U, 0) != 0) {
    for (int fd = kFirst + 1; fd < 65536; ++fd) close(fd);  // kernel before 5.9
  }
  return keep;
}

// A forked child joined to us by a SOCK_SEQPACKET socketpair (one message
// per send, EOF when either side goes away, no SIGPIPE for us).
class Child {
 public:
  // Forks; the child runs body(its socket) and _exits with the result.
  // `body` must be async-signal-safe.
  template <typename Body>
  static Result<Child> Start(Body&& body) {
    int sockets[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
      return posix::ErrnoStatus(errno, "socketpair", "probe");
    }
    pid_t pid = fork();
    if (pid < 0) {
      int err = errno;
      close(sockets[0]);
      close(sockets[1]);
      return posix::ErrnoStatus(err, "fork", "probe child");
    }
    if (pid == 0) _exit(body(KeepOnly(sockets[1])));
    close(sockets[1]);
    return Child(pid, sockets[0]);
  }

  Child(Child&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), socket_(std::exchange(other.socket_, -1)) {}
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // A child still running here is one we gave up on: kill it.
  ~Child() {
    if (pid_ > 0) kill(pid_, SIGKILL);
    Finish().IgnoreError();
  }

  pid_t pid() const { return pid_; }
  // The signal that killed the child, once reaped; else 0.
  int term_signal() const { return term_signal_; }

  // Receives one message of exactly `len` bytes within `timeout`.
  Status Receive(void* message, std::size_t len, Millis timeout) {
    std::int64_t deadline =
        MonotonicNanos() + static_cast<std::int64_t>(timeout.count()) * 1'000'000;
    for (;;) {
      std::int64_t left_ms = (deadline - MonotonicNanos()) / 1'000'000;
      struct pollfd pfd = {socket_, POLLIN, 0};
      int ready = poll(&pfd, 1, static_cast<int>(left_ms < 0 ? 0 : left_ms));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return posix::ErrnoStatus(errno, "poll", "probe child socket");
      if (ready == 0) {
        return Status(StatusCode::kTimeout,
                      "probe child " + std::to_string(pid_) + " did not answer within " +
                          std::to_string(timeout.count()) + " ms",
                      "the filesystem may be hung or very slow; check the mount and retry");
      }
      ssize_t got = recv(socket_, message, len, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return posix::ErrnoStatus(errno, "recv", "probe child socket");
      if (static_cast<std::size_t>(got) == len) return Status();
      std::string what = got == 0 ? "exited before answering" : "sent a short message";
      Status finished = Finish();
      return Status(
          StatusCode::kInternal,
          "probe child " + what +
              (finished.ok() ? std::string() : " (" + std::string(finished.message()) + ")"));
    }
  }

  Status Send(const void* message, std::size_t len) {
    ssize_t sent;
    do {
      sent = send(socket_, message, len, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return posix::ErrnoStatus(errno, "send", "probe child socket");
    return Status();
  }

  // Tells the child to exit (it waits for a byte or EOF) and reaps it.
  // Non-OK when it did not exit with status 0.
  Status Finish() {
    if (socket_ >= 0) {
      char quit = 'q';
      send(socket_, &quit, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      close(socket_);
      socket_ = -1;
    }
    if (pid_ <= 0) return Status();
    pid_t pid = std::exchange(pid_, -1);
    int wstatus = 0;
    pid_t reaped;
    do {
      reaped = waitpid(pid, &wstatus, 0);
    } while (reaped < 0 && errno == EINTR);
    // ECHILD: the application ignores SIGCHLD and the kernel reaped it.
    if (reaped < 0) {
      return errno == ECHILD ? Status() : posix::ErrnoStatus(errno, "waitpid", "probe child");
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status();
    if (WIFSIGNALED(wstatus)) term_signal_ = WTERMSIG(wstatus);
    std::string how = WIFSIGNALED(wstatus) ? "killed by signal " + std::to_string(WTERMSIG(wstatus))
                                           : "exit status " + std::to_string(WEXITSTATUS(wstatus));
    return Status(StatusCode::kInternal, "probe child " + std::to_string(pid) + " " + how);
  }

 private:
  Child(pid_t pid, int socket) : pid_(pid), socket_(socket) {}

  pid_t pid_;
  int socket_;
  int term_signal_ = 0;
};

class Mapping {
 public:
  Mapping(void* address, std::size_t len) : address_(address), len_(len) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (address_ != MAP_FAILED) munmap(address_, len_);
  }
  bool ok() const { return address_ != MAP_FAILED; }
  std::uint64_t* slot(std::size_t index) const {
    return static_cast<std::uint64_t*>(address_) + index;
  }

 private:
  void* address_;
  std::size_t len_;
};

// The child's slot and ours, one cache line apart.
constexpr std::size_t kChildSlot = 0;
constexpr std::size_t kParentSlot = 8;
constexpr off_t kPosixLockByte = 0;
constexpr off_t kOfdLockByte = 1;

// ---------------------------------------------------------------------------
// Filesystem identification

Result<posix::UniqueFd> OpenDirectory(posix::Env* env, const std::string& dir) {
  int fd = env->Open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (fd >= 0) return posix::UniqueFd(env, fd);
  int err = errno;
  if (err == ENOTDIR) {
    return Status(StatusCode::kInvalidArgument, "probe: " + dir + " is not a directory", {}, 0,
                  err);
  }
  if (err == ENOENT) {
    return posix::ErrnoStatus(err, "open", dir,
                              "create the directory before opening a database in it");
  }
  return posix::ErrnoStatus(err, "open", dir);
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
      return Status(StatusCode::kResourceExhausted, std::string(path) + " is larger than 64 MiB");
    }
    text.resize(old_size + kChunk);
    ssize_t got = env->Pread(fd, text.data() + old_size, kChunk, static_cast<off_t>(old_size));
    if (got < 0) return posix::ErrnoStatus(errno, "pread", path);
    text.resize(old_size + static_cast<std::size_t>(got));
    if (got == 0) return text;
  }
}

// Fills report->mount, kind, nfs_local_lock and the reasons for them.
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
          report->directory + " is on the " + FullType(report->mount) + " mount at " +
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
                                ", not " + FullType(report->mount) +
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

// True where every process that can open the directory runs on this
// kernel and goes through this mount's page cache and lock table, so that
// what the probe saw holds for all of them.
bool SingleDomainFilesystem(FsKind kind) {
  return kind == FsKind::kLocal || kind == FsKind::kTmpfs || kind == FsKind::kOverlay;
}

struct CacheKey {
  dev_t dev;
  ino_t ino;
  auto operator<=>(const CacheKey&) const = default;
};

struct ProbeCache {
  std::mutex mu;
  std::map<CacheKey, ProbeReport> reports;  // GUARDED_BY(mu)
};

ProbeCache& Cache() {
  static ProbeCache* cache = new ProbeCache;  // never destroyed: no exit-order hazards
  return *cache;
}

Result<CacheKey> DirectoryKey(posix::Env* env, const std::string& dir) {
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd fd, OpenDirectory(env, dir));
  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return posix::ErrnoStatus(errno, "fstat", dir);
  return CacheKey{st.st_dev, st.st_ino};
}

}  // namespace

// ---------------------------------------------------------------------------
// Public: mount table

Result<MountInfo> FindMount(std::string_view mountinfo_text, std::string_view path) {
  if (path.empty() || path[0] != '/') {
    return Status(StatusCode::kInvalidArgument,
                  "FindMount needs an absolute path, got '" + std::string(path) + "'");
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
      return Status(StatusCode::kInvalidArgument, "mountinfo line " + std::to_string(line_number) +
                                                      " does not parse: '" + std::string(line) +
                                                      "'");
    }
    // ">=": of mounts stacked on one directory the last one is visible.
    if (Holds(mount->mount_point, path) &&
        (!best || mount->mount_point.size() >= best->mount_point.size())) {
      best = std::move(mount);
    }
  }
  if (!best) {
    return Status(StatusCode::kNotFound, "no mount in mountinfo holds " + std::string(path));
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

// ---------------------------------------------------------------------------
// Probes

namespace probe_internal {

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
  return Status(StatusCode::kInternal,
                "probe: no unused probe file name in " + dir + " after 8 tries");
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

Result<LockProbeResult> RunLockProbe(posix::Env* env, const ProbeFile& file,
                                     const std::string& child_path, Millis child_timeout) {
  struct ChildReport {
    int open_errno;
    int posix_errno;
    int ofd_errno;
  };
  const char* path = child_path.empty() ? file.path().c_str() : child_path.c_str();
  auto body = [path](int sock) {
    ChildReport report = {0, 0, 0};
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      report.open_errno = errno;
    } else {
      struct flock posix_lock = WriteLockOn(kPosixLockByte);
      if (fcntl(fd, F_SETLK, &posix_lock) != 0) report.posix_errno = errno;
      struct flock ofd_lock = WriteLockOn(kOfdLockByte);
      if (fcntl(fd, F_OFD_SETLK, &ofd_lock) != 0) report.ofd_errno = errno;
    }
    if (write(sock, &report, sizeof report) != static_cast<ssize_t>(sizeof report)) return 1;
    // Hold the locks until the parent has looked (it sends a byte or goes away).
    char byte;
    while (read(sock, &byte, 1) < 0 && errno == EINTR) {
    }
    return 0;
  };
  SQLSTEWARD_ASSIGN_OR_RETURN(Child child, Child::Start(body));

  ChildReport report;
  SQLSTEWARD_RETURN_IF_ERROR(child.Receive(&report, sizeof report, child_timeout));
  if (report.open_errno != 0) {
    return posix::ErrnoStatus(report.open_errno, "open (probe child)", path);
  }

  LockProbeResult result;
  std::string who = "another process (pid " + std::to_string(child.pid()) + ")";
  struct flock query = WriteLockOn(kPosixLockByte);
  if (report.posix_errno != 0) {
    result.detail +=
        who + " could not take a POSIX lock: " + std::strerror(report.posix_errno) + ". ";
  } else if (env->FcntlLock(file.fd(), F_GETLK, &query) != 0) {
    result.detail += std::string("F_GETLK failed: ") + std::strerror(errno) + ". ";
  } else if (query.l_type == F_UNLCK) {
    result.detail += "A POSIX lock held by " + who + " was NOT visible here (F_GETLK). ";
  } else {
    result.posix_visible = true;
    result.detail += "A POSIX lock held by " + who + " was visible here (F_GETLK";
    if (query.l_pid != child.pid()) {
      result.detail += ", owner reported as pid " + std::to_string(query.l_pid);
    }
    result.detail += "). ";
  }

  query = WriteLockOn(kOfdLockByte);
  if (report.ofd_errno != 0) {
    result.detail += who + " could not take an OFD lock: " + std::strerror(report.ofd_errno) + ".";
  } else if (env->FcntlLock(file.fd(), F_OFD_GETLK, &query) != 0) {
    result.detail += std::string("F_OFD_GETLK failed: ") + std::strerror(errno) + ".";
  } else if (query.l_type == F_UNLCK) {
    result.detail += "An OFD lock held by " + who + " was NOT visible here (F_OFD_GETLK).";
  } else {
    result.ofd_visible = true;
    result.detail += "An OFD lock held by " + who + " was visible here (F_OFD_GETLK).";
  }

  Status finished = child.Finish();
  if (!finished.ok()) return finished.WithContext("lock probe");
  return result;
}

Result<MmapProbeResult> RunMmapProbe(posix::Env* env, const ProbeFile& file,
                                     const std::string& child_path, Millis value_deadline,
                                     Millis child_timeout) {
  long page = sysconf(_SC_PAGESIZE);
  std::size_t len = page > 0 ? static_cast<std::size_t>(page) : 4096;
  std::vector<char> zeros(len, 0);
  ssize_t wrote = env->Pwrite(file.fd(), zeros.data(), len, 0);
  if (wrote < 0) return posix::ErrnoStatus(errno, "pwrite", file.path());
  if (static_cast<std::size_t>(wrote) != len) {
    return Status(StatusCode::kIOError, "pwrite(" + file.path() + "): short write");
  }

  MmapProbeResult result;
  Mapping mine(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0), len);
  if (!mine.ok()) {
    result.detail =
        std::string("mmap(MAP_SHARED) of a file here failed: ") + std::strerror(errno) + ".";
    return result;
  }

  const std::uint64_t from_child = NonZeroRandom();
  std::uint64_t from_parent = NonZeroRandom();
  if (from_parent == from_child) from_parent = ~from_child;
  const std::int64_t deadline_ns = static_cast<std::int64_t>(value_deadline.count()) * 1'000'000;

  struct ChildMessage {
    int err;            // errno of the child's open or mmap; kShortFile
    int saw;            // the child saw from_parent in its mapping
    std::int64_t size;  // the file's size as the child sees it
  };
  constexpr int kShortFile = -1;
  const char* path = child_path.empty() ? file.path().c_str() : child_path.c_str();
  auto body = [=](int sock) {
    ChildMessage message = {0, 0, 0};
    void* address = MAP_FAILED;
    struct stat st;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
      message.err = errno;
    } else if (message.size = st.st_size; st.st_size < static_cast<off_t>(len)) {
      message.err = kShortFile;  // touching the mapping would raise SIGBUS
    } else {
      address = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (address == MAP_FAILED) message.err = errno;
    }
    auto* slots = static_cast<std::uint64_t*>(address);
    if (message.err == 0) Store(slots + kChildSlot, from_child);
    if (write(sock, &message, sizeof message) != static_cast<ssize_t>(sizeof message)) return 1;
    if (message.err != 0) return 0;
    char go;
    ssize_t got;
    do {
      got = read(sock, &go, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) return 0;
    message.saw =
        AwaitValue(slots + kParentSlot, from_parent, MonotonicNanos() + deadline_ns) ? 1 : 0;
    if (write(sock, &message, sizeof message) != static_cast<ssize_t>(sizeof message)) return 1;
    return 0;
  };
  SQLSTEWARD_ASSIGN_OR_RETURN(Child child, Child::Start(body));

  // A mapping whose pages the other side's kernel view does not back faults
  // with SIGBUS: a negative answer, not an error.
  auto sigbus = [&](const Status& status) -> Result<MmapProbeResult> {
    if (child.term_signal() != SIGBUS) return status.WithContext("shared-memory probe");
    result.detail =
        "Another process's MAP_SHARED mapping of the file faulted (SIGBUS): its view of the file "
        "does not match ours.";
    return result;
  };
  ChildMessage message;
  Status received = child.Receive(&message, sizeof message, child_timeout);
  if (!received.ok()) return sigbus(received);
  if (message.err != 0) {
    result.detail = message.err == kShortFile
                        ? "Another process sees the file as " + std::to_string(message.size) +
                              " bytes long after we wrote " + std::to_string(len) +
                              " to it: its view of the file lags ours."
                        : std::string("Another process could not map the file MAP_SHARED: ") +
                              std::strerror(message.err) + ".";
    Status finished = child.Finish();
    if (!finished.ok()) return finished.WithContext("shared-memory probe");
    return result;
  }
  bool parent_saw = AwaitValue(mine.slot(kChildSlot), from_child, MonotonicNanos() + deadline_ns);
  Store(mine.slot(kParentSlot), from_parent);
  char go = 'g';
  SQLSTEWARD_RETURN_IF_ERROR(child.Send(&go, 1));
  received = child.Receive(&message, sizeof message, value_deadline + child_timeout);
  if (!received.ok()) return sigbus(received);
  Status finished = child.Finish();
  if (!finished.ok()) return finished.WithContext("shared-memory probe");

  result.coherent = parent_saw && message.saw != 0;
  std::string limit = std::to_string(value_deadline.count()) + " ms";
  if (result.coherent) {
    result.detail = "Two processes mapping one file MAP_SHARED each read the other's store.";
  } else {
    result.detail =
        std::string("Two processes mapping one file MAP_SHARED did not share memory: ") +
        (parent_saw ? "we saw the other process's store"
                    : "the other process's store did not reach us within " + limit) +
        ", and " +
        (message.saw != 0 ? "it saw ours." : "ours did not reach it within " + limit + ".");
  }
  return result;
}

}  // namespace probe_internal

// ---------------------------------------------------------------------------
// Public: probing and policy

namespace probe_internal {

Result<ProbeReport> ProbeDirectory(posix::Env* env, const std::string& dir) {
  if (dir.empty()) return Status(StatusCode::kInvalidArgument, "probe: empty directory path");
  SQLSTEWARD_ASSIGN_OR_RETURN(posix::UniqueFd dir_fd, OpenDirectory(env, dir));
  ProbeReport report;
  if (env->RealPath(dir.c_str(), &report.directory) != 0) {
    return posix::ErrnoStatus(errno, "realpath", dir);
  }
  IdentifyFilesystem(env, dir_fd.get(), &report);

  SQLSTEWARD_ASSIGN_OR_RETURN(probe_internal::ProbeFile file,
                              probe_internal::ProbeFile::Create(env, report.directory));
  SQLSTEWARD_ASSIGN_OR_RETURN(probe_internal::LockProbeResult locks,
                              probe_internal::RunLockProbe(env, file));
  report.posix_locks_visible = locks.posix_visible;
  report.ofd_locks_visible = locks.ofd_visible;
  report.reasons.push_back(std::move(locks.detail));

  SQLSTEWARD_ASSIGN_OR_RETURN(probe_internal::MmapProbeResult shm,
                              probe_internal::RunMmapProbe(env, file));
  report.shared_memory_coherent = shm.coherent;
  report.reasons.push_back(std::move(shm.detail));
  return report;
}

Result<ProbeReport> ProbeDirectoryCached(posix::Env* env, const std::string& dir) {
  if (dir.empty()) return Status(StatusCode::kInvalidArgument, "probe: empty directory path");
  SQLSTEWARD_ASSIGN_OR_RETURN(CacheKey key, DirectoryKey(env, dir));
  ProbeCache& cache = Cache();
  {
    std::lock_guard<std::mutex> lock(cache.mu);
    auto it = cache.reports.find(key);
    if (it != cache.reports.end()) return it->second;
  }
  // Probe without the lock: a hung mount must not stall probes elsewhere.
  SQLSTEWARD_ASSIGN_OR_RETURN(ProbeReport report, ProbeDirectory(env, dir));
  std::lock_guard<std::mutex> lock(cache.mu);
  return cache.reports.try_emplace(key, std::move(report)).first->second;
}

}  // namespace probe_internal

Result<ProbeReport> ProbeDirectory(const std::string& dir) {
  return probe_internal::ProbeDirectory(posix::Env::Default(), dir);
}

Result<ProbeReport> ProbeDirectoryCached(const std::string& dir) {
  return probe_internal::ProbeDirectoryCached(posix::Env::Default(), dir);
}

void ClearProbeCache() {
  ProbeCache& cache = Cache();
  std::lock_guard<std::mutex> lock(cache.mu);
  cache.reports.clear();
}

JournalPolicy ChoosePolicy(const ProbeReport& report) {
  JournalPolicy policy;
  std::string where = report.directory.empty() ? std::string("this directory") : report.directory;
  std::string fs = FullType(report.mount);
  if (fs.empty()) fs = std::string(FsKindName(report.kind));
  where += " (" + fs + ")";

  if (!report.posix_locks_visible || !report.ofd_locks_visible) {
    policy.allow_multi_process = false;
    policy.allow_rollback = true;
    policy.allow_wal = false;
    std::string which = !report.posix_locks_visible && !report.ofd_locks_visible
                            ? "POSIX and OFD locks"
                        : !report.posix_locks_visible ? "POSIX locks"
                                                      : "OFD locks";
    policy.reason = which + " taken by one process are not visible to another on " + where +
                    ", so nothing keeps two processes from writing at once: only one process may "
                    "use a database here (exclusive mode, rollback journal). To share it, move it "
                    "to a local filesystem (for a container: a named volume, not a bind mount).";
    return policy;
  }

  policy.allow_multi_process = true;
  policy.allow_rollback = true;
  if (!report.shared_memory_coherent) {
    policy.allow_wal = false;
    policy.reason = "Locks work on " + where +
                    ", but two processes mapping one file MAP_SHARED did not see each other's "
                    "writes, so WAL's shared-memory index would diverge: use a rollback journal.";
  } else if (!SingleDomainFilesystem(report.kind)) {
    policy.allow_wal = false;
    std::string what = report.kind == FsKind::kUnknown
                           ? "filesystems of a type sqlsteward does not know"
                           : std::string(FsKindName(report.kind)) + " filesystems";
    policy.reason = "Locks and shared memory passed the probe on " + where + ", but " + what +
                    " can be reached through another mount, VM or host that a probe run here "
                    "cannot see, and WAL's shared memory is only shared within one kernel and "
                    "mount: use a rollback journal. Share the database only among processes that "
                    "use this same mount on this host.";
  } else {
    policy.allow_wal = true;
    policy.reason = "Locks and shared memory work between processes on " + where +
                    ", a filesystem only this kernel serves: WAL is safe.";
  }
  if (report.nfs_local_lock == "all" || report.nfs_local_lock == "posix") {
    policy.reason += " nfs local_lock=" + report.nfs_local_lock +
                     " keeps locks on this client: processes on other hosts must not open the "
                     "database.";
  }
  if (report.kind == FsKind::kCifs && (HasMountOption(report.mount.super_options, "nobrl") ||
                                       HasMountOption(report.mount.mount_options, "nobrl"))) {
    policy.reason +=
        " cifs nobrl keeps locks on this client: other SMB clients must not open the "
        "database.";
  }
  return policy;
}

}  // namespace sqlsteward
