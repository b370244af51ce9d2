// The fast copy of a WAL database (issue 14): read the database file in
// large chunks, lay the snapshot's WAL frames over it, write the result
// with large writes and hash it as it is written. SQLite's backup API does
// the same job a page at a time (one read, one write and the pager's work
// per 4 KiB page), about 3x slower than cp here; this runs at close to
// cp's speed. The backup API remains for rollback-journal mode and for
// every case where a precondition below does not hold.
//
// Preconditions (PlanFileCopy; any failure: the backup API, and the reason
// is in SnapshotResult::fallback_reason):
//   P1. The reader connection is in its read transaction (snapshot.cc
//       runs BEGIN and a SELECT first) and holds WAL read slot i, and the
//       wal-index header H it was taken with was copied consistently
//       (source_vfs.cc says how and why H is the snapshot's header).
//   P2. PRAGMA page_size / page_count inside that transaction are the
//       snapshot's size: N pages of S bytes, and S is H's page size.
//   P3. If i > 0 and H.mxFrame = M > 0: frames 1..M of the WAL check out
//       against H (wal_frames.cc: salts, running checksum, last frame is
//       the commit of N pages whose checksum is H's).
//
// The copy: for every page p <= N, the bytes at (p-1)*S of the database
// file, replaced, when p is in a frame <= M, by the last such frame's page
// image (i > 0 only); header bytes 18-19 set to 1 (rollback journal).
//
// Why this is exactly the snapshot, while writers commit and checkpoints
// run during the copy (wal.c's protocol; we take no lock of our own):
//   (a) A reader on slot i > 0 sees, for page p, the last frame <= M that
//       holds p (frames >= nBackfill+1 from the WAL, older ones from the
//       database file, into which a checkpoint copied exactly the last
//       frame <= nBackfill of each page), or else the database file.
//   (b) While slot i > 0 is held, aReadMark[i] cannot change, and no
//       checkpoint copies a frame past aReadMark[i] <= M into the database
//       file (mxSafeFrame in walCheckpoint). So a page with no frame <= M
//       is never written in the database file during the copy: we read
//       the snapshot's bytes. A page with a frame <= M may be written by a
//       checkpoint while we read it (we may read a torn mix), but only
//       with the content of a frame <= M, and we replace it with the last
//       such frame's anyway.
//   (c) While slot i > 0 is held, no writer restarts the WAL (walRestartLog
//       needs every slot 1..4 exclusively), so frames 1..M stay in the WAL
//       file as H describes them (P3 checks it).
//   (d) Slot 0 is taken only when the WAL was wholly checkpointed
//       (nBackfill == mxFrame; checked, and SQLite's reader for a
//       read-only -shm, which uses slot 0 otherwise, is refused by
//       ReadSlotOf): the database file alone is the snapshot,
//       and no checkpoint writes the database file while slot 0 is held
//       (it needs WAL_READ_LOCK(0) exclusively). Frames are not laid over:
//       the WAL may be restarted and rewritten meanwhile.
//   (e) Nothing else writes the database file in WAL mode; leaving WAL
//       needs an exclusive lock, which our read transaction excludes.
//   (f) A checkpoint may shrink the file, but only to the current size
//       when it has copied every frame, which our slot bounds to M: the
//       snapshot's N pages. Pages past the end read as zeros, as SQLite
//       reads them, before their frame is laid over.
// snapshot_multiprocess_test's FastCopyIsTheSnapshotUnderCommitsAndCheckpoints
// fails when the overlay or the read transaction is left out.
//
// I/O: the source's files are read through the lower VFS's own file
// objects (never an fd of our own on the database: closing one would drop
// this process's POSIX locks on it); the temporary is written through the
// Env, like every file of ours. Effect on writers: none is blocked (no
// lock but the read slot); checkpoints stop at M until the copy ends, so
// the WAL grows by what is committed during the copy, as with the backup
// API, but for a shorter time. Writeback and the reserved blocks are as
// for the backup API (temp_file.h).
//
// The hash: the bytes written are handed to a thread that hashes them in
// order, a few buffers behind the copy, so hashing overlaps copying; what
// is hashed is exactly what was written (the integrity check afterwards
// reads the file back). The hash paces the copy (SHA-256 is slower than
// the copy from the page cache), so it runs at the copy's priority, not at
// SnapshotOptions::background_priority's nice +10: measured on a busy
// machine, a hash thread at +10 made the copy 3-8x slower.
#include "snapshot/file_copy.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/sha256.h"
#include "base/status_builders.h"
#include "snapshot/sqlite_util.h"

namespace sqlsteward::internal {
namespace {

constexpr std::int64_t kChunkBytes = 1 << 20;
constexpr int kBuffers = 4;

Status Fallback(const std::string& why) {
  return FailedPrecondition(why, "the snapshot uses SQLite's backup API instead");
}

// Hashes buffers in the order they are submitted, on a thread of its own;
// owns the buffers the copy fills.
class TrailingHash {
 public:
  TrailingHash(std::size_t bytes, Reporter* reporter, std::int64_t total_pages,
               std::int64_t page_size)
      : reporter_(reporter), total_pages_(total_pages), page_size_(page_size) {
    for (int i = 0; i < kBuffers; ++i) {
      storage_.push_back(std::make_unique<unsigned char[]>(bytes));
      free_.push_back(storage_.back().get());
    }
    thread_ = std::thread([this] { Loop(); });
  }
  TrailingHash(const TrailingHash&) = delete;
  TrailingHash& operator=(const TrailingHash&) = delete;
  ~TrailingHash() { Stop(); }

  unsigned char* Acquire() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    while (free_.empty()) changed_.Wait(&mu_);
    unsigned char* buffer = free_.back();
    free_.pop_back();
    return buffer;
  }
  void Submit(unsigned char* buffer, std::size_t len) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    queued_.emplace_back(buffer, len);
    changed_.SignalAll();
  }
  // Waits until everything submitted is hashed.
  std::string Finish() {
    Stop();
    return hash_.FinishHex();
  }

 private:
  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      stop_ = true;
      changed_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
  }

  void Loop() EXCLUDES(mu_) {
    reporter_->Begin(SnapshotPhase::kChecksum, total_pages_, page_size_);
    std::int64_t bytes = 0;
    for (;;) {
      std::pair<unsigned char*, std::size_t> item;
      {
        MutexLock lock(&mu_);
        while (queued_.empty() && !stop_) changed_.Wait(&mu_);
        if (queued_.empty()) break;
        item = queued_.front();
        queued_.pop_front();
      }
      hash_.Update(item.first, item.second);
      bytes += static_cast<std::int64_t>(item.second);
      reporter_->Update(SnapshotPhase::kChecksum, bytes / page_size_, total_pages_);
      MutexLock lock(&mu_);
      free_.push_back(item.first);
      changed_.SignalAll();
    }
    reporter_->End(SnapshotPhase::kChecksum, bytes / page_size_, total_pages_);
  }

  Reporter* const reporter_;
  const std::int64_t total_pages_;
  const std::int64_t page_size_;
  std::vector<std::unique_ptr<unsigned char[]>> storage_;
  Sha256 hash_;  // The hash thread's until it is joined.
  Mutex mu_;
  CondVar changed_;
  std::vector<unsigned char*> free_ GUARDED_BY(mu_);
  std::deque<std::pair<unsigned char*, std::size_t>> queued_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

Status ReadSource(sqlite3_file* file, unsigned char* out, std::int64_t len, std::int64_t offset,
                  const std::string& what, bool zeros_past_end) {
  const int rc = file->pMethods->xRead(file, out, static_cast<int>(len), offset);
  // A short read fills the rest with zeros: pages past the end of the
  // database file, which the WAL then provides (or SQLite reads as zeros).
  if (rc == SQLITE_OK || (rc == SQLITE_IOERR_SHORT_READ && zeros_past_end)) return Status();
  return IOError("read " + what + " failed during the snapshot",
                 "check the disk and the kernel log; the database itself was only read", rc);
}

}  // namespace

Result<FileCopyPlan> PlanFileCopy(sqlite3* source, const std::string& path) {
  FileCopyPlan plan;
  SQLSTEWARD_ASSIGN_OR_RETURN(plan.slot, ReadSlotOf(source));  // P1.
  SQLSTEWARD_ASSIGN_OR_RETURN(plan.files, SourceFilesOf(source));
  SQLSTEWARD_ASSIGN_OR_RETURN(plan.page_size, QueryInt(source, "PRAGMA page_size", path));
  SQLSTEWARD_ASSIGN_OR_RETURN(plan.page_count, QueryInt(source, "PRAGMA page_count", path));
  // The read transaction must still hold the same slot (P1 again: the
  // PRAGMAs ran inside it).
  SQLSTEWARD_ASSIGN_OR_RETURN(ReadSlot again, ReadSlotOf(source));
  if (again.slot != plan.slot.slot || again.header.change != plan.slot.header.change) {
    return Fallback("the snapshot's read transaction changed its WAL read slot");
  }
  if (plan.page_size < 512 || plan.page_size > 65536 || (plan.page_size & (plan.page_size - 1))) {
    return Fallback("page size " + std::to_string(plan.page_size));
  }
  const WalIndexHeader& h = plan.slot.header;
  if (plan.slot.slot == 0) {  // (d): the database file alone.
    if (plan.slot.backfilled != h.max_frame) {
      return Fallback("WAL read slot 0 with frames not yet checkpointed");
    }
    plan.frames.page_size = plan.page_size;
    return plan;
  }
  if (h.max_frame > 0 && h.page_size != static_cast<std::uint32_t>(plan.page_size)) {  // P2.
    return Fallback("the wal-index header's page size is not the database's");
  }
  if (h.max_frame > 0 && h.page_count != static_cast<std::uint32_t>(plan.page_count)) {
    return Fallback("the wal-index header's page count is not the read transaction's");
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(plan.frames,
                              ReadWalFrames(plan.files.wal, h, plan.page_count, path + "-wal"));
  plan.frames.page_size = plan.page_size;
  return plan;
}

Result<std::string> RunFileCopy(const FileCopyPlan& plan, const FileCopyRun& run,
                                TempSnapshot& temp, const std::string& path) {
  const std::int64_t page = plan.page_size;
  const std::int64_t total = plan.page_count;
  const std::int64_t chunk_pages =
      std::clamp<std::int64_t>(run.chunk_pages, 1, std::max<std::int64_t>(1, kChunkBytes / page));
  run.reporter->Begin(SnapshotPhase::kCopy, total, page);
  TrailingHash hash(static_cast<std::size_t>(chunk_pages * page), run.reporter, total, page);
  const bool overlay = plan.slot.slot > 0 && plan.frames.frames > 0;
  for (std::int64_t first = 1; first <= total; first += chunk_pages) {
    const std::int64_t pages = std::min(chunk_pages, total - first + 1);
    const std::int64_t offset = (first - 1) * page;
    unsigned char* buffer = hash.Acquire();
    SQLSTEWARD_RETURN_IF_ERROR(
        ReadSource(plan.files.database, buffer, pages * page, offset, path, true));
    if (overlay) {
      for (std::int64_t p = first; p < first + pages; ++p) {
        const std::uint32_t frame = plan.frames.frame_of_page[static_cast<std::size_t>(p)];
        if (frame == 0) continue;
        SQLSTEWARD_RETURN_IF_ERROR(ReadSource(plan.files.wal, buffer + (p - first) * page, page,
                                              plan.frames.PageOffset(frame), path + "-wal", false));
      }
    }
    if (first == 1 && (buffer[18] == 2 || buffer[19] == 2)) {
      buffer[18] = 1;  // Rollback journal: the snapshot is one self-contained file.
      buffer[19] = 1;
    }
    SQLSTEWARD_RETURN_IF_ERROR(
        temp.WriteAt(buffer, static_cast<std::size_t>(pages * page), offset));
    hash.Submit(buffer, static_cast<std::size_t>(pages * page));
    temp.StartWriteback();
    if (first + pages <= total) {
      run.reporter->Update(SnapshotPhase::kCopy, first + pages - 1, total);
    }
  }
  run.reporter->End(SnapshotPhase::kCopy, total, total);
  return hash.Finish();
}

}  // namespace sqlsteward::internal
