#include "snapshot/wal_frames.h"

#include <algorithm>
#include <cstring>

#include "base/status_builders.h"

namespace sqlsteward::internal {
namespace {

constexpr std::uint32_t kWalMagic = 0x377f0682;  // | 1: checksums of big-endian words.
constexpr std::int64_t kReadBytes = 1 << 20;

std::uint32_t Big32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint32_t Little32(const unsigned char* p) {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) |
         std::uint32_t{p[0]};
}

// walChecksumBytes of wal.c: `bytes` is a multiple of 8.
void Checksum(bool big_endian, const unsigned char* data, std::int64_t bytes, std::uint32_t* s1,
              std::uint32_t* s2) {
  std::uint32_t a = *s1;
  std::uint32_t b = *s2;
  for (std::int64_t i = 0; i < bytes; i += 8) {
    const std::uint32_t x = big_endian ? Big32(data + i) : Little32(data + i);
    const std::uint32_t y = big_endian ? Big32(data + i + 4) : Little32(data + i + 4);
    a += x + b;
    b += y + a;
  }
  *s1 = a;
  *s2 = b;
}

Status NotUsable(const std::string& path, const std::string& why) {
  return FailedPrecondition(
      "the WAL " + path + " does not hold the snapshot as its header says: " + why,
      "the snapshot uses SQLite's backup API instead");
}

Status ReadExactly(sqlite3_file* file, unsigned char* out, std::int64_t len, std::int64_t offset,
                   const std::string& path) {
  const int rc = file->pMethods->xRead(file, out, static_cast<int>(len), offset);
  if (rc == SQLITE_IOERR_SHORT_READ) return NotUsable(path, "it is shorter than its frames");
  if (rc != SQLITE_OK) return IOError("read " + path + " failed", "check the disk", rc);
  return Status();
}

}  // namespace

Result<WalFrames> ReadWalFrames(sqlite3_file* wal, const WalIndexHeader& header,
                                std::int64_t page_count, const std::string& path) {
  WalFrames out;
  out.page_size = header.page_size;
  out.frames = header.max_frame;
  out.frame_of_page.assign(static_cast<std::size_t>(page_count) + 1, 0);
  if (header.max_frame == 0) return out;
  if (wal == nullptr) return NotUsable(path, "it is not open");
  if (header.page_size < 512 || header.page_size > 65536) return NotUsable(path, "page size");

  unsigned char head[kWalHeaderBytes];
  SQLSTEWARD_RETURN_IF_ERROR(ReadExactly(wal, head, kWalHeaderBytes, 0, path));
  const std::uint32_t magic = Big32(head);
  const bool big_endian = (magic & 1) != 0;
  if ((magic & ~1u) != kWalMagic) return NotUsable(path, "no WAL magic");
  if (big_endian != header.big_endian_checksum) return NotUsable(path, "checksum byte order");
  if (Big32(head + 8) != header.page_size) return NotUsable(path, "page size");
  if (std::memcmp(head + 16, header.salt.data(), 8) != 0) {
    return NotUsable(path, "its salts are not the snapshot's (the WAL was restarted)");
  }
  std::uint32_t s1 = 0;
  std::uint32_t s2 = 0;
  Checksum(big_endian, head, 24, &s1, &s2);
  if (s1 != Big32(head + 24) || s2 != Big32(head + 28)) return NotUsable(path, "header checksum");

  const std::int64_t frame_bytes = header.page_size + kWalFrameHeaderBytes;
  const std::int64_t per_read = std::max<std::int64_t>(1, kReadBytes / frame_bytes);
  std::vector<unsigned char> buffer(static_cast<std::size_t>(per_read * frame_bytes));
  std::uint32_t last_size = 0;
  for (std::int64_t first = 1; first <= header.max_frame; first += per_read) {
    const std::int64_t n = std::min<std::int64_t>(per_read, header.max_frame - first + 1);
    SQLSTEWARD_RETURN_IF_ERROR(ReadExactly(wal, buffer.data(), n * frame_bytes,
                                           kWalHeaderBytes + (first - 1) * frame_bytes, path));
    for (std::int64_t i = 0; i < n; ++i) {
      const unsigned char* frame = buffer.data() + i * frame_bytes;
      const auto number = static_cast<std::uint32_t>(first + i);
      const std::uint32_t page = Big32(frame);
      if (page == 0) return NotUsable(path, "frame " + std::to_string(number) + " has no page");
      if (std::memcmp(frame + 8, header.salt.data(), 8) != 0) {
        return NotUsable(path, "frame " + std::to_string(number) + " is of another WAL generation");
      }
      Checksum(big_endian, frame, 8, &s1, &s2);
      Checksum(big_endian, frame + kWalFrameHeaderBytes, header.page_size, &s1, &s2);
      if (s1 != Big32(frame + 16) || s2 != Big32(frame + 20)) {
        return NotUsable(path, "frame " + std::to_string(number) + " fails its checksum");
      }
      last_size = Big32(frame + 4);
      if (page <= page_count) {
        if (out.frame_of_page[page] == 0) ++out.pages_in_wal;
        out.frame_of_page[page] = number;
      }
    }
  }
  if (s1 != header.frame_checksum[0] || s2 != header.frame_checksum[1]) {
    return NotUsable(path, "the running checksum of its last frame is not the header's");
  }
  if (last_size != page_count) {
    return NotUsable(path,
                     "its last frame does not commit " + std::to_string(page_count) + " pages");
  }
  return out;
}

}  // namespace sqlsteward::internal
