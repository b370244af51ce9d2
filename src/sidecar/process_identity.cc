#include "sidecar/process_identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <sstream>

namespace sqlsteward::internal {
namespace {

// A /proc entry read whole; "" on error. /proc is the kernel's, not one of
// our files: raw calls, not the Env.
std::string ReadProcFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return {};
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

struct ProcStat {
  char state = '?';
  std::uint64_t start_ticks = 0;
};

// /proc/<pid>/stat fields 3 (state) and 22 (start time); zero if absent.
ProcStat ReadProcStat(std::int32_t pid) {
  ProcStat out;
  std::string text = ReadProcFile("/proc/" + std::to_string(pid) + "/stat");
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

}  // namespace

const ProcessIdentity& ProcessIdentity::Self() {
  // One immutable identity per process, published once and never freed:
  // callers keep the reference. Recomputed after fork() (the child is
  // another process); the parent's then stays reachable through `previous`.
  // Not a thread_local: the extension is dlopen'ed into other programs,
  // where a thread-local with a destructor runs at every thread's exit.
  static std::atomic<const ProcessIdentity*> current{nullptr};
  static std::atomic<const ProcessIdentity*> previous{nullptr};
  const std::int32_t pid = static_cast<std::int32_t>(getpid());
  const ProcessIdentity* seen = current.load(std::memory_order_acquire);
  if (seen != nullptr && seen->pid == pid) return *seen;
  auto* id = new ProcessIdentity;
  id->pid = pid;
  id->start_ticks = ReadProcStat(pid).start_ticks;
  struct stat st;
  id->pid_namespace = ::stat("/proc/self/ns/pid", &st) == 0 ? st.st_ino : 0;
  std::string boot = ReadProcFile("/proc/sys/kernel/random/boot_id");
  id->boot_id = boot.substr(0, boot.find('\n'));
  id->host = HostName();
  if (current.compare_exchange_strong(seen, id, std::memory_order_acq_rel)) {
    previous.store(seen, std::memory_order_relaxed);
    return *id;
  }
  delete id;  // Another thread published first; `seen` is now its identity.
  return *seen;
}

bool ProcessIdentity::SameMachineAs(const InstanceInfo& other) const {
  return other.boot_id == boot_id && !boot_id.empty();
}

bool ProcessAlive(std::int32_t pid, std::uint64_t start_ticks) {
  if (pid <= 0 || start_ticks == 0) return false;
  ProcStat st = ReadProcStat(pid);
  // A zombie (or one being reaped) has released its files and locks.
  return st.start_ticks == start_ticks && st.state != 'Z' && st.state != 'X';
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace sqlsteward::internal
