// The WAL-reset bug of SQLite 3.7.0 to 3.51.2 (sqlite.org/wal.html#walresetbug):
// two connections committing and checkpointing at the same moment can
// corrupt a WAL database. sqlsteward checkpoints only under its
// cross-process write lock, which keeps its own processes out of that race;
// other programs on the same file are not. `version` and `doctor` say so.
#ifndef SQLSTEWARD_TOOLS_COMMON_WAL_RESET_BUG_H_
#define SQLSTEWARD_TOOLS_COMMON_WAL_RESET_BUG_H_

namespace sqlsteward::cli {

// Whether SQLite of this sqlite3_libversion_number() has the bug.
inline bool HasWalResetBug(int version_number) {
  return version_number >= 3'007'000 && version_number <= 3'051'002;
}

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_WAL_RESET_BUG_H_
