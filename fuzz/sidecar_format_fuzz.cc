// The codec of the `<db>-steward` sidecar (src/sidecar/format.h): the
// header check, the write-lock holder record and the instance slots, on
// bytes another process (or a damaged disk) wrote.
//
// The first byte says what the rest is: 0 a whole sidecar file (header,
// holder record at 64, every slot that fits), 1 one holder record, 2 one
// slot record (both zero-padded to their size). Properties:
//   - the header check accepts exactly a whole file with the magic and
//     version 1, and EncodeHeader's bytes pass it;
//   - a decoded holder, encoded again, decodes to the same value; its text
//     fields hold no NUL and fit their fields;
//   - a slot that decodes as claimed, written again by EncodeSlot from what
//     was decoded, decodes to the same claim, and EncodeSlot's bytes equal
//     the input's on every field a claim writes; a slot is otherwise free
//     (magic 0) or kCorruption.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "sidecar/format.h"

using namespace sqlsteward;
using namespace sqlsteward::internal;

namespace {

const std::string kPath = "/fuzz/app.db-steward";

void CheckHeaderBytes(std::string_view file) {
  const std::string_view head = file.substr(0, std::min(file.size(), kSidecarHeadBytes));
  const auto size = static_cast<std::int64_t>(file.size());
  Result<std::uint32_t> version = CheckHeader(head, size, kPath);
  if (version.ok()) {
    FUZZ_CHECK(*version == kSidecarVersion);
    FUZZ_CHECK(HeaderWhole(head, size));
  } else if (HeaderWhole(head, size)) {
    FUZZ_CHECK(version.error().code() == StatusCode::kFailedPrecondition);
  } else {
    FUZZ_CHECK(version.error().code() == StatusCode::kCorruption);
  }
  // The bytes the library writes pass, whatever follows them.
  const auto encoded = EncodeHeader();
  std::string whole(encoded.data(), encoded.size());
  whole += file.substr(head.size());
  FUZZ_CHECK(CheckHeader(whole.substr(0, kSidecarHeadBytes), kSidecarSize, kPath).ok());
}

bool SameHolder(const WriteLockStatus& a, const WriteLockStatus& b) {
  return a.held == b.held && a.pid == b.pid && a.host == b.host &&
         a.since_unix_ms == b.since_unix_ms && a.purpose == b.purpose;
}

void CheckHolder(const HolderRecord& record) {
  const WriteLockStatus holder = DecodeHolder(record);
  FUZZ_CHECK(holder.host.size() < sizeof record.host + 1);
  FUZZ_CHECK(holder.host.find('\0') == std::string::npos);
  FUZZ_CHECK(holder.purpose.find('\0') == std::string::npos);
  // A field written full (no NUL) is read whole; EncodeHolder keeps room
  // for the NUL, so only text that fits comes back unchanged.
  const HolderRecord again =
      EncodeHolder(holder.pid, holder.since_unix_ms, holder.host, holder.purpose);
  const WriteLockStatus holder2 = DecodeHolder(again);
  if (holder.host.size() < sizeof record.host && holder.purpose.size() < sizeof record.purpose) {
    FUZZ_CHECK(SameHolder(holder, holder2));
  }
  FUZZ_CHECK(SameHolder(holder2, DecodeHolder(EncodeHolder(holder2.pid, holder2.since_unix_ms,
                                                           holder2.host, holder2.purpose))));
  const std::string text = DescribeHolder(holder);
  FUZZ_CHECK(text.starts_with("pid " + std::to_string(holder.pid) + " on host "));
}

SlotClaim ClaimOf(const Slot& slot) {
  SlotClaim claim;
  claim.ownership = slot.info.ownership;
  claim.pid = slot.info.pid;
  claim.start_ticks = slot.start_ticks;
  claim.pid_namespace = slot.pid_namespace;
  claim.started_unix_ms = slot.info.started_unix_ms;
  claim.nonce = slot.nonce;
  claim.boot_id = slot.info.boot_id;
  claim.host = slot.info.host;
  return claim;
}

void CheckSlot(const SlotRecord& record, int index) {
  Result<std::optional<Slot>> decoded = DecodeSlot(record, index, kPath);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.error().code() == StatusCode::kCorruption);
    FUZZ_CHECK(record.magic != 0);
    return;
  }
  if (!decoded->has_value()) {
    FUZZ_CHECK(record.magic == 0);
    return;
  }
  const Slot& slot = **decoded;
  FUZZ_CHECK(record.magic == kSlotMagic);
  FUZZ_CHECK(slot.info.slot == index);
  FUZZ_CHECK(slot.info.pid > 0);
  FUZZ_CHECK(slot.info.host.size() < sizeof record.host);
  FUZZ_CHECK(slot.info.boot_id.size() < sizeof record.boot_id);

  const SlotRecord again = EncodeSlot(ClaimOf(slot));
  // The fields a claim writes are the input's own.
  FUZZ_CHECK(again.magic == record.magic && again.ownership == record.ownership);
  FUZZ_CHECK(again.pid == record.pid && again.start_ticks == record.start_ticks);
  FUZZ_CHECK(again.pid_namespace == record.pid_namespace);
  FUZZ_CHECK(again.started_unix_ms == record.started_unix_ms && again.nonce == record.nonce);
  FUZZ_CHECK(std::strncmp(again.host, record.host, sizeof record.host) == 0);
  FUZZ_CHECK(std::strncmp(again.boot_id, record.boot_id, sizeof record.boot_id) == 0);

  Result<std::optional<Slot>> redecoded = DecodeSlot(again, index, kPath);
  FUZZ_CHECK(redecoded.ok() && redecoded->has_value());
  const Slot& slot2 = **redecoded;
  FUZZ_CHECK(slot2.info.pid == slot.info.pid && slot2.info.host == slot.info.host);
  FUZZ_CHECK(slot2.info.boot_id == slot.info.boot_id);
  FUZZ_CHECK(slot2.info.started_unix_ms == slot.info.started_unix_ms);
  FUZZ_CHECK(slot2.info.ownership == slot.info.ownership);
  FUZZ_CHECK(slot2.start_ticks == slot.start_ticks && slot2.pid_namespace == slot.pid_namespace);
  FUZZ_CHECK(slot2.nonce == slot.nonce);
  // A fresh claim is running, heartbeat 1 at its start, no handover asked.
  FUZZ_CHECK(slot2.info.state == InstanceState::kRunning && slot2.info.heartbeat == 1);
  FUZZ_CHECK(slot2.info.heartbeat_unix_ms == slot.info.started_unix_ms);
  FUZZ_CHECK(slot2.handover_seq == 0);
}

template <typename Record>
Record RecordAt(std::string_view bytes, std::size_t offset) {
  Record record;
  std::memset(&record, 0, sizeof record);
  if (offset < bytes.size()) {
    std::memcpy(&record, bytes.data() + offset, std::min(sizeof record, bytes.size() - offset));
  }
  return record;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {  // A whole sidecar file, as SidecarFile and the slot scan read it.
      CheckHeaderBytes(bytes);
      if (bytes.size() >= static_cast<std::size_t>(kHolderOffset) + sizeof(HolderRecord)) {
        CheckHolder(RecordAt<HolderRecord>(bytes, kHolderOffset));
      }
      for (int i = 0; i < kMaxSlots; ++i) {
        const auto offset = static_cast<std::size_t>(SlotOffset(i));
        if (offset + sizeof(SlotRecord) > bytes.size()) break;
        CheckSlot(RecordAt<SlotRecord>(bytes, offset), i);
      }
      break;
    }
    case 1:
      CheckHolder(RecordAt<HolderRecord>(bytes, 0));
      break;
    case 2:
      CheckSlot(RecordAt<SlotRecord>(bytes, 0), static_cast<int>(size % kMaxSlots));
      break;
  }
  return 0;
}
