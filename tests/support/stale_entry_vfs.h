// A test-only SQLite VFS: SQLite's default one, except that a database's
// -journal can be made to look like a stale directory entry. That is what
// a FUSE, virtiofs or NFS client shows for a while after the file was
// removed through another mount or host: the name is still listed (xAccess
// says it exists) and opening it fails with ENOENT (xOpen gives
// SQLITE_CANTOPEN, xGetLastError ENOENT). Open (core/open_steps.cc) and the
// write queue wait that out; these tests make it happen on demand.
//
// Registered under kStaleEntryVfs, not as the default: select it with
// Options::vfs. Locks and I/O are the default VFS's own, so it passes the
// library's check that a VFS locks.
//
// Thread safety: safe for concurrent use.
#ifndef SQLSTEWARD_TESTS_SUPPORT_STALE_ENTRY_VFS_H_
#define SQLSTEWARD_TESTS_SUPPORT_STALE_ENTRY_VFS_H_

namespace sqlsteward::testing {

inline constexpr char kStaleEntryVfs[] = "sqlsteward-test-stale-entry";

// Registers the VFS (once); false if SQLite refused it.
bool RegisterStaleEntryVfs();

// From now on, a -journal looks present and the next `opens` opens of one
// fail as a stale entry does; negative: every one until the next call.
// 0: none (the journal is what the filesystem says).
void SetStaleJournalOpens(int opens);

// Opens of a -journal failed so far.
int StaleJournalFailures();

}  // namespace sqlsteward::testing

#endif  // SQLSTEWARD_TESTS_SUPPORT_STALE_ENTRY_VFS_H_
