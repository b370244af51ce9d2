// The sidecar file `<db>-steward`, format version 1: its name, layout, lock
// bytes and the codec of its records. The one place that knows the bytes;
// docs/formats.md describes the same layout for people.
//
// Layout (little-endian):
//   [0, 8)        magic "SQLSTWD1"
//   [8, 12)       u32 format version (1)
//   [12, 16)      u32 header size (4096)
//   [64, 208)     write-lock holder record (HolderRecord)
//   [256, 264)    turn queue: u32 next ticket, u32 ticket being served
//   [512, 2560)   turn queue: 128 entries of 16 bytes (turn_queue.h)
//   [4096, 36864) 128 instance slots of 256 bytes (SlotRecord)
// Bytes 208-4095 outside the turn queue are reserved and zero. A sidecar
// created before the turn queue existed has zeros there, which is the
// queue's empty state: the format version stays 1.
// The file is created whole (O_EXCL, at its final size) and never grows, so
// no reader, through any mount, is misled by a cached size (FUSE caches a
// file's size for about a second).
// Lock bytes (OFD locks, advisory, independent of the bytes' content):
//   byte 4000       the cross-process write lock (write_lock.h)
//   byte 4001       reserved for an init lock (format version 1 creates the
//                   file with O_EXCL instead)
//   slot i, byte 0  held by the instance that claimed the slot
//
// Thread safety: everything here is a pure function of its arguments.
#ifndef SQLSTEWARD_SIDECAR_FORMAT_H_
#define SQLSTEWARD_SIDECAR_FORMAT_H_

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sqlsteward/instances.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// "<db>-steward" and its registration arbiter "<db>-steward.claim".
std::string SidecarPath(std::string_view db_path);
std::string ClaimPath(std::string_view db_path);

inline constexpr std::uint32_t kSidecarVersion = 1;
inline constexpr std::uint32_t kSidecarHeaderSize = 4096;
inline constexpr std::size_t kSidecarHeadBytes = 16;  // magic, version, header size
inline constexpr off_t kHolderOffset = 64;
inline constexpr off_t kWriteLockByte = 4000;
inline constexpr off_t kInitLockByte = 4001;
inline constexpr off_t kSlotBase = 4096;
inline constexpr off_t kSlotSize = 256;
inline constexpr int kMaxSlots = 128;
inline constexpr off_t kSidecarSize = kSlotBase + kMaxSlots * kSlotSize;

// ---------------------------------------------------------------- header

// The first kSidecarHeadBytes of a new sidecar; the rest of it is zero.
std::array<char, kSidecarHeadBytes> EncodeHeader();

// Whether `head` (the first bytes read) and `file_size` make a whole
// sidecar of some version: a file being created by another process is not
// whole yet.
bool HeaderWhole(std::string_view head, std::int64_t file_size);

// The verdict on a sidecar at `path`, as Database::Open gives it: OK with
// its format version; kCorruption when it is not a whole sidecar (short,
// wrong magic); kFailedPrecondition for another format version.
Result<std::uint32_t> CheckHeader(std::string_view head, std::int64_t file_size,
                                  const std::string& path);

// ----------------------------------------------------- write-lock holder

// Who holds (or last held) the write lock, and what for. Written by each
// leader after it takes the lock, read by waiters whose deadline passes.
struct HolderRecord {
  std::int32_t pid;
  std::int32_t reserved;
  std::int64_t since_unix_ms;
  char host[64];
  char purpose[64];  // Empty for ordinary writes.
};
static_assert(sizeof(HolderRecord) == 144);

HolderRecord EncodeHolder(std::int32_t pid, std::int64_t since_unix_ms, std::string_view host,
                          std::string_view purpose);
// pid 0 when no holder was ever recorded.
WriteLockStatus DecodeHolder(const HolderRecord& record);

// "pid 123 on host db1 since 2026-11-21T19:40:01Z (migration 0003_x)"
std::string DescribeHolder(const WriteLockStatus& holder);

// -------------------------------------------------------------- turn queue

// First come, first served among the processes that wait for the write
// lock (turn_queue.h), in the header page, which those processes map
// shared. An entry is a u64 word, ticket << 32 | state (the state, its low
// half, is the futex word its waiter sleeps on), then the i32 registry slot
// of the ticket's holder (-1: unknown) and 4 reserved bytes.
inline constexpr off_t kTurnNextOffset = 256;
inline constexpr off_t kTurnServingOffset = 260;
inline constexpr off_t kTurnEntryBase = 512;
inline constexpr int kTurnEntries = 128;
inline constexpr off_t kTurnEntrySize = 16;
inline constexpr off_t kTurnAreaBegin = kTurnNextOffset;
inline constexpr off_t kTurnAreaEnd = kTurnEntryBase + kTurnEntries * kTurnEntrySize;
static_assert(kTurnAreaBegin >= kHolderOffset + static_cast<off_t>(sizeof(HolderRecord)) &&
              kTurnAreaEnd <= kSidecarHeaderSize);

// ---------------------------------------------------------- instance slots

inline constexpr std::uint32_t kSlotMagic = 0x544F4C53;  // "SLOT"

// One slot as stored. The owner writes it whole when it claims it, then
// only `state` and the heartbeat pair; a handover requester writes only the
// handover pair.
struct SlotRecord {
  std::uint32_t magic;      // kSlotMagic when claimed, 0 when free
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
  char boot_id[40];
  char host[64];
  char reserved[72];
};
static_assert(sizeof(SlotRecord) == kSlotSize);

inline constexpr off_t kSlotStateOffset = offsetof(SlotRecord, state);
inline constexpr off_t kSlotHeartbeatOffset = offsetof(SlotRecord, heartbeat);
inline constexpr off_t kSlotHandoverOffset = offsetof(SlotRecord, handover_seq);
static_assert(kSlotStateOffset == 12 && kSlotHeartbeatOffset == 40 && kSlotHandoverOffset == 56 &&
              offsetof(SlotRecord, boot_id) == 80);

inline constexpr off_t SlotOffset(int slot) {
  return kSlotBase + static_cast<off_t>(slot) * kSlotSize;
}

// A claimed slot, decoded.
struct Slot {
  InstanceInfo info;  // domain is left kUnknown: the scan decides it.
  std::uint64_t start_ticks = 0;
  std::uint64_t pid_namespace = 0;
  std::uint64_t handover_seq = 0;
  std::uint64_t nonce = 0;  // Tells one claim of a slot from the next.
};

// The slot this process writes when it claims one.
struct SlotClaim {
  Ownership ownership = Ownership::kShared;
  std::int32_t pid = 0;
  std::uint64_t start_ticks = 0;
  std::uint64_t pid_namespace = 0;
  std::int64_t started_unix_ms = 0;
  std::uint64_t nonce = 0;
  std::string boot_id;
  std::string host;
};
SlotRecord EncodeSlot(const SlotClaim& claim);

// nullopt for a free slot; kCorruption ("instance slot N is malformed")
// for anything else that is not a well-formed claim.
Result<std::optional<Slot>> DecodeSlot(const SlotRecord& record, int slot,
                                       const std::string& sidecar_path);

// The pair a successor writes at kSlotHandoverOffset.
struct HandoverRequest {
  std::uint64_t seq;
  std::int32_t requester;
};
inline constexpr std::size_t kHandoverRequestBytes = 12;
// The pair the owner writes at kSlotHeartbeatOffset.
struct Heartbeat {
  std::uint64_t counter;
  std::int64_t unix_ms;
};
inline constexpr std::uint32_t kStateRunning = 1;
inline constexpr std::uint32_t kStateSteppingDown = 2;

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SIDECAR_FORMAT_H_
