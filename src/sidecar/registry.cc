#include "sidecar/registry.h"

#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <sstream>

#include <cstdlib>

#include "base/time.h"
#include "posix/file_lock.h"
#include "sidecar/sidecar.h"
#include "sqlsteward/probe.h"

namespace sqlsteward::internal {
namespace {

constexpr std::uint32_t kSlotMagic = 0x544F4C53;  // "SLOT"
constexpr std::size_t kBootIdBytes = 40;
constexpr std::size_t kHostBytes = 64;

// On-disk slot, little-endian (docs/formats.md). The owner writes only
// [12,16) and [40,56) after claiming; a handover requester only [56,68).
struct SlotRecord {
  std::uint32_t magic;
  std::uint32_t ownership;  // 1 shared, 2 exclusive
  std::int32_t pid;
  std::uint32_t state;  // 1 running, 2 stepping down
  std::uint64_t start_ticks;
  std::uint64_t pid_namespace;
  std::int64_t started_unix_ms;
  std::uint64_t heartbeat;
  std::int64_t heartbeat_unix_ms;
  std::uint64_t handover_seq;
  std::int32_t handover_requester;
  std::uint32_t reserved0;
  std::uint64_t nonce;
  char boot_id[kBootIdBytes];
  char host[kHostBytes];
  char reserved[72];
};
static_assert(sizeof(SlotRecord) == kSlotSize);
static_assert(offsetof(SlotRecord, state) == 12);
static_assert(offsetof(SlotRecord, heartbeat) == 40);
static_assert(offsetof(SlotRecord, handover_seq) == 56);
static_assert(offsetof(SlotRecord, boot_id) == 80);
constexpr off_t kStateOffset = offsetof(SlotRecord, state);
constexpr off_t kHeartbeatOffset = offsetof(SlotRecord, heartbeat);
constexpr off_t kHandoverOffset = offsetof(SlotRecord, handover_seq);

off_t SlotOffset(int slot) { return kSlotBase + static_cast<off_t>(slot) * kSlotSize; }

// A small file (a /proc entry, the claim file) read whole; "" on error.
std::string ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return {};
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string FirstLine(std::string text) { return text.substr(0, text.find('\n')); }

struct ProcStat {
  char state = '?';
  std::uint64_t start_ticks = 0;
};

// /proc/<pid>/stat fields 3 (state) and 22 (start time); zero if absent.
ProcStat ReadProcStat(std::int32_t pid) {
  ProcStat out;
  std::string text = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = text.rfind(')');  // The command name may contain spaces.
  if (close == std::string::npos || close + 2 >= text.size()) return out;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
    if (i == 3) out.state = field[0];
    if (i == 22) out.start_ticks = std::stoull(field);
  }
  return out;
}

std::uint64_t StartTicks(std::int32_t pid) { return ReadProcStat(pid).start_ticks; }

std::string FixedString(const char* bytes, std::size_t size) {
  return std::string(bytes, strnlen(bytes, size));
}

Status Malformed(const std::string& path, int slot, const std::string& what) {
  return Status(StatusCode::kCorruption,
                path + ": instance slot " + std::to_string(slot) + " is malformed (" + what + ")",
                "stop every instance of the database, then remove the sidecar; it is recreated");
}

Result<SlotScan> ParseSlot(const SlotRecord& rec, int slot, const std::string& path) {
  if (rec.ownership != 1 && rec.ownership != 2) return Malformed(path, slot, "ownership");
  if (rec.state != 1 && rec.state != 2) return Malformed(path, slot, "state");
  if (rec.pid <= 0) return Malformed(path, slot, "pid");
  if (strnlen(rec.boot_id, kBootIdBytes) == kBootIdBytes ||
      strnlen(rec.host, kHostBytes) == kHostBytes) {
    return Malformed(path, slot, "unterminated text");
  }
  SlotScan scan;
  scan.info.slot = slot;
  scan.info.pid = rec.pid;
  scan.info.host = FixedString(rec.host, kHostBytes);
  scan.info.boot_id = FixedString(rec.boot_id, kBootIdBytes);
  scan.info.started_unix_ms = rec.started_unix_ms;
  scan.info.ownership = rec.ownership == 2 ? Ownership::kExclusive : Ownership::kShared;
  scan.info.state = rec.state == 2 ? InstanceState::kSteppingDown : InstanceState::kRunning;
  scan.info.heartbeat = rec.heartbeat;
  scan.info.heartbeat_unix_ms = rec.heartbeat_unix_ms;
  scan.start_ticks = rec.start_ticks;
  scan.pid_namespace = rec.pid_namespace;
  scan.handover_seq = rec.handover_seq;
  scan.nonce = rec.nonce;
  return scan;
}

// True where every reader of the file goes through one kernel's page
// cache, so that a plain read returns what any process last wrote: the
// local filesystems, tmpfs and overlay. Not FUSE (each mount of a bindfs
// or Docker Desktop share has its own cache, which can serve another
// mount's write stale), nor network filesystems (each client caches).
bool PageCacheIsShared(int fd) {
  struct statfs fs;
  if (::fstatfs(fd, &fs) != 0) return false;
  const FsKind kind = ClassifyStatfsMagic(static_cast<std::int64_t>(fs.f_type));
  return kind == FsKind::kLocal || kind == FsKind::kTmpfs || kind == FsKind::kOverlay;
}

// All slots as the filesystem holds them now. Where the page cache is
// shared by every reader, a plain read. Elsewhere past the page cache:
// O_DIRECT where the filesystem has it, else a descriptor opened now, which
// FUSE and NFS revalidate. O_DIRECT everywhere would be a disk read per
// scan: Open's p99 was ~8 ms on a busy virtual disk.
Result<std::vector<SlotRecord>> ReadSlotsFresh(posix::Env* env, const std::string& path) {
  int raw = env->Open(path.c_str(), O_RDONLY | O_NOFOLLOW, 0);
  if (raw < 0) return posix::ErrnoStatus(errno, "open", path);
  posix::UniqueFd fd(env, raw);
  if (!PageCacheIsShared(fd.get())) {
    int direct = env->Open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_DIRECT, 0);
    if (direct >= 0) {
      fd = posix::UniqueFd(env, direct);
    } else if (errno != EINVAL) {
      return posix::ErrnoStatus(errno, "open", path);
    }
  }
  constexpr std::size_t kBytes = static_cast<std::size_t>(kMaxSlots * kSlotSize);
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, FreeDeleter> buf(std::aligned_alloc(4096, kBytes));
  if (buf == nullptr) return Status(StatusCode::kResourceExhausted, "out of memory");
  ssize_t n = env->Pread(fd.get(), buf.get(), kBytes, kSlotBase);
  if (n < 0) return posix::ErrnoStatus(errno, "pread", path);
  if (static_cast<std::size_t>(n) != kBytes) {
    return Status(StatusCode::kCorruption, path + " is shorter than its instance slots",
                  "if no sqlsteward process uses the database, move the file aside");
  }
  std::vector<SlotRecord> slots(kMaxSlots);
  std::memcpy(slots.data(), buf.get(), kBytes);
  return slots;
}

std::string Describe(const InstanceInfo& info) {
  const std::string when = IsoUtc(info.started_unix_ms);
  return "pid " + std::to_string(info.pid) + " on host " + info.host + " (started " + when +
         (info.ownership == Ownership::kExclusive ? ", exclusive" : ", shared") + ")";
}

// The O_EXCL arbiter. Holding it = the claim file exists with our nonce.
class ClaimMutex {
 public:
  ClaimMutex(posix::Env* env, std::string path) : env_(env), path_(std::move(path)) {}
  ~ClaimMutex() { Unlock(); }

  Status Lock(std::chrono::steady_clock::time_point deadline) {
    const ProcessIdentity& self = ProcessIdentity::Self();
    nonce_ = std::random_device()();
    std::string content = std::to_string(self.pid) + " " + std::to_string(self.start_ticks) +
                          " " + std::to_string(self.pid_namespace) + " " + self.boot_id + " " +
                          std::to_string(WallClockUnixMs()) + " " + std::to_string(nonce_) + " " +
                          self.host + "\n";
    auto pause = std::chrono::microseconds(200);
    while (true) {
      int fd = env_->Open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
      if (fd >= 0) {
        posix::UniqueFd guard(env_, fd);
        if (env_->Pwrite(fd, content.data(), content.size(), 0) !=
            static_cast<ssize_t>(content.size())) {
          Status st = posix::ErrnoStatus(errno, "write", path_);
          env_->Unlink(path_.c_str());
          return st;
        }
        held_ = true;
        return Status();
      }
      if (errno != EEXIST) return posix::ErrnoStatus(errno, "create", path_);
      if (BreakIfStale()) continue;
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status(StatusCode::kTimeout,
                      "timed out waiting for " + path_ + ": another instance is registering",
                      "retry; if it stays, the process that created the file is stuck");
      }
      // Registration takes milliseconds and spans lock domains, where no lock
      // can queue us: a short backoff is the only way to wait here.
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(5'000));
    }
  }

  void Unlock() {
    if (!held_) return;
    held_ = false;
    env_->Unlink(path_.c_str());
  }

 private:
  // A claim file whose creator is provably dead (same machine), or that is
  // older than kClaimStaleMs, is removed.
  bool BreakIfStale() {
    std::string text = ReadSmallFile(path_);
    std::istringstream in(text);
    std::int32_t pid = 0;
    std::uint64_t ticks = 0, ns = 0, nonce = 0;
    std::int64_t created = 0;
    std::string boot;
    if (!(in >> pid >> ticks >> ns >> boot >> created >> nonce)) {
      // Being written right now, or garbage: judge by age.
      struct stat st;
      if (env_->Lstat(path_.c_str(), &st) != 0) return errno == ENOENT;
      created = std::int64_t{st.st_mtim.tv_sec} * 1000;
      boot.clear();
    }
    const ProcessIdentity& self = ProcessIdentity::Self();
    bool same_machine = boot == self.boot_id && ns == self.pid_namespace;
    bool stale = (same_machine && !ProcessAlive(pid, ticks)) ||
                 WallClockUnixMs() - created > kClaimStaleMs;
    if (!stale) return false;
    env_->Unlink(path_.c_str());
    return true;
  }

  posix::Env* env_;
  std::string path_;
  std::uint64_t nonce_ = 0;
  bool held_ = false;
};

}  // namespace

const ProcessIdentity& ProcessIdentity::Self() {
  // Recomputed after fork(): the child is another process.
  static thread_local ProcessIdentity cached;
  std::int32_t pid = static_cast<std::int32_t>(getpid());
  if (cached.pid != pid) {
    ProcessIdentity id;
    id.pid = pid;
    id.start_ticks = StartTicks(pid);
    struct stat st;
    id.pid_namespace = ::stat("/proc/self/ns/pid", &st) == 0 ? st.st_ino : 0;
    id.boot_id = FirstLine(ReadSmallFile("/proc/sys/kernel/random/boot_id"));
    id.host = HostName();
    cached = std::move(id);
  }
  return cached;
}

bool ProcessIdentity::SameMachineAs(const InstanceInfo& other) const {
  return other.boot_id == boot_id && !boot_id.empty();
}

Status WaitForSlotRelease(posix::Env* env, int fd, const InstanceInfo& info,
                          std::chrono::steady_clock::time_point deadline, const std::string& why) {
  auto lock = posix::DeadlineLock::Create(env, fd, SlotOffset(info.slot), 1,
                                          posix::LockKind::kShared);
  if (!lock.has_value()) return std::move(lock).error();
  Status st = (*lock)->Acquire(deadline);
  (*lock)->Release();
  if (st.code() == StatusCode::kTimeout) {
    return Status(StatusCode::kTimeout, why + ": " + Describe(info) + " is still running",
                  "retry later, or stop it");
  }
  return st;
}

Status WriteHandoverRequest(posix::Env* env, int fd, const std::string& sidecar_path,
                            const SlotScan& slot) {
  struct {
    std::uint64_t seq;
    std::int32_t pid;
  } request = {slot.handover_seq + 1, ProcessIdentity::Self().pid};
  if (env->Pwrite(fd, &request, 12, SlotOffset(slot.info.slot) + kHandoverOffset) != 12) {
    return posix::ErrnoStatus(errno, "pwrite", sidecar_path);
  }
  return Status();
}

bool ProcessAlive(std::int32_t pid, std::uint64_t start_ticks) {
  if (pid <= 0 || start_ticks == 0) return false;
  ProcStat st = ReadProcStat(pid);
  // A zombie (or one being reaped) has released its files and locks.
  return st.start_ticks == start_ticks && st.state != 'Z' && st.state != 'X';
}

Result<std::vector<SlotScan>> ScanSlots(posix::Env* env, const std::string& sidecar_path,
                                        int lock_fd, bool observe,
                                        std::chrono::milliseconds interval) {
  auto records = ReadSlotsFresh(env, sidecar_path);
  if (!records.has_value()) return std::move(records).error();
  int probe_fd = lock_fd;
  posix::UniqueFd own;
  if (probe_fd < 0) {
    int raw = env->Open(sidecar_path.c_str(), O_RDONLY | O_NOFOLLOW, 0);
    if (raw < 0) return posix::ErrnoStatus(errno, "open", sidecar_path);
    own = posix::UniqueFd(env, raw);
    probe_fd = raw;
  }
  const ProcessIdentity& self = ProcessIdentity::Self();
  std::vector<SlotScan> out;
  bool any_unknown = false;
  for (int i = 0; i < kMaxSlots; ++i) {
    const SlotRecord& rec = (*records)[static_cast<std::size_t>(i)];
    if (rec.magic == 0) continue;
    if (rec.magic != kSlotMagic) return Malformed(sidecar_path, i, "magic");
    auto scan = ParseSlot(rec, i, sidecar_path);
    if (!scan.has_value()) return std::move(scan).error();
    auto locked = posix::RangeLockedByOther(env, probe_fd, SlotOffset(i), 1,
                                            posix::LockKind::kShared);
    if (!locked.has_value()) return std::move(locked).error();
    InstanceInfo& info = scan->info;
    if (*locked) {
      info.domain = InstanceDomain::kThisDomain;
    } else if (self.SameMachineAs(info) && scan->pid_namespace == self.pid_namespace) {
      info.domain = ProcessAlive(info.pid, scan->start_ticks) ? InstanceDomain::kOtherDomain
                                                              : InstanceDomain::kDead;
      // A process that is exiting has released its locks before /proc says
      // so: when observing, it must also show a live heartbeat.
      if (observe && info.domain == InstanceDomain::kOtherDomain) {
        info.domain = InstanceDomain::kUnknown;
        any_unknown = true;
      }
    } else {
      info.domain = InstanceDomain::kUnknown;
      any_unknown = true;
    }
    out.push_back(std::move(scan).value());
  }
  if (observe && any_unknown) {
    // A delta lease: a live instance advances its heartbeat every interval.
    std::this_thread::sleep_for(2 * interval + std::chrono::milliseconds(10));
    auto again = ReadSlotsFresh(env, sidecar_path);
    if (!again.has_value()) return std::move(again).error();
    for (SlotScan& scan : out) {
      if (scan.info.domain != InstanceDomain::kUnknown) continue;
      const SlotRecord& now = (*again)[static_cast<std::size_t>(scan.info.slot)];
      if (now.magic != kSlotMagic || now.nonce != scan.nonce) {
        // It freed its slot meanwhile (a close racing our scan): it left.
        scan.info.domain = InstanceDomain::kDead;
        continue;
      }
      bool advanced = now.heartbeat != scan.info.heartbeat;
      // On this machine the process table is the stronger witness: one that
      // still runs two intervals later is no exiting process.
      bool running = self.SameMachineAs(scan.info) &&
                     scan.pid_namespace == self.pid_namespace &&
                     ProcessAlive(scan.info.pid, scan.start_ticks);
      scan.info.domain =
          advanced || running ? InstanceDomain::kOtherDomain : InstanceDomain::kDead;
    }
  }
  return out;
}

Registry::Registry(posix::Env* env, std::string sidecar_path, posix::UniqueFd fd, Config config)
    : env_(env),
      sidecar_path_(std::move(sidecar_path)),
      fd_(std::move(fd)),
      config_(std::move(config)) {}

Result<std::unique_ptr<Registry>> Registry::Register(posix::Env* env, const std::string& db_path,
                                                     Config config, Clock::time_point deadline) {
  std::string path = db_path + "-steward";
  int raw = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW, 0);
  if (raw < 0) return posix::ErrnoStatus(errno, "open", path);
  std::unique_ptr<Registry> reg(
      new Registry(env, path, posix::UniqueFd(env, raw), std::move(config)));
  const Config& cfg = reg->config_;
  const ProcessIdentity& self = ProcessIdentity::Self();
  auto wait_deadline = Clock::now() + cfg.wait_for_owner;
  auto handover_deadline = Clock::now() + cfg.handover_timeout;
  bool handover_requested = false;

  while (true) {
    ClaimMutex mutex(env, path + ".claim");
    SQLSTEWARD_RETURN_IF_ERROR(mutex.Lock(deadline));
    auto scan = ScanSlots(env, path, reg->fd_.get(), /*observe=*/true, cfg.heartbeat_interval);
    if (!scan.has_value()) return std::move(scan).error();

    std::vector<SlotScan> live;
    for (const SlotScan& s : *scan) {
      const InstanceInfo& info = s.info;
      if (info.domain == InstanceDomain::kDead) {
        SlotRecord zero = {};  // Reclaimed: a crashed instance's slot.
        if (env->Pwrite(reg->fd_.get(), &zero, sizeof zero, SlotOffset(info.slot)) !=
            sizeof zero) {
          return posix::ErrnoStatus(errno, "pwrite", path);
        }
        continue;
      }
      if (info.domain == InstanceDomain::kOtherDomain) {
        return Status(StatusCode::kFailedPrecondition,
                      db_path + " is in use by " + Describe(info) +
                          " through another lock domain: its locks are not visible here, "
                          "so sharing the file would corrupt it or lose writes",
                      "use the database through one mount only: run every process on the "
                      "same side of the bind mount, VM share or network filesystem, or stop "
                      "the other instance");
      }
      live.push_back(s);
    }
    for (const SlotScan& s : live) {
      if (cfg.wal && !self.SameMachineAs(s.info)) {
        return Status(StatusCode::kFailedPrecondition,
                      db_path + " is open in WAL mode by " + Describe(s.info) +
                          " on another machine: WAL's shared memory does not span machines",
                      "use JournalMode::kDelete for a database shared between hosts, or run "
                      "every instance on one host");
      }
    }
    std::vector<InstanceInfo> blockers;
    for (const SlotScan& s : live) {
      if (cfg.ownership == Ownership::kExclusive || s.info.ownership == Ownership::kExclusive) {
        blockers.push_back(s.info);
      }
    }
    if (blockers.empty()) {
      SQLSTEWARD_RETURN_IF_ERROR(reg->ClaimSlot(live));
      mutex.Unlock();
      reg->heartbeat_ = std::thread(&Registry::HeartbeatLoop, reg.get());
      return reg;
    }
    mutex.Unlock();

    if (cfg.take_over) {
      if (!handover_requested) {
        for (const SlotScan& s : live) {
          bool blocks = std::any_of(blockers.begin(), blockers.end(),
                                    [&](const InstanceInfo& b) { return b.slot == s.info.slot; });
          if (blocks) SQLSTEWARD_RETURN_IF_ERROR(WriteHandoverRequest(env, reg->fd_.get(), path, s));
        }
        handover_requested = true;
      }
      for (const InstanceInfo& b : blockers) {
        SQLSTEWARD_RETURN_IF_ERROR(WaitForSlotRelease(env, reg->fd_.get(), b, handover_deadline,
                                                      "handover did not complete in time"));
      }
      continue;
    }
    if (cfg.wait_for_owner.count() > 0 && Clock::now() < wait_deadline) {
      for (const InstanceInfo& b : blockers) {
        SQLSTEWARD_RETURN_IF_ERROR(WaitForSlotRelease(env, reg->fd_.get(), b, wait_deadline,
                                                      "waited for the owner"));
      }
      continue;
    }
    const InstanceInfo& b = blockers.front();
    std::string why = b.ownership == Ownership::kExclusive
                          ? db_path + " is owned exclusively by " + Describe(b)
                          : "cannot open " + db_path + " exclusively: it is open in " +
                                Describe(b);
    return Status(StatusCode::kUnavailable, why,
                  "wait for it to exit (Options::wait_for_owner), or ask it to hand over "
                  "(Options::take_over, `sqlsteward handover`)");
  }
}

Status Registry::ClaimSlot(const std::vector<SlotScan>& live) {
  std::vector<bool> used(kMaxSlots, false);
  for (const SlotScan& s : live) used[static_cast<std::size_t>(s.info.slot)] = true;
  const ProcessIdentity& self = ProcessIdentity::Self();
  for (int i = 0; i < kMaxSlots; ++i) {
    if (used[static_cast<std::size_t>(i)]) continue;
    auto got = posix::TryLockRange(env_, fd_.get(), SlotOffset(i), 1, posix::LockKind::kExclusive);
    if (!got.has_value()) return std::move(got).error();
    if (!*got) continue;
    SlotRecord rec = {};
    rec.magic = kSlotMagic;
    rec.ownership = config_.ownership == Ownership::kExclusive ? 2 : 1;
    rec.pid = self.pid;
    rec.state = 1;
    rec.start_ticks = self.start_ticks;
    rec.pid_namespace = self.pid_namespace;
    rec.started_unix_ms = WallClockUnixMs();
    rec.heartbeat = 1;
    rec.heartbeat_unix_ms = rec.started_unix_ms;
    rec.nonce = std::random_device()();
    self.boot_id.copy(rec.boot_id, kBootIdBytes - 1);
    self.host.copy(rec.host, kHostBytes - 1);
    if (env_->Pwrite(fd_.get(), &rec, sizeof rec, SlotOffset(i)) != sizeof rec) {
      Status st = posix::ErrnoStatus(errno, "pwrite", sidecar_path_);
      posix::UnlockRange(env_, fd_.get(), SlotOffset(i), 1).IgnoreError();
      return st;
    }
    slot_ = i;
    return Status();
  }
  return Status(StatusCode::kResourceExhausted,
                "all " + std::to_string(kMaxSlots) + " instance slots of " + sidecar_path_ +
                    " are in use",
                "close some instances; each open Database handle takes one slot");
}

void Registry::HeartbeatLoop() {
  std::unique_lock lock(mu_);
  std::uint64_t beat = 1;
  while (!cv_.wait_for(lock, config_.heartbeat_interval, [&] { return stop_; })) {
    lock.unlock();
    struct {
      std::uint64_t heartbeat;
      std::int64_t unix_ms;
    } hb = {++beat, WallClockUnixMs()};
    env_->Pwrite(fd_.get(), &hb, sizeof hb, SlotOffset(slot_) + kHeartbeatOffset);
    auto slots = ReadSlotsFresh(env_, sidecar_path_);
    std::int32_t successor = 0;
    if (slots.has_value()) {
      const SlotRecord& mine = (*slots)[static_cast<std::size_t>(slot_)];
      if (mine.handover_seq != handover_seq_) {
        handover_seq_ = mine.handover_seq;
        successor = mine.handover_requester;
      }
    }
    if (successor != 0) {
      std::uint32_t stepping = 2;
      env_->Pwrite(fd_.get(), &stepping, sizeof stepping, SlotOffset(slot_) + kStateOffset);
      if (config_.on_step_down) config_.on_step_down(successor);
      FreeSlot();
      return;
    }
    lock.lock();
  }
}

void Registry::FreeSlot() {
  std::lock_guard lock(mu_);
  if (released_ || slot_ < 0) return;
  released_ = true;
  SlotRecord zero = {};
  env_->Pwrite(fd_.get(), &zero, sizeof zero, SlotOffset(slot_));
  posix::UnlockRange(env_, fd_.get(), SlotOffset(slot_), 1).IgnoreError();
}

void Registry::Release() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  FreeSlot();
}

Registry::~Registry() { Release(); }

}  // namespace sqlsteward::internal
