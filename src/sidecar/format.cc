#include "sidecar/format.h"

#include <algorithm>
#include <cstring>

#include "base/status_builders.h"
#include "base/time.h"

namespace sqlsteward::internal {
namespace {

constexpr char kMagic[8] = {'S', 'Q', 'L', 'S', 'T', 'W', 'D', '1'};

std::string FixedString(const char* bytes, std::size_t size) {
  return std::string(bytes, strnlen(bytes, size));
}

template <std::size_t N>
void CopyFixed(std::string_view text, char (&out)[N]) {
  std::memset(out, 0, N);
  text.copy(out, std::min(text.size(), N - 1));
}

Status Malformed(const std::string& path, int slot, const std::string& what) {
  return Corruption(
      path + ": instance slot " + std::to_string(slot) + " is malformed (" + what + ")",
      "stop every instance of the database, then remove the sidecar; it is recreated");
}

}  // namespace

std::string SidecarPath(std::string_view db_path) {
  std::string path(db_path);
  path += "-steward";
  return path;
}

std::string ClaimPath(std::string_view db_path) { return SidecarPath(db_path) + ".claim"; }

std::array<char, kSidecarHeadBytes> EncodeHeader() {
  std::array<char, kSidecarHeadBytes> head{};
  std::memcpy(head.data(), kMagic, sizeof kMagic);
  const std::uint32_t version = kSidecarVersion;
  const std::uint32_t size = kSidecarHeaderSize;
  std::memcpy(head.data() + 8, &version, 4);
  std::memcpy(head.data() + 12, &size, 4);
  return head;
}

bool HeaderWhole(std::string_view head, std::int64_t file_size) {
  return head.size() >= kSidecarHeadBytes && std::memcmp(head.data(), kMagic, sizeof kMagic) == 0 &&
         file_size >= kSidecarSize;
}

Result<std::uint32_t> CheckHeader(std::string_view head, std::int64_t file_size,
                                  const std::string& path) {
  if (!HeaderWhole(head, file_size)) {
    return Corruption(path + " is not a sqlsteward sidecar file",
                      "if no sqlsteward process uses the database, move the file aside; "
                      "it is recreated on the next open");
  }
  std::uint32_t version = 0;
  std::memcpy(&version, head.data() + 8, 4);
  if (version != kSidecarVersion) {
    return FailedPrecondition(
        path + " has sidecar format version " + std::to_string(version) +
            ", this build understands version " + std::to_string(kSidecarVersion),
        "use the sqlsteward version that created it, or stop every instance and "
        "remove the sidecar");
  }
  return version;
}

HolderRecord EncodeHolder(std::int32_t pid, std::int64_t since_unix_ms, std::string_view host,
                          std::string_view purpose) {
  HolderRecord record = {};
  record.pid = pid;
  record.since_unix_ms = since_unix_ms;
  CopyFixed(host, record.host);
  CopyFixed(purpose, record.purpose);
  return record;
}

WriteLockStatus DecodeHolder(const HolderRecord& record) {
  WriteLockStatus holder;
  holder.pid = record.pid;
  holder.since_unix_ms = record.since_unix_ms;
  holder.host = FixedString(record.host, sizeof record.host);
  holder.purpose = FixedString(record.purpose, sizeof record.purpose);
  return holder;
}

std::string DescribeHolder(const WriteLockStatus& holder) {
  std::string out = "pid " + std::to_string(holder.pid) + " on host " + holder.host + " since " +
                    IsoUtc(holder.since_unix_ms);
  if (!holder.purpose.empty()) out += " (" + holder.purpose + ")";
  return out;
}

SlotRecord EncodeSlot(const SlotClaim& claim) {
  SlotRecord record = {};
  record.magic = kSlotMagic;
  record.ownership = claim.ownership == Ownership::kExclusive ? 2 : 1;
  record.pid = claim.pid;
  record.state = kStateRunning;
  record.start_ticks = claim.start_ticks;
  record.pid_namespace = claim.pid_namespace;
  record.started_unix_ms = claim.started_unix_ms;
  record.heartbeat = 1;
  record.heartbeat_unix_ms = claim.started_unix_ms;
  record.nonce = claim.nonce;
  CopyFixed(claim.boot_id, record.boot_id);
  CopyFixed(claim.host, record.host);
  return record;
}

Result<std::optional<Slot>> DecodeSlot(const SlotRecord& rec, int slot,
                                       const std::string& sidecar_path) {
  if (rec.magic == 0) return std::optional<Slot>();
  if (rec.magic != kSlotMagic) return Malformed(sidecar_path, slot, "magic");
  if (rec.ownership != 1 && rec.ownership != 2) return Malformed(sidecar_path, slot, "ownership");
  if (rec.state != kStateRunning && rec.state != kStateSteppingDown) {
    return Malformed(sidecar_path, slot, "state");
  }
  if (rec.pid <= 0) return Malformed(sidecar_path, slot, "pid");
  if (strnlen(rec.boot_id, sizeof rec.boot_id) == sizeof rec.boot_id ||
      strnlen(rec.host, sizeof rec.host) == sizeof rec.host) {
    return Malformed(sidecar_path, slot, "unterminated text");
  }
  Slot out;
  out.info.slot = slot;
  out.info.pid = rec.pid;
  out.info.host = FixedString(rec.host, sizeof rec.host);
  out.info.boot_id = FixedString(rec.boot_id, sizeof rec.boot_id);
  out.info.started_unix_ms = rec.started_unix_ms;
  out.info.ownership = rec.ownership == 2 ? Ownership::kExclusive : Ownership::kShared;
  out.info.state =
      rec.state == kStateSteppingDown ? InstanceState::kSteppingDown : InstanceState::kRunning;
  out.info.heartbeat = rec.heartbeat;
  out.info.heartbeat_unix_ms = rec.heartbeat_unix_ms;
  out.start_ticks = rec.start_ticks;
  out.pid_namespace = rec.pid_namespace;
  out.handover_seq = rec.handover_seq;
  out.nonce = rec.nonce;
  return std::optional<Slot>(std::move(out));
}

}  // namespace sqlsteward::internal
