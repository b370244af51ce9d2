// SharedDatabase: what one process holds for one database file while any
// of its connections has it open through the extension's VFS: the sidecar,
// the registry slot with its heartbeat (sidecar/registry.h), the journal
// policy the filesystem allows, whether this process has handed the
// database over, and counters for sqlsteward_status().
//
// One per (process, database path): the first connection's open registers,
// later connections share it, the last close releases the slot. A child
// forked by the process registers on its own.
//
// Thread safety: Acquire from any thread; the accessors are safe for
// concurrent use.
#ifndef SQLSTEWARD_EXT_SHARED_DATABASE_H_
#define SQLSTEWARD_EXT_SHARED_DATABASE_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ext/config.h"
#include "posix/env.h"
#include "sidecar/file_owner.h"
#include "sidecar/registry.h"
#include "sidecar/sidecar_file.h"
#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward::ext {

// Counted for sqlsteward_status(); relaxed atomics.
struct Counters {
  std::atomic<std::uint64_t> write_locks{0};          // write-lock acquisitions
  std::atomic<std::uint64_t> write_lock_waits{0};     // ... that found it held
  std::atomic<std::uint64_t> busy{0};                 // SQLITE_BUSY given to SQLite
  std::atomic<std::uint64_t> wait_us_total{0};        // time queued, acquired waits
  std::atomic<std::uint64_t> wait_us_max{0};
  std::atomic<std::uint64_t> checkpoints{0};          // checkpoint locks granted
  std::atomic<std::uint64_t> checkpoints_skipped{0};  // their wait ran out
  std::atomic<std::uint64_t> refused_writes{0};       // after a handover
  void RecordWait(std::chrono::microseconds waited);
};

class SharedDatabase {
 public:
  // The registration of `path` (SQLite's full pathname of a main database
  // file) for this process: the existing one, or a new one after the file
  // checks (sidecar/database_files.h), the filesystem probe and the
  // registry, each refusing with a typed error whose hint names the
  // extension's settings. `create`: SQLITE_OPEN_CREATE was given.
  static Result<std::shared_ptr<SharedDatabase>> Acquire(const std::string& path, bool create,
                                                         const UriLookup& uri);
  ~SharedDatabase();
  SharedDatabase(const SharedDatabase&) = delete;
  SharedDatabase& operator=(const SharedDatabase&) = delete;

  const std::string& path() const { return path_; }
  const ExtensionConfig& config() const { return config_; }
  const internal::FileOwner& owner() const { return owner_; }
  posix::Env* env() const { return env_; }
  // WAL may be used: the probe found shared memory coherent (else the VFS
  // offers SQLite no shared memory, and the database stays in a rollback
  // journal).
  bool allow_wal() const { return allow_wal_; }
  // The probe's verdict on shared memory in the database's directory: the
  // write lock's turn queue lives in shared memory.
  bool shared_memory_coherent() const { return shared_memory_coherent_; }
  const std::string& policy_reason() const { return policy_reason_; }
  const std::string& fs_kind() const { return fs_kind_; }
  int slot() const { return registry_ ? registry_->slot() : -1; }
  // The sidecar descriptor that holds no lock, for reading its state.
  const internal::SidecarFile& sidecar() const { return *sidecar_; }

  // 0 until a successor asked this process to hand over; then its pid.
  std::int32_t handed_over_to() const { return handed_over_to_.load(); }
  // The refusal of a write after the handover.
  Status HandedOver() const;
  Counters& counters() { return counters_; }

 private:
  SharedDatabase() = default;
  void StepDown(std::int32_t successor);

  posix::Env* env_ = nullptr;
  pid_t pid_ = 0;  // The process that registered: a forked child does not share it.
  std::string path_;
  ExtensionConfig config_;
  internal::FileOwner owner_;
  bool allow_wal_ = false;
  bool shared_memory_coherent_ = false;
  std::string policy_reason_;
  std::string fs_kind_;
  std::unique_ptr<internal::SidecarFile> sidecar_;
  std::unique_ptr<internal::Registry> registry_;
  std::atomic<std::int32_t> handed_over_to_{0};
  std::atomic<std::int64_t> handed_over_unix_ms_{0};
  Counters counters_;

  friend struct Registrations;
};

// Every registration this process holds now, for sqlsteward_status().
std::shared_ptr<SharedDatabase> FindRegistration(const std::string& path);

// Writes "sqlsteward: <message>" to stderr: the extension runs inside
// programs that have no other channel for a warning.
void Warn(std::string_view message);

}  // namespace sqlsteward::ext

#endif  // SQLSTEWARD_EXT_SHARED_DATABASE_H_
