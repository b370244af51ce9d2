// instances.unprotected, in the "instances" section: processes that have
// the database open without sqlsteward (neither the library nor the
// extension). Their writes bypass the write lock and the lock-domain check.
// They are found by their POSIX locks on the database and its -shm in
// /proc/locks (proc_locks.h) and their absence from the instance registry.
//
// What /proc/locks can show: a connection in WAL mode locks the database
// and -shm for as long as it is open; in rollback-journal mode only during
// a transaction, so such a client between transactions is not seen. The
// files are matched by device and inode from lstat(2): links are not
// followed. Nothing is written; /proc is the kernel's, read with raw calls.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "doctor/checks.h"
#include "doctor/proc_locks.h"
#include "doctor/text.h"
#include "sidecar/process_identity.h"
#include "sqlsteward/instances.h"

namespace sqlsteward::cli::doctor {
namespace {

using nlohmann::json;

// /proc/locks lists every lock on the machine; a bound keeps a host with
// millions of them from costing doctor unbounded memory.
constexpr std::size_t kMaxProcLocksBytes = std::size_t{16} << 20;
constexpr std::size_t kMaxCmdlineBytes = 200;

constexpr const char* kRollbackCaveat =
    "a connection in rollback-journal mode holds its lock only during a transaction, so one "
    "between transactions is not seen";

// Up to `max` bytes of a /proc file; nullopt with errno set when it cannot
// be opened or read.
std::optional<std::string> ReadProc(const std::string& path, std::size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  std::string text;
  std::vector<char> buf(64 * 1024);
  ssize_t n = 0;
  while (text.size() < max && (n = ::read(fd, buf.data(), buf.size())) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf.data(), std::min(static_cast<std::size_t>(n), max - text.size()));
  }
  const int error = errno;
  ::close(fd);
  if (n < 0) {
    errno = error;
    return std::nullopt;
  }
  return text;
}

struct ProcLocks {
  std::string text;
  bool truncated = false;  // over kMaxProcLocksBytes: the rest was not read
};

// /proc/locks in whole lines; nullopt with errno set when it cannot be read.
std::optional<ProcLocks> ReadProcLocks() {
  auto text = ReadProc("/proc/locks", kMaxProcLocksBytes + 1);
  if (!text) return std::nullopt;
  ProcLocks locks{std::move(*text)};
  if (locks.text.size() > kMaxProcLocksBytes) {
    // A cut line could name another inode ("...:12" of "...:1234567").
    locks.text.resize(locks.text.rfind('\n', kMaxProcLocksBytes - 1) + 1);
    locks.truncated = true;
  }
  return locks;
}

// The database and its -shm as /proc/locks names them; only regular files
// (a link's own inode holds no lock).
std::vector<LockedFileId> DatabaseFileIds(const std::string& path) {
  std::vector<LockedFileId> ids;
  for (const FileState& f : {StatFile("database", path), StatFile("shm", path + "-shm")}) {
    if (!f.is_regular()) continue;
    ids.push_back(
        {major(f.st.st_dev), minor(f.st.st_dev), static_cast<std::uint64_t>(f.st.st_ino)});
  }
  return ids;
}

// The pids of the live instances registered on this machine (same boot id
// and host name, so that their pids are ours to compare); nullopt when the
// registry cannot be read. No sidecar: none.
std::optional<std::set<pid_t>> RegisteredPids(const std::string& path) {
  auto registry = ReadRegistry(path);
  if (!registry.has_value()) {
    if (registry.error().code() == StatusCode::kNotFound) return std::set<pid_t>();
    return std::nullopt;
  }
  const internal::ProcessIdentity& self = internal::ProcessIdentity::Self();
  std::set<pid_t> pids;
  for (const InstanceInfo& info : registry->instances) {
    if (info.domain == InstanceDomain::kThisDomain && self.SameMachineAs(info) &&
        info.host == self.host) {
      pids.insert(info.pid);
    }
  }
  return pids;
}

struct Process {
  pid_t pid = 0;
  std::string command;  // /proc/<pid>/comm; "" when gone
  std::string cmdline;  // its first kMaxCmdlineBytes, NULs as spaces; "" when unreadable

  // "pid 4242 (python3 app.py)"
  std::string Label() const {
    const std::string& name = !cmdline.empty() ? cmdline : command;
    return "pid " + std::to_string(pid) + " (" + (name.empty() ? "?" : name) + ")";
  }
  json Json() const {
    return {{"pid", pid},
            {"command", command.empty() ? json(nullptr) : json(command)},
            {"cmdline", cmdline.empty() ? json(nullptr) : json(cmdline)}};
  }
};

Process DescribeProcess(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/";
  Process p{pid, ReadProc(dir + "comm", 64).value_or(""),
            ReadProc(dir + "cmdline", kMaxCmdlineBytes).value_or("")};
  if (!p.command.empty() && p.command.back() == '\n') p.command.pop_back();
  std::replace(p.cmdline.begin(), p.cmdline.end(), '\0', ' ');
  p.cmdline.erase(p.cmdline.find_last_not_of(' ') + 1);
  return p;
}

// The lock holders other than doctor itself: registered instances, and
// the rest.
struct Holders {
  std::vector<pid_t> registered;
  std::vector<Process> unprotected;
};

Holders Classify(const std::vector<pid_t>& pids, const std::set<pid_t>& registered) {
  Holders holders;
  for (pid_t pid : pids) {
    if (pid == ::getpid()) continue;
    if (registered.count(pid) != 0) {
      holders.registered.push_back(pid);
    } else {
      holders.unprotected.push_back(DescribeProcess(pid));
    }
  }
  return holders;
}

std::string Pids(const std::vector<pid_t>& pids) {
  std::vector<std::string> labels;
  for (pid_t pid : pids) labels.push_back("pid " + std::to_string(pid));
  return Join(labels, ", ");
}

void AddUnprotected(Report& r, const std::vector<Process>& unprotected, const std::string& suffix) {
  std::vector<std::string> labels;
  json list = json::array();
  for (const Process& p : unprotected) {
    labels.push_back(p.Label());
    list.push_back(p.Json());
  }
  r.instances["unprotected"] = list;
  const bool one = unprotected.size() == 1;
  r.Add("instances.unprotected", Severity::kWarning,
        Join(labels, ", ") + (one ? " has" : " have") +
            " the database open without sqlsteward: " + (one ? "its" : "their") +
            " writes bypass the write lock and the lock-domain check" + suffix,
        std::string("load the sqlsteward extension into ") + (one ? "it" : "each") +
            " (`sqlsteward extension-path` prints where it is; docs/extension.md), or use the library");
}

void AddNoneSeen(Report& r, const std::vector<pid_t>& registered, const std::string& suffix) {
  r.instances["unprotected"] = json::array();
  std::string seen = "/proc/locks shows no POSIX lock on the database or its -shm";
  if (!registered.empty()) {
    seen =
        "/proc/locks shows POSIX locks on the database or its -shm held only by registered "
        "sqlsteward instances (" +
        Pids(registered) + ")";
  }
  r.Add("instances.unprotected", Severity::kOk, seen + "; " + kRollbackCaveat + suffix);
}

void AddNotChecked(Report& r, const std::string& why) {
  r.Add("instances.unprotected", Severity::kOk,
        "not checked: " + why +
            ", so processes that use the database without sqlsteward cannot be found");
}

}  // namespace

void CheckUnprotected(Report& r) {
  r.instances["unprotected"] = nullptr;
  const std::vector<LockedFileId> ids = DatabaseFileIds(r.path);
  if (ids.empty()) return;  // no database file: nothing to look for
  // The registry is read before and after /proc/locks, so a sqlsteward
  // process registered at either moment counts as one: it may open or
  // close while /proc/locks is read.
  auto registered = RegisteredPids(r.path);
  auto locks = ReadProcLocks();
  const int locks_error = errno;
  auto registered_after = RegisteredPids(r.path);
  if (!locks) {
    AddNotChecked(r, std::string("cannot read /proc/locks (") + std::strerror(locks_error) + ")");
    return;
  }
  if (!registered || !registered_after) {
    AddNotChecked(r, "the instance registry cannot be read (instances.registered)");
    return;
  }
  registered->merge(*registered_after);
  const Holders holders = Classify(PosixLockHolders(locks->text, ids), *registered);
  const std::string suffix =
      locks->truncated ? " (only the first 16 MiB of /proc/locks were read)" : "";
  if (holders.unprotected.empty()) {
    AddNoneSeen(r, holders.registered, suffix);
  } else {
    AddUnprotected(r, holders.unprotected, suffix);
  }
}

}  // namespace sqlsteward::cli::doctor
