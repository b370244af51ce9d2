// The VFS through which the snapshotter writes its temporary file
// (writer_vfs.cc says how and why).
//
// Thread safety: RegisterSnapshotWriterVfs is safe for concurrent use.
#ifndef SQLSTEWARD_SNAPSHOT_WRITER_VFS_H_
#define SQLSTEWARD_SNAPSHOT_WRITER_VFS_H_

namespace sqlsteward::internal {

// The default VFS with sequential page writes gathered into 64 KiB writes.
// Registers it on first call; nullptr if it cannot be.
inline constexpr char kSnapshotWriterVfs[] = "sqlsteward-snapshot-writer";
const char* RegisterSnapshotWriterVfs();

// sqlite3_file_control op of that VFS: write out the buffer now and return
// any write error not reported yet.
inline constexpr int kFlushFileControl = 0x53570001;

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_WRITER_VFS_H_
