// SharedHeader: the sidecar's header page mapped shared, where the probe
// found shared memory coherent between processes on its filesystem.
//
// Two users: the turn queue (turn_queue.h), whose tickets are atomics in
// this page, and the write lock, which writes its holder record here with
// a memory copy instead of a pwrite on every acquisition. Readers of the
// holder record keep using pread: on a filesystem whose shared mappings
// are coherent, pread and the mapping see the same page.
//
// The mapping is never the source of truth for anything that decides
// safety: mutual exclusion stays with the OFD lock, liveness with the slot
// locks. A page that holds garbage (a crash mid-update, a power loss, a
// process of an older version that ignores the area) can only cost
// fairness, never correctness.
//
// Hazard: another process of the same user could truncate the sidecar,
// and a later access of the mapping would raise SIGBUS. The sidecar is
// created at its full size and never shrunk by sqlsteward; a user who can
// do that can as well delete the database.
//
// Thread safety: the mapping is fixed from Map() to destruction; what its
// users store in it is theirs to synchronise (atomics).
#ifndef SQLSTEWARD_SIDECAR_SHARED_HEADER_H_
#define SQLSTEWARD_SIDECAR_SHARED_HEADER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "posix/env.h"
#include "sidecar/format.h"

namespace sqlsteward::internal {

class SharedHeader {
 public:
  // Maps the header of the sidecar open as `fd` when `coherent` (the
  // probe's verdict on shared memory there); nullptr when not, or when the
  // mapping fails (then everything works as without it, unordered).
  static std::unique_ptr<SharedHeader> Map(posix::Env* env, int fd, bool coherent);
  SharedHeader(const SharedHeader&) = delete;
  SharedHeader& operator=(const SharedHeader&) = delete;
  ~SharedHeader();

  // The 32-bit word at `offset` of the header (4-byte aligned).
  std::uint32_t* Word32(off_t offset) const;
  // The 64-bit word at `offset` (8-byte aligned).
  std::uint64_t* Word64(off_t offset) const;
  void WriteHolder(const HolderRecord& record) const;

  posix::Env* env() const { return env_; }

 private:
  SharedHeader(posix::Env* env, void* base) : env_(env), base_(static_cast<char*>(base)) {}

  posix::Env* const env_;
  char* const base_;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_SHARED_HEADER_H_
