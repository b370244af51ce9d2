// The frames of a WAL file that make up one snapshot: frames 1..mxFrame of
// the wal-index header the snapshot's reader holds, checked against that
// header and indexed by page (file_copy.cc lays them over the copy of the
// database file). WAL layout: sqlite.org/fileformat2.html#walformat.
//
// Thread safety: ReadWalFrames is safe for concurrent use on different
// files; a WalFrames is immutable once returned.
#ifndef SQLSTEWARD_SNAPSHOT_WAL_FRAMES_H_
#define SQLSTEWARD_SNAPSHOT_WAL_FRAMES_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "snapshot/source_vfs.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

inline constexpr std::int64_t kWalHeaderBytes = 32;
inline constexpr std::int64_t kWalFrameHeaderBytes = 24;

struct WalFrames {
  std::int64_t page_size = 0;
  // frame_of_page[p]: the last frame (1-based) of frames 1..mxFrame that
  // holds page p, or 0; indexed 0..page_count, page 0 unused.
  std::vector<std::uint32_t> frame_of_page;
  std::int64_t frames = 0;        // mxFrame.
  std::int64_t pages_in_wal = 0;  // Pages with a frame.

  // Where frame `frame`'s page image starts in the WAL file.
  std::int64_t PageOffset(std::uint32_t frame) const {
    return kWalHeaderBytes +
           (static_cast<std::int64_t>(frame) - 1) * (page_size + kWalFrameHeaderBytes) +
           kWalFrameHeaderBytes;
  }
};

// Reads frames 1..header.max_frame of `wal` (the lower VFS's file of the
// reader's WAL) and checks them as SQLite's recovery would: the WAL
// header's magic, page size, salts and checksum; every frame's salts and
// its place in the running checksum; and that the last one is a commit
// frame whose running checksum is the header's and whose database size is
// `page_count`. Frames of pages past `page_count` are not indexed.
// kFailedPrecondition, naming what did not hold, when any check fails.
Result<WalFrames> ReadWalFrames(sqlite3_file* wal, const WalIndexHeader& header,
                                std::int64_t page_count, const std::string& path);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_WAL_FRAMES_H_
