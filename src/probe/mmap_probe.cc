// The shared-memory probe (probes.h). WAL's index (<db>-shm) is a file
// mapped MAP_SHARED by every process; if their mappings are not one
// memory, readers and writers work from different indexes and the database
// is corrupted while every commit "succeeds". A child maps the probe file
// and stores a nonce; we wait for it to show in our own mapping, then store
// another nonce for the child to see. A value that arrives answers at once;
// one that never arrives is only known after a deadline (1 s). A child
// whose view of the file is shorter than ours (stale FUSE attributes) would
// die of SIGBUS on touching the mapping: it checks the size first, and a
// SIGBUS death is a negative answer too. Through two bindfs mounts of one
// directory the probe answers no (probe_test measures it).
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/status_builders.h"
#include "probe/child.h"
#include "probe/probes.h"

namespace sqlsteward::probe_internal {
namespace {

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

}  // namespace

Result<MmapProbeResult> RunMmapProbe(posix::Env* env, const ProbeFile& file,
                                     const std::string& child_path, Millis value_deadline,
                                     Millis child_timeout) {
  long page = sysconf(_SC_PAGESIZE);
  std::size_t len = page > 0 ? static_cast<std::size_t>(page) : 4096;
  std::vector<char> zeros(len, 0);
  ssize_t wrote = env->Pwrite(file.fd(), zeros.data(), len, 0);
  if (wrote < 0) return posix::ErrnoStatus(errno, "pwrite", file.path());
  if (static_cast<std::size_t>(wrote) != len) {
    return IOError("pwrite(" + file.path() + "): short write");
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

}  // namespace sqlsteward::probe_internal
