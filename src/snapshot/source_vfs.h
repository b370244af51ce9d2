// The VFS of the snapshot's own read connection to a WAL database: the
// database's VFS, unchanged, except that it remembers which WAL read slot
// the connection's read transaction holds and the wal-index header it
// holds it with (source_vfs.cc says how and why).
//
// Thread safety: RegisterSnapshotSourceVfs is safe for concurrent use. The
// state of one connection (ReadSlotOf) is read by the thread using that
// connection, between its calls into SQLite.
#ifndef SQLSTEWARD_SNAPSHOT_SOURCE_VFS_H_
#define SQLSTEWARD_SNAPSHOT_SOURCE_VFS_H_

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <string>

#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// The wal-index header (the first 48 bytes of the -shm file, in the host's
// byte order; sqlite.org/walformat.html#the_wal_index_file_format).
struct WalIndexHeader {
  std::uint32_t version = 0;
  std::uint32_t change = 0;
  bool big_endian_checksum = false;
  std::uint32_t page_size = 0;                    // Decoded: 65536 is stored as 1.
  std::uint32_t max_frame = 0;                    // mxFrame: the last valid frame of the snapshot.
  std::uint32_t page_count = 0;                   // nPage: the database's size in pages.
  std::array<std::uint32_t, 2> frame_checksum{};  // Running checksum of frame max_frame.
  std::array<unsigned char, 8> salt{};            // As in the WAL file's header.
};

// What the read connection holds once its read transaction has begun.
struct ReadSlot {
  int slot = -1;  // WAL_READ_LOCK(slot) held shared; -1: none.
  WalIndexHeader header;
  std::uint32_t read_mark = 0;   // aReadMark[slot] (0 for slot 0).
  std::uint32_t backfilled = 0;  // nBackfill when the slot was taken.
};

// Registers (once per lower VFS) the source VFS stacked on `lower_vfs`
// (empty: the default VFS) and returns its name.
Result<std::string> RegisterSnapshotSourceVfs(const std::string& lower_vfs);

// The read slot the connection `db` (opened through the source VFS) holds
// on its main database, with the header copied when the slot was taken.
// kFailedPrecondition when `db` holds none, was not opened through the
// source VFS, the header could not be copied consistently, or the
// wal-index is read-only (SQLite then reads the WAL through a private
// copy of the index, and slot 0 does not mean "database file only").
Result<ReadSlot> ReadSlotOf(sqlite3* db);

// The lower VFS's own file objects of `db`'s main database and its WAL,
// for reading them directly (the WAL's is nullptr when it is not open).
struct SourceFiles {
  sqlite3_file* database = nullptr;
  sqlite3_file* wal = nullptr;
};
Result<SourceFiles> SourceFilesOf(sqlite3* db);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_SOURCE_VFS_H_
