// The snapshotter: online snapshots through SQLite's backup API, their
// manifests, verification and restore.
//
// Publishing a snapshot (all in DEST_DIR, so that renames are atomic):
//   1. Stale temporaries of dead snapshotters are removed (see 2 for how
//      they are told apart from live ones).
//   2. `.snapshot-<hex>.tmp` is created O_CREAT|O_EXCL|O_NOFOLLOW, 0600, and
//      the creator takes an OFD write lock on its byte 0 (SQLite's own locks
//      on a database file live at 1 GiB and above, so they never meet it).
//      The lock is the "in use" mark: a cleaner removes a temporary only
//      when it can take that lock. The creator re-checks after locking that
//      the name still refers to its file, which closes the window between
//      create and lock.
//   3. A private SQLite connection on the temporary file (journal_mode=OFF:
//      no journal beside it; synchronous=OFF: we fsync once at the end) is
//      the backup's destination. The copy keeps the source's header bytes
//      18-19, which say "WAL" when the source is in WAL mode; they are reset
//      to 1 (rollback journal) so that a snapshot is one self-contained
//      file that opens without -wal/-shm files.
//   4. fsync; then, in parallel, the integrity check (its own read-only,
//      immutable connection) and the sha256 of the file.
//   5. Under an flock on DEST_DIR (snapshotters of one directory publish one
//      at a time; the lock is not held during the copy): choose <seq>, write
//      the manifest to `.snapshot-<hex>.manifest.tmp`, fsync, rename it to
//      its final name, rename the snapshot to its final name, fsync the
//      directory, apply retention.
// A snapshot exists exactly when its final .db name exists, and then its
// manifest exists too. Any failure removes the temporaries; a crash leaves
// them for step 1 of the next snapshot.
//
// The copy (step 3) and why it does not stall writers:
//   WAL: a separate read-only connection (no checkpoint on close, no mmap)
//     runs BEGIN and one SELECT, and holds that read transaction for the
//     whole copy. The backup then reads one unchanging view of the database
//     and never restarts, whatever writers commit meanwhile (checked by
//     snapshot_test's WalSnapshotDoesNotRestartUnderWrites); writers are
//     not blocked at all, and checkpoints stop at our read mark until the
//     copy ends (the WAL grows by what is written meanwhile).
//   Rollback journal: a read transaction held for the copy would block
//     every commit, and a writer waiting for it (PENDING lock) would block
//     every new reader too. So steps run in short read transactions; a
//     commit between two steps makes SQLite restart the backup. After
//     max_restarts restarts the copy is redone under the cross-process write
//     lock (DatabaseAccess::WithWriterConnection, reading through the writer's
//     connection): writers queue behind it, readers keep going.
//
// Restore copies a verified snapshot into the live database through the
// writer's connection (WithWriterConnection): one write transaction that every
// other connection sees as a commit (the backup bumps the schema cookie),
// atomic — a failed step rolls it back — and never a rename under open
// connections (sqlite.org/howtocorrupt.html, section 2). Before that, in
// the same job, the current content is snapshotted aside as
// `<name>-pre-restore-...`.
#include "sqlsteward/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "base/time.h"
#include "core/connection.h"
#include "core/database_access.h"
#include "posix/env.h"
#include "posix/fs.h"
#include "base/sha256.h"
#include "snapshot/snapshot_files.h"
#include "sqlsteward/database.h"
#include "sqlsteward/instances.h"

namespace sqlsteward {

using internal::SqliteStatus;

namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kManifestFormat = "sqlsteward-snapshot";
constexpr int kManifestFormatVersion = 1;
constexpr std::size_t kMaxManifestBytes = 64 << 10;
constexpr std::size_t kHashChunk = 1 << 20;
constexpr int kIntegrityRows = 20;
constexpr auto kBusyGiveUp = std::chrono::milliseconds(500);


std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

std::string_view JournalModeName(JournalMode mode) {
  return mode == JournalMode::kWal ? "wal" : "delete";
}

// ---------------------------------------------------------------- SQLite --

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Result<SqliteHandle> OpenSqlite(const std::string& name, int flags, std::string_view what,
                                const char* vfs = nullptr) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, vfs);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, raw, "open " + std::string(what));
  sqlite3_extended_result_codes(raw, 1);
  // Our connections never checkpoint (only the writer does, under the
  // cross-process write lock) and never map the file.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  return db;
}

Status Exec(sqlite3* db, const char* sql, std::string_view context) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(sqlite3_extended_errcode(db), db, context);
  return Status();
}

Result<std::int64_t> QueryInt(sqlite3* db, const char* sql, std::string_view context) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, context);
  rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) {
    return SqliteStatus(rc == SQLITE_DONE ? SQLITE_ERROR : sqlite3_extended_errcode(db), db,
                        context);
  }
  return std::int64_t{sqlite3_column_int64(raw, 0)};
}

// A snapshot file, read-only and immutable: no locks, no -wal/-shm/-journal
// lookups beside it. Nobody writes a published snapshot.
Result<SqliteHandle> OpenSnapshotFile(const std::string& path) {
  return OpenSqlite(SqliteUri(path, "immutable=1"),
                    SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW, path);
}

Status RunIntegrityCheck(sqlite3* db, IntegrityCheck check, std::string_view what) {
  if (check == IntegrityCheck::kNone) return Status();
  std::string sql = check == IntegrityCheck::kQuick ? "PRAGMA quick_check(" : "PRAGMA integrity_check(";
  sql += std::to_string(kIntegrityRows) + ")";
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  StmtHandle stmt(raw);
  std::vector<std::string> rows;
  if (rc == SQLITE_OK) rc = SQLITE_ROW;
  while (rc == SQLITE_ROW && (rc = sqlite3_step(raw)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(raw, 0);
    rows.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }
  const std::string hint =
      "the file is damaged: do not restore it; use another snapshot, and run "
      "`sqlsteward doctor` on the database it came from";
  if (rc != SQLITE_DONE) {
    const int code = sqlite3_extended_errcode(db);
    if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) {
      return Status(StatusCode::kCorruption,
                    "integrity check failed: " + std::string(what) + ": " + sqlite3_errmsg(db),
                    hint, code);
    }
    return SqliteStatus(code, db,
                        std::string(IntegrityCheckName(check)) + " check of " + std::string(what));
  }
  if (rows.size() == 1 && rows[0] == "ok") return Status();
  std::string message = "integrity check failed: " + std::string(what) + ": ";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) message += "; ";
    message += rows[i];
  }
  return Status(StatusCode::kCorruption, std::move(message), hint, SQLITE_CORRUPT);
}

// -------------------------------------------------------------- Progress --

class Reporter {
 public:
  Reporter(const SnapshotProgressFn& fn, std::chrono::milliseconds interval)
      : fn_(fn), interval_(interval) {}

  void Begin(SnapshotPhase phase, std::int64_t total, std::int64_t page_size) {
    std::lock_guard lock(mu_);
    State& s = state_[Index(phase)];
    s = State{};
    s.start = Clock::now();
    s.page_size = page_size;
    CallLocked(phase, s, 0, total, false);
  }
  void Update(SnapshotPhase phase, std::int64_t done, std::int64_t total, int restarts = 0) {
    std::lock_guard lock(mu_);
    State& s = state_[Index(phase)];
    s.restarts = restarts;
    if (Clock::now() - s.last < interval_) return;
    CallLocked(phase, s, done, total, false);
  }
  void End(SnapshotPhase phase, std::int64_t done, std::int64_t total) {
    std::lock_guard lock(mu_);
    CallLocked(phase, state_[Index(phase)], done, total, true);
  }

 private:
  struct State {
    Clock::time_point start{};
    Clock::time_point last{};
    std::int64_t page_size = 0;
    int restarts = 0;
  };
  static std::size_t Index(SnapshotPhase phase) { return static_cast<std::size_t>(phase); }

  void CallLocked(SnapshotPhase phase, State& s, std::int64_t done, std::int64_t total,
                  bool finished) {
    if (!fn_) return;
    s.last = Clock::now();
    SnapshotProgress p;
    p.phase = phase;
    p.pages_done = done;
    p.pages_total = total;
    p.page_size = s.page_size;
    p.bytes_done = done * s.page_size;
    p.elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(s.last - s.start);
    p.finished = finished;
    p.restarts = s.restarts;
    fn_(p);
  }

  const SnapshotProgressFn& fn_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::array<State, 6> state_{};
};

// ---------------------------------------------------------------- Backup --

struct BackupRun {
  sqlite3* dest = nullptr;
  sqlite3* source = nullptr;
  int pages_per_step = 1024;
  SnapshotPhase phase = SnapshotPhase::kCopy;
  // Restarts tolerated before giving up with kAborted; negative: any.
  int max_restarts = -1;
  Clock::time_point deadline{};
  Reporter* reporter = nullptr;
  std::int64_t page_size = 0;
  // Runs after each step (the snapshot starts writeback of what was copied).
  std::function<void()> after_step;
};

struct BackupOutcome {
  int restarts = 0;
  std::int64_t pages = 0;
};

// Runs the backup to completion. SQLite restarts a backup when the source
// changes between two steps through another connection; it shows as the
// count of copied pages not growing.
Status RunBackup(const BackupRun& run, BackupOutcome* out) {
  sqlite3_backup* backup = sqlite3_backup_init(run.dest, "main", run.source, "main");
  if (backup == nullptr) {
    return SqliteStatus(sqlite3_extended_errcode(run.dest), run.dest, "start backup");
  }
  run.reporter->Begin(run.phase, 0, run.page_size);
  std::int64_t last_done = 0;
  std::int64_t total = 0;
  const int step = std::max(1, run.pages_per_step);
  // Since when steps have found the source locked; max() while they do not.
  Clock::time_point busy_since = Clock::time_point::max();
  for (;;) {
    const int rc = sqlite3_backup_step(backup, step);
    total = sqlite3_backup_pagecount(backup);
    const std::int64_t done = total - sqlite3_backup_remaining(backup);
    if (rc == SQLITE_OK || rc == SQLITE_DONE) {
      busy_since = Clock::time_point::max();
      if (rc == SQLITE_OK && last_done > 0 && done <= last_done) {
        ++out->restarts;
        if (run.max_restarts >= 0 && out->restarts > run.max_restarts) {
          sqlite3_backup_finish(backup);
          return Status(StatusCode::kAborted,
                        "the source changed " + std::to_string(out->restarts) +
                            " times during the copy",
                        "retry when writes are fewer");
        }
      }
      last_done = done;
      if (run.after_step) run.after_step();
      if (rc == SQLITE_DONE) break;
      run.reporter->Update(run.phase, done, total, out->restarts);
      continue;
    }
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
      const auto now = Clock::now();
      if (busy_since == Clock::time_point::max()) busy_since = now;
      // A copy that may give up (rollback journal, without the write lock)
      // does so when writers keep the database locked, as for restarts.
      if (run.max_restarts >= 0 && now - busy_since > kBusyGiveUp) {
        sqlite3_backup_finish(backup);
        return Status(StatusCode::kAborted, "the source stayed locked by writers",
                      "retry when writes are fewer");
      }
      if (now >= run.deadline) {
        sqlite3_backup_finish(backup);
        return Status(StatusCode::kTimeout,
                      "the database stayed locked past the deadline during the copy",
                      "a long transaction outside sqlsteward holds SQLite's lock; retry, or "
                      "raise the timeout",
                      rc);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    sqlite3_backup_finish(backup);
    return SqliteStatus(sqlite3_extended_errcode(run.dest) != SQLITE_OK
                            ? sqlite3_extended_errcode(run.dest)
                            : rc,
                        run.dest, "copy");
  }
  const int rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_OK) return SqliteStatus(rc, run.dest, "finish copy");
  out->pages = total;
  run.reporter->End(run.phase, total, total);
  return Status();
}

// ----------------------------------------------------------------- Files --

std::string RandomHex() {
  static std::atomic<std::uint64_t> counter{0};
  std::random_device device;
  std::uint64_t value = (std::uint64_t{device()} << 32) ^ std::uint64_t{device()} ^
                        (counter.fetch_add(1) * 0x9e3779b97f4a7c15ULL);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = kDigits[(value >> (4 * i)) & 0xf];
  return out;
}

// F_OFD_SETLK on byte 0: `type` F_WRLCK or F_UNLCK. Returns 0 or -1/errno.
int LockByteZero(posix::Env* env, int fd, short type) {
  struct flock lock = {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 1;
  return env->FcntlLock(fd, F_OFD_SETLK, &lock);
}

Status WriteAll(posix::Env* env, int fd, std::string_view data, const std::string& path) {
  off_t offset = 0;
  while (!data.empty()) {
    ssize_t n = env->Pwrite(fd, data.data(), data.size(), offset);
    if (n < 0) return posix::ErrnoStatus(errno, "write", path);
    if (n == 0) return posix::ErrnoStatus(ENOSPC, "write", path);
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += n;
  }
  return Status();
}

Status ReadAt(posix::Env* env, int fd, void* buf, std::size_t len, off_t offset,
              const std::string& path, std::size_t* got) {
  *got = 0;
  auto* out = static_cast<char*>(buf);
  while (*got < len) {
    ssize_t n = env->Pread(fd, out + *got, len - *got, offset + static_cast<off_t>(*got));
    if (n < 0) return posix::ErrnoStatus(errno, "read", path);
    if (n == 0) break;
    *got += static_cast<std::size_t>(n);
  }
  return Status();
}

// The sha256 of an open file, from the start to its end, reporting pages.
Result<std::string> HashFile(posix::Env* env, int fd, const std::string& path,
                             std::int64_t size, std::int64_t page_size, Reporter* reporter) {
  const std::int64_t unit = page_size > 0 ? page_size : 4096;
  const std::int64_t total_pages = (size + unit - 1) / unit;
  reporter->Begin(SnapshotPhase::kChecksum, total_pages, unit);
  Sha256 hash;
  std::vector<char> buffer(kHashChunk);
  std::int64_t offset = 0;
  for (;;) {
    std::size_t got = 0;
    SQLSTEWARD_RETURN_IF_ERROR(
        ReadAt(env, fd, buffer.data(), buffer.size(), static_cast<off_t>(offset), path, &got));
    if (got == 0) break;
    hash.Update(buffer.data(), got);
    offset += static_cast<std::int64_t>(got);
    reporter->Update(SnapshotPhase::kChecksum, offset / unit, total_pages);
  }
  reporter->End(SnapshotPhase::kChecksum, total_pages, total_pages);
  if (offset != size) {
    return Status(StatusCode::kCorruption,
                  "size mismatch: " + path + " changed size while it was read (" +
                      std::to_string(offset) + " bytes read, " + std::to_string(size) +
                      " expected)",
                  "something else is writing the file; snapshots must not be modified");
  }
  return hash.FinishHex();
}

// An flock on a directory: snapshotters of one directory publish (choose a
// name, rename, apply retention) one at a time. flock rather than an OFD
// lock: a directory cannot be opened for writing, which F_WRLCK requires.
class DirectoryLock {
 public:
  static Result<DirectoryLock> Acquire(posix::Env* env, const std::string& dir) {
    int fd = env->Open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return posix::ErrnoStatus(errno, "open", dir);
    posix::UniqueFd guard(env, fd);
    if (env->Flock(fd, LOCK_EX) != 0) return posix::ErrnoStatus(errno, "flock", dir);
    return DirectoryLock(std::move(guard));
  }

 private:
  explicit DirectoryLock(posix::UniqueFd fd) : fd_(std::move(fd)) {}
  posix::UniqueFd fd_;  // Closing it releases the lock.
};

// The temporary snapshot file and the SQLite connection that writes it.
// Removes both temporaries at destruction unless Publish()ed.
class TempSnapshot {
 public:
  static Result<std::unique_ptr<TempSnapshot>> Create(posix::Env* env, const std::string& dir) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      const std::string hex = RandomHex();
      const std::string name = std::string(kTempPrefix) + hex + std::string(kTempSuffix);
      const std::string path = JoinPath(dir, name);
      int fd = env->Open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
      if (fd < 0) {
        if (errno == EEXIST) continue;
        return posix::ErrnoStatus(errno, "create", path,
                                  errno == ENOSPC ? "" : "check that the directory is writable");
      }
      std::unique_ptr<TempSnapshot> temp(new TempSnapshot(env, dir, hex, path, fd));
      // The mode must not depend on the umask.
      if (env->Fchmod(fd, 0600) != 0) return posix::ErrnoStatus(errno, "chmod", path);
      if (LockByteZero(env, fd, F_WRLCK) != 0) return posix::ErrnoStatus(errno, "lock", path);
      // A cleaner may have removed the name between our create and our lock.
      struct stat by_fd;
      struct stat by_name;
      if (env->Fstat(fd, &by_fd) != 0) return posix::ErrnoStatus(errno, "stat", path);
      if (env->Lstat(path.c_str(), &by_name) != 0 || by_name.st_ino != by_fd.st_ino ||
          by_name.st_dev != by_fd.st_dev) {
        temp->path_.clear();  // Not ours any more: do not unlink.
        continue;
      }
      return temp;
    }
    return Status(StatusCode::kInternal, "could not create a temporary file in " + dir,
                  "this is a bug in sqlsteward; please report it");
  }

  TempSnapshot(const TempSnapshot&) = delete;
  TempSnapshot& operator=(const TempSnapshot&) = delete;
  ~TempSnapshot() {
    conn_.reset();
    if (!published_) {
      if (!manifest_path_.empty()) env_->Unlink(manifest_path_.c_str());
      if (!path_.empty()) env_->Unlink(path_.c_str());
    }
  }

  // The destination connection, opened on first use, through the VFS that
  // gathers page writes (snapshot_vfs.cc).
  Result<sqlite3*> Connection() {
    if (conn_ != nullptr) return conn_.get();
    SQLSTEWARD_ASSIGN_OR_RETURN(
        conn_, OpenSqlite(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, path_,
                          RegisterSnapshotWriterVfs()));
    // No journal beside the temporary file, no fsync per step (one fsync of
    // the whole file comes later), no process-wide locking dance, no mmap.
    SQLSTEWARD_RETURN_IF_ERROR(
        Exec(conn_.get(),
             "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE; "
             "PRAGMA mmap_size=0; PRAGMA cache_size=-8192",
             "configure " + path_));
    return conn_.get();
  }

  // Closes the connection; SQLite has then written everything to the file.
  Status CloseConnection() {
    sqlite3* db = conn_.release();
    if (db == nullptr) return Status();
    // xClose's errors are ignored by SQLite: write out the VFS's buffer
    // first and take its error here.
    int rc = sqlite3_file_control(db, "main", kFlushFileControl, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND) {
      Status st = SqliteStatus(rc, db, "write " + path_);
      sqlite3_close_v2(db);
      return st;
    }
    rc = sqlite3_close(db);
    if (rc != SQLITE_OK) {
      Status st = SqliteStatus(rc, db, "close " + path_);
      sqlite3_close_v2(db);
      return st;
    }
    return Status();
  }

  // Starts writeback of what the copy has written so far, once more than
  // kWritebackBytes are new. A snapshot of 1 GiB would otherwise reach its
  // fsync with 1 GiB dirty in the page cache, and flushing it in one go
  // delays everyone's fsyncs on the same disk (the writers' commits);
  // written back as it goes, the final fsync has little left to do.
  // At most two ranges are in flight: the copy waits for the previous one
  // before going on, so the disk's queue never holds more than about
  // 2 * kWritebackBytes of ours ahead of a writer's fsync.
  // Advisory: errors are ignored (fsync reports them).
  void StartWriteback() {
    struct stat st;
    if (env_->Fstat(fd_.get(), &st) != 0 || st.st_size - writeback_from_ < kWritebackBytes) return;
    env_->SyncFileRange(fd_.get(), writeback_from_, st.st_size - writeback_from_,
                        SYNC_FILE_RANGE_WRITE);
    if (writeback_from_ > inflight_from_) {
      env_->SyncFileRange(fd_.get(), inflight_from_, writeback_from_ - inflight_from_,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER);
    }
    inflight_from_ = writeback_from_;
    writeback_from_ = st.st_size;
  }

  // Reserves the copy's blocks up front, beyond the end of the (empty)
  // file. On ext4 in data=ordered mode, blocks allocated as the copy is
  // written back join the journal transaction that a writer's fdatasync
  // commits, and that commit first waits for their data: reserved
  // beforehand, the copy's writeback no longer holds up the application's
  // commits. A full disk is reported now, before anything is copied.
  // Filesystems without fallocate are fine.
  Status Preallocate(std::int64_t bytes) {
    if (bytes <= 0) return Status();
    if (env_->Fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) == 0) {
      return Status();
    }
    if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) return Status();
    return posix::ErrnoStatus(errno, "reserve space for", path_);
  }

  // Empties the file for a fresh copy.
  Status Reset() {
    writeback_from_ = 0;
    inflight_from_ = 0;
    conn_.reset();
    if (::ftruncate(fd_.get(), 0) != 0) return posix::ErrnoStatus(errno, "truncate", path_);
    return Status();
  }

  // A copy of a WAL database says "WAL" in header bytes 18-19; a snapshot
  // is a single rollback-journal file.
  Status ResetWalHeader() {
    unsigned char header[100];
    std::size_t got = 0;
    SQLSTEWARD_RETURN_IF_ERROR(ReadAt(env_, fd_.get(), header, sizeof header, 0, path_, &got));
    if (got == 0) return Status();  // An empty database.
    if (got < sizeof header || std::memcmp(header, "SQLite format 3", 16) != 0) {
      return Status(StatusCode::kInternal, "the copy in " + path_ + " has no SQLite header",
                    "this is a bug in sqlsteward; please report it");
    }
    if (header[18] != 2 && header[19] != 2) return Status();
    const unsigned char legacy[2] = {1, 1};
    if (env_->Pwrite(fd_.get(), legacy, sizeof legacy, 18) != 2) {
      return posix::ErrnoStatus(errno, "write", path_);
    }
    return Status();
  }

  Status Sync() {
    if (env_->Fsync(fd_.get()) != 0) return posix::ErrnoStatus(errno, "fsync", path_);
    return Status();
  }

  Result<std::int64_t> Size() {
    struct stat st;
    if (env_->Fstat(fd_.get(), &st) != 0) return posix::ErrnoStatus(errno, "stat", path_);
    return std::int64_t{st.st_size};
  }

  // Writes the manifest temporary (0600, fsynced).
  Status WriteManifest(const std::string& json) {
    manifest_path_ =
        JoinPath(dir_, std::string(kTempPrefix) + hex_ + std::string(kManifestTempSuffix));
    int fd = env_->Open(manifest_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
      Status st = posix::ErrnoStatus(errno, "create", manifest_path_);
      manifest_path_.clear();
      return st;
    }
    posix::UniqueFd guard(env_, fd);
    if (env_->Fchmod(fd, 0600) != 0) return posix::ErrnoStatus(errno, "chmod", manifest_path_);
    SQLSTEWARD_RETURN_IF_ERROR(WriteAll(env_, fd, json, manifest_path_));
    if (env_->Fsync(fd) != 0) return posix::ErrnoStatus(errno, "fsync", manifest_path_);
    if (env_->Close(guard.Release()) != 0) {
      return posix::ErrnoStatus(errno, "close", manifest_path_);
    }
    return Status();
  }

  // Renames the manifest, then the snapshot, to their final names. The
  // caller fsyncs the directory.
  Status Publish(const std::string& snapshot_path, const std::string& manifest_path) {
    if (env_->Rename(manifest_path_.c_str(), manifest_path.c_str()) != 0) {
      return posix::ErrnoStatus(errno, "rename", manifest_path_);
    }
    manifest_path_.clear();
    if (env_->Rename(path_.c_str(), snapshot_path.c_str()) != 0) {
      Status st = posix::ErrnoStatus(errno, "rename", path_);
      env_->Unlink(manifest_path.c_str());
      return st;
    }
    published_ = true;
    return Status();
  }

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  TempSnapshot(posix::Env* env, std::string dir, std::string hex, std::string path, int fd)
      : env_(env), dir_(std::move(dir)), hex_(std::move(hex)), path_(std::move(path)),
        fd_(env, fd) {}

  posix::Env* env_;
  std::string dir_;
  std::string hex_;
  std::string path_;
  std::string manifest_path_;
  static constexpr off_t kWritebackBytes = 4 << 20;

  posix::UniqueFd fd_;  // Holds the OFD lock that marks the file in use.
  SqliteHandle conn_;
  off_t writeback_from_ = 0;  // Writeback not started from here on.
  off_t inflight_from_ = 0;   // Started, not waited for, from here to writeback_from_.
  bool published_ = false;
};

std::vector<std::string> ListDirectory(posix::Env* env, const std::string& dir, Status* error) {
  std::vector<std::string> names;
  if (env->ListDirectory(dir.c_str(), &names) != 0) {
    *error = posix::ErrnoStatus(errno, "list", dir);
  }
  return names;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ------------------------------------------------------------- The core --

// Nice +10 for the calling thread (Linux: the nice value is per thread).
// Best effort.
void LowerThreadPriority() {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
}

struct CopyOutcome {
  std::int64_t created_unix_ms = 0;
  int restarts = 0;
  bool under_write_lock = false;
};

// One snapshot to publish; `copy` fills the temporary file.
struct SnapshotJob {
  std::string dest_dir;
  std::string prefix;  // File names are <prefix>-<timestamp>-<seq>.db
  std::string kind;    // "snapshot" or "pre-restore"
  std::string source;  // Absolute path, for the manifest.
  JournalMode source_mode = JournalMode::kWal;
  IntegrityCheck integrity = IntegrityCheck::kQuick;
  int keep = 0;
  bool background_priority = true;
  std::function<Status(TempSnapshot& temp, CopyOutcome* outcome)> copy;
  posix::Env* env = nullptr;  // The source handle's.
};

struct FileFacts {
  std::int64_t page_size = 0;
  std::int64_t page_count = 0;
  std::int64_t user_version = 0;
};

// The copy's page size, page count and schema version, and its integrity
// check, through a read-only immutable connection.
Result<FileFacts> CheckCopy(const std::string& path, IntegrityCheck integrity,
                            Reporter* reporter) {
  // Not memory-mapped, though that would make the check 4x faster: the
  // munmap of a 1 GiB mapping at close takes ~40 ms with the process's
  // mmap lock held, and every thread of the process that faults a page in
  // meanwhile (the application's writers) waits for it. Through pread the
  // check still takes less time than the checksum running beside it.
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle db, OpenSnapshotFile(path));
  FileFacts facts;
  SQLSTEWARD_ASSIGN_OR_RETURN(facts.page_size, QueryInt(db.get(), "PRAGMA page_size", path));
  SQLSTEWARD_ASSIGN_OR_RETURN(facts.page_count, QueryInt(db.get(), "PRAGMA page_count", path));
  SQLSTEWARD_ASSIGN_OR_RETURN(facts.user_version,
                              QueryInt(db.get(), "PRAGMA user_version", path));
  if (integrity != IntegrityCheck::kNone) {
    reporter->Begin(SnapshotPhase::kIntegrityCheck, facts.page_count, facts.page_size);
    SQLSTEWARD_RETURN_IF_ERROR(RunIntegrityCheck(db.get(), integrity, path));
    reporter->End(SnapshotPhase::kIntegrityCheck, facts.page_count, facts.page_count);
  }
  return facts;
}

// Next free <seq> for <prefix>-<timestamp>-: one above any existing file
// (snapshot or manifest) of that second.
std::int64_t NextSequence(const std::vector<std::string>& names, const std::string& stem) {
  std::int64_t seq = 0;
  for (const std::string& name : names) {
    if (!StartsWith(name, stem)) continue;
    std::string_view rest = std::string_view(name).substr(stem.size());
    std::size_t end = rest.find('.');
    if (end == std::string_view::npos || !AllDigits(rest.substr(0, end)) || end > 15) continue;
    seq = std::max<std::int64_t>(seq, std::stoll(std::string(rest.substr(0, end))));
  }
  return seq + 1;
}

Result<SnapshotResult> CreateSnapshot(const SnapshotJob& job, Reporter* reporter) {
  posix::Env* env = job.env;
  const auto start = Clock::now();
  SnapshotResult result;
  SQLSTEWARD_RETURN_IF_ERROR(
      posix::MakeDirectories(env, job.dest_dir, "give a directory for the snapshots"));
  SQLSTEWARD_ASSIGN_OR_RETURN(result.removed_temporary,
                              RemoveStaleTemporaries(env, job.dest_dir));
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<TempSnapshot> temp,
                              TempSnapshot::Create(env, job.dest_dir));

  CopyOutcome outcome;
  SQLSTEWARD_RETURN_IF_ERROR(job.copy(*temp, &outcome));
  result.copy_time = Clock::now() - start;
  result.restarts = outcome.restarts;
  result.copied_under_write_lock = outcome.under_write_lock;
  SQLSTEWARD_RETURN_IF_ERROR(temp->CloseConnection());
  SQLSTEWARD_RETURN_IF_ERROR(temp->ResetWalHeader());
  SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t size, temp->Size());

  // fsync (waiting on the disk), the integrity check (SQLite reading
  // pages) and the checksum (reading bytes) are independent: together they
  // cost the longest of the three. By default they run at a lower priority
  // (SnapshotOptions::background_priority), so that on a small machine the
  // application's own threads (its writers) do not wait for a CPU behind
  // them. Nothing is published before all three succeeded.
  const auto lower = [&job] {
    if (job.background_priority) LowerThreadPriority();
  };
  Status synced;
  std::thread syncer([&] {
    lower();
    reporter->Begin(SnapshotPhase::kSync, 0, 0);
    synced = temp->Sync();
    reporter->End(SnapshotPhase::kSync, 0, 0);
  });
  Result<FileFacts> facts = Status(StatusCode::kInternal, "not run");
  std::thread checker([&] {
    lower();
    facts = CheckCopy(temp->path(), job.integrity, reporter);
  });
  Result<std::string> sha = Status(StatusCode::kInternal, "not run");
  std::thread hasher([&] {
    lower();
    sha = HashFile(env, temp->fd(), temp->path(), size, 0, reporter);
  });
  hasher.join();
  checker.join();
  syncer.join();
  SQLSTEWARD_RETURN_IF_ERROR(synced);
  if (!facts.has_value()) return std::move(facts).error().WithContext("check the copy");
  if (!sha.has_value()) return std::move(sha).error();
  if (facts->page_size * facts->page_count != size) {
    return Status(StatusCode::kInternal,
                  "the copy has " + std::to_string(size) + " bytes, its header says " +
                      std::to_string(facts->page_count) + " pages of " +
                      std::to_string(facts->page_size),
                  "this is a bug in sqlsteward; please report it");
  }

  SnapshotManifest& m = result.manifest;
  m.format_version = kManifestFormatVersion;
  m.kind = job.kind;
  m.sha256 = *sha;
  m.size_bytes = size;
  m.page_size = facts->page_size;
  m.page_count = facts->page_count;
  m.schema_version = facts->user_version;
  m.source = job.source;
  m.source_journal_mode = std::string(JournalModeName(job.source_mode));
  m.created_unix_ms = outcome.created_unix_ms;
  m.created_at = IsoUtc(outcome.created_unix_ms, /*millis=*/true);
  m.sqlite_version = sqlite3_libversion();
  m.integrity_check = std::string(IntegrityCheckName(job.integrity));

  {
    SQLSTEWARD_ASSIGN_OR_RETURN(DirectoryLock lock, DirectoryLock::Acquire(env, job.dest_dir));
    Status list_error;
    std::vector<std::string> names = ListDirectory(env, job.dest_dir, &list_error);
    SQLSTEWARD_RETURN_IF_ERROR(list_error);
    const std::string stem = job.prefix + "-" + CompactUtc(outcome.created_unix_ms) + "-";
    const std::string final_stem = stem + std::to_string(NextSequence(names, stem));
    m.file = final_stem + ".db";
    result.path = JoinPath(job.dest_dir, m.file);
    result.manifest_path = JoinPath(job.dest_dir, final_stem + std::string(kManifestSuffix));
    SQLSTEWARD_ASSIGN_OR_RETURN(std::string json, ManifestToJson(m));
    SQLSTEWARD_RETURN_IF_ERROR(temp->WriteManifest(json + "\n"));
    SQLSTEWARD_RETURN_IF_ERROR(temp->Publish(result.path, result.manifest_path));
    // From here the snapshot exists, complete; a later error says so.
    SQLSTEWARD_RETURN_IF_ERROR(posix::SyncDirectory(env, job.dest_dir).WithContext(
        result.path + " was written, but may not survive a power loss"));
    if (job.keep > 0) {
      auto removed = ApplyRetention(env, job.dest_dir, job.prefix, job.keep, m.file);
      if (!removed.has_value()) {
        return std::move(removed).error().WithContext(result.path +
                                                      " was taken, but retention failed");
      }
      result.removed = std::move(removed).value();
    }
  }
  result.total_time = Clock::now() - start;
  return result;
}

// Copy strategies for Snapshot(Database&); see the top of this file.
Status CopyFromDatabase(Database& db, const SnapshotOptions& options, Reporter* reporter,
                        TempSnapshot& temp, CopyOutcome* outcome) {
  const auto deadline = Clock::now() + options.timeout;
  const std::string& path = db.path();
  // The same VFS as the database's own connections, so that its locks
  // meet theirs.
  const std::string& vfs = internal::DatabaseAccess::Vfs(db);
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 1, 1 << 30));
  };
  BackupRun run;
  run.pages_per_step = options.pages_per_step;
  run.phase = SnapshotPhase::kCopy;
  run.deadline = deadline;
  run.reporter = reporter;

  if (db.journal_mode() == JournalMode::kWal || options.max_restarts > 0) {
    SQLSTEWARD_ASSIGN_OR_RETURN(
        SqliteHandle source,
        OpenSqlite(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, path,
                   vfs.empty() ? nullptr : vfs.c_str()));
    sqlite3_busy_timeout(source.get(), remaining_ms());
    SQLSTEWARD_RETURN_IF_ERROR(Exec(source.get(), "PRAGMA mmap_size=0", "configure " + path));
    SQLSTEWARD_ASSIGN_OR_RETURN(run.page_size,
                                QueryInt(source.get(), "PRAGMA page_size", path));
    const bool wal = db.journal_mode() == JournalMode::kWal;
    if (wal) {
      // One read transaction for the whole copy: one unchanging view.
      SQLSTEWARD_RETURN_IF_ERROR(Exec(source.get(),
                                      "BEGIN; SELECT 1 FROM sqlite_master LIMIT 1",
                                      "start the snapshot's read transaction on " + path));
      SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t pages,
                                  QueryInt(source.get(), "PRAGMA page_count", path));
      SQLSTEWARD_RETURN_IF_ERROR(temp.Preallocate(pages * run.page_size));
    } else {
      // Steps take SQLite's lock themselves; BUSY is retried by RunBackup.
      sqlite3_busy_timeout(source.get(), 0);
    }
    outcome->created_unix_ms = WallClockUnixMs();
    SQLSTEWARD_ASSIGN_OR_RETURN(run.dest, temp.Connection());
    run.source = source.get();
    run.max_restarts = wal ? -1 : options.max_restarts;
    run.after_step = [&temp] { temp.StartWriteback(); };
    BackupOutcome backup;
    Status copied = RunBackup(run, &backup);
    outcome->restarts = backup.restarts;
    if (wal) Exec(source.get(), "COMMIT", "end the snapshot's read transaction").IgnoreError();
    if (copied.ok() || copied.code() != StatusCode::kAborted || wal) return copied;
    SQLSTEWARD_RETURN_IF_ERROR(temp.Reset());
  }

  // Rollback journal with writers about: copy under the write lock,
  // reading through the writer's connection.
  outcome->under_write_lock = true;
  return internal::DatabaseAccess::WithWriterConnection(
      db,
      [&](internal::Connection& conn) -> Status {
        sqlite3* writer = conn.handle();
        outcome->created_unix_ms = WallClockUnixMs();
        SQLSTEWARD_ASSIGN_OR_RETURN(run.page_size, QueryInt(writer, "PRAGMA page_size", path));
        SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t pages,
                                    QueryInt(writer, "PRAGMA page_count", path));
        SQLSTEWARD_RETURN_IF_ERROR(temp.Preallocate(pages * run.page_size));
        SQLSTEWARD_ASSIGN_OR_RETURN(run.dest, temp.Connection());
        run.source = writer;
        run.max_restarts = -1;
        run.after_step = [&temp] { temp.StartWriteback(); };
        BackupOutcome backup;
        Status st = RunBackup(run, &backup);
        outcome->restarts += backup.restarts;
        return st;
      },
      deadline, "snapshot");
}

Status CheckName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
    return Status(StatusCode::kInvalidArgument,
                  "invalid snapshot name \"" + name + "\"",
                  "a name is a file name prefix: not empty, no '/', not starting with '.'");
  }
  return Status();
}

std::string DefaultName(const std::string& db_path) {
  std::string stem = std::filesystem::path(db_path).stem().string();
  return stem.empty() || stem[0] == '.' ? "snapshot" : stem;
}

// ------------------------------------------------------------ Verify --

Result<VerifyResult> Verify(const std::string& snapshot_path, IntegrityCheck integrity,
                            Reporter* reporter) {
  posix::Env* env = posix::Env::Default();
  const auto start = Clock::now();
  VerifyResult result;
  result.path = snapshot_path;
  result.manifest_path = ManifestPathFor(snapshot_path);

  int raw = env->Open(snapshot_path.c_str(), O_RDONLY | O_NOFOLLOW, 0);
  if (raw < 0) {
    if (errno == ENOENT) {
      return Status(StatusCode::kNotFound, "snapshot " + snapshot_path + " does not exist",
                    "check the path; `ls` the snapshot directory for *.db files", 0, ENOENT);
    }
    return posix::ErrnoStatus(errno, "open", snapshot_path);
  }
  posix::UniqueFd fd(env, raw);
  SQLSTEWARD_ASSIGN_OR_RETURN(result.manifest, ReadManifest(result.manifest_path));
  const SnapshotManifest& m = result.manifest;

  struct stat st;
  if (env->Fstat(fd.get(), &st) != 0) return posix::ErrnoStatus(errno, "stat", snapshot_path);
  const std::string damaged_hint =
      "the snapshot is not the file its manifest describes (damaged, truncated or replaced): "
      "do not restore it; use another snapshot";
  if (st.st_size != m.size_bytes) {
    return Status(StatusCode::kCorruption,
                  "size mismatch: " + snapshot_path + " has " + std::to_string(st.st_size) +
                      " bytes, its manifest says " + std::to_string(m.size_bytes),
                  damaged_hint);
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(
      std::string sha, HashFile(env, fd.get(), snapshot_path, m.size_bytes, m.page_size, reporter));
  if (sha != m.sha256) {
    return Status(StatusCode::kCorruption,
                  "checksum mismatch: the sha256 of " + snapshot_path + " is " + sha +
                      ", its manifest says " + m.sha256,
                  damaged_hint);
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle db, OpenSnapshotFile(snapshot_path));
  auto page_size = QueryInt(db.get(), "PRAGMA page_size", snapshot_path);
  auto page_count = QueryInt(db.get(), "PRAGMA page_count", snapshot_path);
  if (!page_size.has_value() || !page_count.has_value() || *page_size != m.page_size ||
      *page_count != m.page_count) {
    std::string seen = page_size.has_value() && page_count.has_value()
                           ? std::to_string(*page_count) + " pages of " +
                                 std::to_string(*page_size) + " bytes"
                           : "no readable header";
    return Status(StatusCode::kCorruption,
                  "header mismatch: " + snapshot_path + " has " + seen +
                      ", its manifest says " + std::to_string(m.page_count) + " pages of " +
                      std::to_string(m.page_size) + " bytes",
                  damaged_hint);
  }
  if (integrity != IntegrityCheck::kNone) {
    reporter->Begin(SnapshotPhase::kIntegrityCheck, m.page_count, m.page_size);
    SQLSTEWARD_RETURN_IF_ERROR(RunIntegrityCheck(db.get(), integrity, snapshot_path));
    reporter->End(SnapshotPhase::kIntegrityCheck, m.page_count, m.page_count);
  }
  result.total_time = Clock::now() - start;
  return result;
}

// ------------------------------------------------------------ Restore --

std::string DescribeInstances(const std::vector<InstanceInfo>& instances) {
  std::string out;
  for (const InstanceInfo& info : instances) {
    if (!out.empty()) out += ", ";
    out += "pid " + std::to_string(info.pid) + " on " +
           (info.host.empty() ? std::string("an unknown host") : info.host) + " (" +
           (info.ownership == Ownership::kExclusive ? "exclusive" : "shared") +
           (info.domain == InstanceDomain::kOtherDomain ? ", another lock domain" : "") + ")";
  }
  return out;
}

Status RefuseLiveInstances(const std::string& db_path, bool offer_take_over) {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<InstanceInfo> others, OtherLiveInstances(db_path));
  if (others.empty()) return Status();
  return Status(StatusCode::kFailedPrecondition,
                "restore refused: " + std::to_string(others.size()) + " other instance" +
                    (others.size() == 1 ? " has " : "s have ") + db_path +
                    " open: " + DescribeInstances(others),
                offer_take_over
                    ? "stop them first, or let them hand over: `sqlsteward restore --take-over` "
                      "(RestoreOptions::take_over) or `sqlsteward handover --all DB`"
                    : "stop them first, or have them hand over (`sqlsteward handover --all DB`)");
}

Result<RestoreResult> RestoreVerified(Database& db, const std::string& snapshot_path,
                                      VerifyResult verified, const RestoreOptions& options,
                                      Reporter* reporter, Clock::time_point start) {
  SQLSTEWARD_RETURN_IF_ERROR(RefuseLiveInstances(db.path(), /*offer_take_over=*/false));
  RestoreResult result;
  result.verified = std::move(verified);
  const SnapshotManifest& m = result.verified.manifest;
  const std::string db_abs = AbsolutePath(db.path());
  const std::string pre_dir = options.pre_restore_dir.empty() ? posix::DirName(snapshot_path)
                                                              : options.pre_restore_dir;
  const auto deadline = Clock::now() + options.timeout;

  Status restored = internal::DatabaseAccess::WithWriterConnection(
      db,
      [&](internal::Connection& conn) -> Status {
        sqlite3* writer = conn.handle();
        SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t live_pages,
                                    QueryInt(writer, "PRAGMA page_count", db_abs));
        SQLSTEWARD_ASSIGN_OR_RETURN(std::int64_t live_page_size,
                                    QueryInt(writer, "PRAGMA page_size", db_abs));
        if (db.journal_mode() == JournalMode::kWal && live_page_size != m.page_size &&
            live_pages > 0) {
          return Status(StatusCode::kFailedPrecondition,
                        "restore refused: the snapshot's page size is " +
                            std::to_string(m.page_size) + " bytes and " + db_abs + "'s is " +
                            std::to_string(live_page_size) + "; WAL mode cannot change it",
                        "restore into a new path (no database there yet), then move it into "
                        "place while nothing has it open");
        }
        // A database with no schema yet (new, or never written) has
        // nothing worth keeping.
        SQLSTEWARD_ASSIGN_OR_RETURN(
            std::int64_t live_objects,
            QueryInt(writer, "SELECT count(*) FROM sqlite_master", db_abs));
        if (live_pages > 1 || live_objects > 0) {
          SnapshotJob job;
          job.env = internal::DatabaseAccess::Env(db);
          job.dest_dir = pre_dir;
          job.prefix = DefaultName(db_abs) + std::string(kPreRestoreInfix);
          job.kind = "pre-restore";
          job.source = db_abs;
          job.source_mode = db.journal_mode();
          job.integrity = IntegrityCheck::kQuick;
          job.background_priority = false;  // We hold the write lock: be quick.
          job.copy = [&](TempSnapshot& temp, CopyOutcome* outcome) -> Status {
            outcome->created_unix_ms = WallClockUnixMs();
            SQLSTEWARD_RETURN_IF_ERROR(temp.Preallocate(live_pages * live_page_size));
            BackupRun run;
            SQLSTEWARD_ASSIGN_OR_RETURN(run.dest, temp.Connection());
            run.source = writer;
            run.pages_per_step = options.pages_per_step;
            run.phase = SnapshotPhase::kPreRestore;
            run.deadline = deadline;
            run.reporter = reporter;
            run.page_size = live_page_size;
            run.after_step = [&temp] { temp.StartWriteback(); };
            BackupOutcome backup;
            return RunBackup(run, &backup);
          };
          auto pre = CreateSnapshot(job, reporter);
          if (!pre.has_value()) {
            return std::move(pre).error().WithContext(
                "restore refused: could not keep the current database aside");
          }
          result.pre_restore = std::move(pre).value();
        }
        SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle source, OpenSnapshotFile(snapshot_path));
        BackupRun run;
        run.dest = writer;
        run.source = source.get();
        run.pages_per_step = options.pages_per_step;
        run.phase = SnapshotPhase::kRestore;
        run.deadline = deadline;
        run.reporter = reporter;
        run.page_size = m.page_size;
        BackupOutcome backup;
        SQLSTEWARD_RETURN_IF_ERROR(RunBackup(run, &backup).WithContext(
            "restore " + snapshot_path + " into " + db_abs + " (the database is unchanged)"));
        result.pages_restored = backup.pages;
        source.reset();
        if (options.after_integrity != IntegrityCheck::kNone) {
          reporter->Begin(SnapshotPhase::kIntegrityCheck, backup.pages, m.page_size);
          Status check = RunIntegrityCheck(writer, options.after_integrity, db_abs);
          if (!check.ok()) {
            return Status(check.code(), std::string(check.message()) + " (after the restore)",
                          result.pre_restore.path.empty()
                              ? std::string(check.hint())
                              : "the previous database is kept in " + result.pre_restore.path +
                                    "; restore it with `sqlsteward restore " +
                                    result.pre_restore.path + " " + db_abs + "`",
                          check.sqlite_code());
          }
          reporter->End(SnapshotPhase::kIntegrityCheck, backup.pages, backup.pages);
        }
        // The restore left the whole database in the WAL: the write queue
        // checkpoints after this job, under the write lock.
        return Status();
      },
      deadline, "restore");
  if (!restored.ok()) return restored;
  result.total_time = Clock::now() - start;
  return result;
}

}  // namespace

// --------------------------------------------------- Names, JSON, files --

std::optional<SnapshotFileName> ParseSnapshotFileName(std::string_view file,
                                                      std::string_view prefix) {
  // <prefix>-yyyymmddThhmmssZ-<seq>.db
  if (!StartsWith(file, prefix) || !EndsWith(file, ".db")) return std::nullopt;
  std::string_view rest = file.substr(prefix.size());
  rest.remove_suffix(3);
  if (rest.size() < 19 || rest[0] != '-' || rest[17] != '-') return std::nullopt;
  std::string_view ts = rest.substr(1, 16);
  if (!AllDigits(ts.substr(0, 8)) || ts[8] != 'T' || !AllDigits(ts.substr(9, 6)) ||
      ts[15] != 'Z') {
    return std::nullopt;
  }
  std::string_view seq = rest.substr(18);
  if (!AllDigits(seq) || seq.size() > 15) return std::nullopt;
  return SnapshotFileName{std::string(ts), std::stoll(std::string(seq))};
}

std::string SqliteUri(const std::string& path, std::string_view params) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out = "file:";
  for (char c : path) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kDigits[byte >> 4];
      out += kDigits[byte & 0xf];
    }
  }
  if (!params.empty()) {
    out += '?';
    out += params;
  }
  return out;
}

Result<std::string> ManifestToJson(const SnapshotManifest& m) {
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle db,
                              OpenSqlite(":memory:", SQLITE_OPEN_READWRITE, "memory database"));
  static constexpr const char* kSql =
      "SELECT json_object('format', ?1, 'format_version', ?2, 'kind', ?3, 'file', ?4, "
      "'sha256', ?5, 'size_bytes', ?6, 'page_size', ?7, 'page_count', ?8, "
      "'schema_version', ?9, 'source', ?10, 'source_journal_mode', ?11, 'created_at', ?12, "
      "'created_unix_ms', ?13, 'sqlite_version', ?14, 'integrity_check', ?15)";
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), kSql, -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db.get(), "manifest json");
  auto text = [&](int i, const std::string& s) {
    sqlite3_bind_text(raw, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  };
  text(1, std::string(kManifestFormat));
  sqlite3_bind_int(raw, 2, m.format_version);
  text(3, m.kind);
  text(4, m.file);
  text(5, m.sha256);
  sqlite3_bind_int64(raw, 6, m.size_bytes);
  sqlite3_bind_int64(raw, 7, m.page_size);
  sqlite3_bind_int64(raw, 8, m.page_count);
  sqlite3_bind_int64(raw, 9, m.schema_version);
  text(10, m.source);
  text(11, m.source_journal_mode);
  text(12, m.created_at);
  sqlite3_bind_int64(raw, 13, m.created_unix_ms);
  text(14, m.sqlite_version);
  text(15, m.integrity_check);
  rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, db.get(), "manifest json");
  const unsigned char* out = sqlite3_column_text(raw, 0);
  return std::string(reinterpret_cast<const char*>(out));
}

Result<SnapshotManifest> ParseManifestJson(std::string_view json, std::string_view where) {
  auto malformed = [&](const std::string& why) {
    return Status(StatusCode::kCorruption,
                  "manifest malformed: " + std::string(where) + ": " + why,
                  "the manifest is damaged or not a sqlsteward manifest; without it the "
                  "snapshot cannot be verified: use another snapshot");
  };
  SQLSTEWARD_ASSIGN_OR_RETURN(SqliteHandle db,
                              OpenSqlite(":memory:", SQLITE_OPEN_READWRITE, "memory database"));
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(
      db.get(), "SELECT json_valid(?1), json_type(?1), json_type(?1, ?2), json_extract(?1, ?2)",
      -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db.get(), "manifest json");
  sqlite3_bind_text(raw, 1, json.data(), static_cast<int>(json.size()), SQLITE_STATIC);

  struct Field {
    std::string type;
    std::string text;
    std::int64_t integer = 0;
  };
  auto field = [&](const char* name, const char* want, Field* out) -> Status {
    std::string path = std::string("$.") + name;
    sqlite3_reset(raw);
    sqlite3_bind_text(raw, 2, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
    int step = sqlite3_step(raw);
    if (step != SQLITE_ROW) return malformed("not JSON");
    if (sqlite3_column_int(raw, 0) != 1) return malformed("not JSON");
    const unsigned char* top = sqlite3_column_text(raw, 1);
    if (top == nullptr || std::strcmp(reinterpret_cast<const char*>(top), "object") != 0) {
      return malformed("not a JSON object");
    }
    const unsigned char* type = sqlite3_column_text(raw, 2);
    if (type == nullptr) return malformed(std::string("field \"") + name + "\" is missing");
    out->type = reinterpret_cast<const char*>(type);
    if (out->type != want) {
      return malformed(std::string("field \"") + name + "\" is " + out->type + ", not " + want);
    }
    if (out->type == "integer") {
      out->integer = sqlite3_column_int64(raw, 3);
    } else {
      const unsigned char* t = sqlite3_column_text(raw, 3);
      out->text = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    }
    return Status();
  };

  SnapshotManifest m;
  Field f;
  SQLSTEWARD_RETURN_IF_ERROR(field("format", "text", &f));
  if (f.text != kManifestFormat) return malformed("format is \"" + f.text + "\"");
  SQLSTEWARD_RETURN_IF_ERROR(field("format_version", "integer", &f));
  if (f.integer != kManifestFormatVersion) {
    return Status(StatusCode::kFailedPrecondition,
                  std::string(where) + " has manifest format version " +
                      std::to_string(f.integer) + "; this sqlsteward reads version " +
                      std::to_string(kManifestFormatVersion),
                  "use the sqlsteward version that wrote the snapshot, or a newer one");
  }
  m.format_version = static_cast<int>(f.integer);
  const std::pair<const char*, std::string*> texts[] = {
      {"kind", &m.kind},
      {"file", &m.file},
      {"sha256", &m.sha256},
      {"source", &m.source},
      {"source_journal_mode", &m.source_journal_mode},
      {"created_at", &m.created_at},
      {"sqlite_version", &m.sqlite_version},
      {"integrity_check", &m.integrity_check}};
  for (const auto& [name, out] : texts) {
    SQLSTEWARD_RETURN_IF_ERROR(field(name, "text", &f));
    *out = f.text;
  }
  const std::pair<const char*, std::int64_t*> integers[] = {
      {"size_bytes", &m.size_bytes},
      {"page_size", &m.page_size},
      {"page_count", &m.page_count},
      {"schema_version", &m.schema_version},
      {"created_unix_ms", &m.created_unix_ms}};
  for (const auto& [name, out] : integers) {
    SQLSTEWARD_RETURN_IF_ERROR(field(name, "integer", &f));
    *out = f.integer;
  }
  if (m.sha256.size() != 64 ||
      !std::all_of(m.sha256.begin(), m.sha256.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    return malformed("sha256 is not 64 lower-case hexadecimal digits");
  }
  if (m.size_bytes < 0 || m.page_count < 0 || m.page_size < 0) {
    return malformed("negative size");
  }
  return m;
}

Result<std::vector<std::string>> ApplyRetention(posix::Env* env, const std::string& dir,
                                                std::string_view prefix, int keep,
                                                std::string_view spare) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  Status list_error;
  std::vector<std::string> names = ListDirectory(env, dir, &list_error);
  SQLSTEWARD_RETURN_IF_ERROR(list_error);
  struct Candidate {
    std::string file;
    SnapshotFileName parsed;
  };
  std::vector<Candidate> candidates;
  for (const std::string& name : names) {
    auto parsed = ParseSnapshotFileName(name, prefix);
    if (!parsed.has_value()) continue;
    candidates.push_back({name, *parsed});
  }
  // Newest first: the timestamp is fixed-width, so text order is time order.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.parsed.timestamp != b.parsed.timestamp) return a.parsed.timestamp > b.parsed.timestamp;
    return a.parsed.seq > b.parsed.seq;
  });
  int kept = 0;
  for (const Candidate& c : candidates) {
    const std::string path = JoinPath(dir, c.file);
    const std::string manifest_path = ManifestPathFor(path);
    if (c.file == spare) {
      ++kept;
      continue;
    }
    // Only a complete pair that says it is this snapshot counts, or is
    // deleted.
    auto manifest = ReadManifest(manifest_path);
    if (!manifest.has_value() || manifest->file != c.file || manifest->kind != "snapshot") {
      continue;
    }
    if (kept < keep) {
      ++kept;
      continue;
    }
    if (env->Unlink(path.c_str()) != 0 && errno != ENOENT) {
      return posix::ErrnoStatus(errno, "remove old snapshot", path);
    }
    if (env->Unlink(manifest_path.c_str()) != 0 && errno != ENOENT) {
      return posix::ErrnoStatus(errno, "remove old manifest", manifest_path);
    }
    removed.push_back(path);
  }
  if (!removed.empty()) SQLSTEWARD_RETURN_IF_ERROR(posix::SyncDirectory(env, dir));
  return removed;
}

Result<std::vector<std::string>> RemoveStaleTemporaries(posix::Env* env, const std::string& dir) {
  std::vector<std::string> removed;
  Status list_error;
  std::vector<std::string> names = ListDirectory(env, dir, &list_error);
  SQLSTEWARD_RETURN_IF_ERROR(list_error);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!StartsWith(name, kTempPrefix) || !EndsWith(name, kTempSuffix) ||
        EndsWith(name, kManifestTempSuffix)) {
      continue;
    }
    const std::string hex =
        name.substr(kTempPrefix.size(), name.size() - kTempPrefix.size() - kTempSuffix.size());
    const std::string path = JoinPath(dir, name);
    int fd = env->Open(path.c_str(), O_RDWR | O_NOFOLLOW, 0);
    if (fd < 0) continue;  // Gone meanwhile, or not ours to judge.
    posix::UniqueFd guard(env, fd);
    struct stat st;
    if (env->Fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (LockByteZero(env, fd, F_WRLCK) != 0) continue;  // Its writer is alive.
    const std::string manifest_path =
        JoinPath(dir, std::string(kTempPrefix) + hex + std::string(kManifestTempSuffix));
    env->Unlink(manifest_path.c_str());
    if (env->Unlink(path.c_str()) == 0) removed.push_back(path);
  }
  // Manifest temporaries whose snapshot temporary is gone (a crash between
  // removing the two).
  for (const std::string& name : names) {
    if (!StartsWith(name, kTempPrefix) || !EndsWith(name, kManifestTempSuffix)) continue;
    const std::string hex = name.substr(
        kTempPrefix.size(), name.size() - kTempPrefix.size() - kManifestTempSuffix.size());
    const std::string sibling =
        JoinPath(dir, std::string(kTempPrefix) + hex + std::string(kTempSuffix));
    struct stat st;
    if (env->Lstat(sibling.c_str(), &st) == 0) continue;
    const std::string path = JoinPath(dir, name);
    if (env->Unlink(path.c_str()) == 0) removed.push_back(path);
  }
  return removed;
}

}  // namespace internal

// ---------------------------------------------------------------- Public --

std::string_view IntegrityCheckName(IntegrityCheck check) {
  switch (check) {
    case IntegrityCheck::kNone: return "none";
    case IntegrityCheck::kQuick: return "quick";
    case IntegrityCheck::kFull: return "full";
  }
  return "unknown";
}

Result<IntegrityCheck> ParseIntegrityCheck(std::string_view name) {
  for (IntegrityCheck c : {IntegrityCheck::kNone, IntegrityCheck::kQuick, IntegrityCheck::kFull}) {
    if (name == IntegrityCheckName(c)) return c;
  }
  return Status(StatusCode::kInvalidArgument,
                "unknown integrity check \"" + std::string(name) + "\"",
                "use one of: quick, full, none");
}

std::string_view SnapshotPhaseName(SnapshotPhase phase) {
  switch (phase) {
    case SnapshotPhase::kCopy: return "copy";
    case SnapshotPhase::kSync: return "sync";
    case SnapshotPhase::kChecksum: return "checksum";
    case SnapshotPhase::kIntegrityCheck: return "integrity_check";
    case SnapshotPhase::kPreRestore: return "pre_restore";
    case SnapshotPhase::kRestore: return "restore";
  }
  return "unknown";
}

std::string ManifestPathFor(const std::string& snapshot_path) {
  std::string_view base(snapshot_path);
  if (internal::EndsWith(base, ".db")) base.remove_suffix(3);
  return std::string(base) + std::string(internal::kManifestSuffix);
}

Result<SnapshotManifest> ReadManifest(const std::string& manifest_path) {
  posix::Env* env = posix::Env::Default();
  int raw = env->Open(manifest_path.c_str(), O_RDONLY | O_NOFOLLOW, 0);
  if (raw < 0) {
    if (errno == ENOENT) {
      return Status(StatusCode::kNotFound, "manifest " + manifest_path + " does not exist",
                    "a snapshot cannot be verified without its manifest; copy the "
                    ".manifest.json file along with the .db file",
                    0, ENOENT);
    }
    return posix::ErrnoStatus(errno, "open", manifest_path);
  }
  posix::UniqueFd fd(env, raw);
  std::string text(internal::kMaxManifestBytes + 1, '\0');
  std::size_t got = 0;
  SQLSTEWARD_RETURN_IF_ERROR(
      internal::ReadAt(env, fd.get(), text.data(), text.size(), 0, manifest_path, &got));
  if (got > internal::kMaxManifestBytes) {
    return Status(StatusCode::kCorruption,
                  "manifest malformed: " + manifest_path + ": larger than " +
                      std::to_string(internal::kMaxManifestBytes) + " bytes",
                  "the manifest is damaged or not a sqlsteward manifest; use another snapshot");
  }
  text.resize(got);
  return internal::ParseManifestJson(text, manifest_path);
}

Result<SnapshotResult> Snapshot(Database& db, const std::string& dest_dir,
                                const SnapshotOptions& options) {
  const std::string name = options.name.empty() ? internal::DefaultName(db.path()) : options.name;
  SQLSTEWARD_RETURN_IF_ERROR(internal::CheckName(name));
  if (options.keep < 0) {
    return Status(StatusCode::kInvalidArgument, "keep must be 0 (all) or more",
                  "pass the number of snapshots to keep");
  }
  internal::Reporter reporter(options.progress, options.progress_interval);
  internal::SnapshotJob job;
  job.env = internal::DatabaseAccess::Env(db);
  job.dest_dir = dest_dir;
  job.prefix = name;
  job.kind = "snapshot";
  job.source = internal::AbsolutePath(db.path());
  job.source_mode = db.journal_mode();
  job.integrity = options.integrity;
  job.keep = options.keep;
  job.background_priority = options.background_priority;
  job.copy = [&](internal::TempSnapshot& temp, internal::CopyOutcome* outcome) {
    return internal::CopyFromDatabase(db, options, &reporter, temp, outcome);
  };
  auto result = internal::CreateSnapshot(job, &reporter);
  if (!result.has_value()) return std::move(result).error().WithContext("snapshot " + db.path());
  return result;
}

Result<SnapshotResult> Snapshot(const std::string& db_path, const std::string& dest_dir,
                                const SnapshotOptions& options, Options open_options) {
  open_options.create_if_missing = false;
  struct stat st;
  if (posix::Env::Default()->Stat(db_path.c_str(), &st) != 0 && errno == ENOENT) {
    return Status(StatusCode::kNotFound, "database " + db_path + " does not exist",
                  "check the path", 0, ENOENT);
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(db_path, open_options));
  auto result = Snapshot(*db, dest_dir, options);
  Status closed = db->Close();
  if (result.has_value() && !closed.ok()) return closed;
  return result;
}

Result<VerifyResult> VerifySnapshot(const std::string& snapshot_path,
                                    const VerifyOptions& options) {
  internal::Reporter reporter(options.progress, options.progress_interval);
  return internal::Verify(snapshot_path, options.integrity, &reporter);
}

Result<RestoreResult> Restore(Database& db, const std::string& snapshot_path,
                              const RestoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  internal::Reporter reporter(options.progress, options.progress_interval);
  auto verified = internal::Verify(snapshot_path, options.verify_integrity, &reporter);
  if (!verified.has_value()) {
    return std::move(verified).error().WithContext("restore refused");
  }
  return internal::RestoreVerified(db, snapshot_path, std::move(verified).value(), options,
                                   &reporter, start);
}

Result<RestoreResult> Restore(const std::string& snapshot_path, const std::string& db_path,
                              const RestoreOptions& options, Options open_options) {
  const auto start = std::chrono::steady_clock::now();
  internal::Reporter reporter(options.progress, options.progress_interval);
  // Nothing is touched before the snapshot is known good.
  auto verified = internal::Verify(snapshot_path, options.verify_integrity, &reporter);
  if (!verified.has_value()) {
    return std::move(verified).error().WithContext("restore refused");
  }
  Status alone = internal::RefuseLiveInstances(db_path, /*offer_take_over=*/true);
  if (!alone.ok()) {
    if (!options.take_over || alone.code() != StatusCode::kFailedPrecondition) return alone;
    SQLSTEWARD_RETURN_IF_ERROR(RequestHandover(db_path, options.handover_timeout, /*all=*/true)
                                   .WithContext("restore: hand over " + db_path));
  }
  open_options.ownership = Ownership::kExclusive;
  open_options.take_over = false;
  auto db = Database::Open(db_path, open_options);
  if (!db.has_value()) return std::move(db).error().WithContext("restore: open " + db_path);
  auto result = internal::RestoreVerified(**db, snapshot_path, std::move(verified).value(),
                                          options, &reporter, start);
  Status closed = (*db)->Close();
  if (result.has_value() && !closed.ok()) return closed;
  return result;
}

}  // namespace sqlsteward
