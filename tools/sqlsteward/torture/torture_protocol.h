// What `sqlsteward torture` (the parent) and its hidden `sqlsteward
// torture-worker` processes agree on: the database's schema and name, how
// a write is identified, and the lines a worker says. The line protocol is
// tests/support/child_process.h's, with the verbs every worker shares
// (common/worker_set.h).
//
// The parent starts each worker as
//   /proc/self/exe torture-worker --db PATH --writer W
// (stdin and stdout piped, stderr inherited). The worker opens PATH through
// the library with the default Options (synchronous=FULL: a write is
// durable when Write() returns OK) and says
//   ready                        the database is open; waiting for the go
//   error <code> <status json>   Open (or a write) failed; it exits 1
// then, at EOF on stdin, starts kThreadsPerWorker threads. Thread t writes
// as writer W + t: one row per Write(), ids WriteId(W + t, 1), (.., 2), ...,
// each Write() started only after the previous one returned OK, and says
//   ack <id>                     after Write() returned OK for that row
// until it is killed. It never ends on its own; with its parent gone (a
// failed write of a line), it exits.
//
// So every id the parent read in an ack line is a write the library
// acknowledged, and within one writer a present row proves that every
// earlier row of that writer was acknowledged to its thread as well.
#ifndef SQLSTEWARD_TOOLS_TORTURE_PROTOCOL_H_
#define SQLSTEWARD_TOOLS_TORTURE_PROTOCOL_H_

#include <cstdint>
#include <string_view>

namespace sqlsteward::cli::torture {

inline constexpr std::string_view kWorkerCommand = "torture-worker";
inline constexpr std::string_view kAck = "ack";

// The one file name torture creates and removes: never a user's database.
inline constexpr std::string_view kDatabaseName = "sqlsteward-torture.db";

// PRAGMA application_id of a torture database ("SSTR"): how a previous
// run's file is told from anything else of that name, from its header
// alone (offset 68), even when a hot journal keeps SQLite from reading it.
inline constexpr std::uint32_t kApplicationId = 0x53535452;

// No UNIQUE constraint on id: a write that appears twice must be seen, not
// refused. The index gives integrity_check a second copy of every id to
// check against the table.
inline constexpr std::string_view kSchema =
    "PRAGMA application_id = 1397970002;"  // kApplicationId
    "CREATE TABLE torture_writes(id INTEGER NOT NULL, pid INTEGER NOT NULL, "
    "at_us INTEGER NOT NULL, pad BLOB NOT NULL);"
    "CREATE INDEX torture_writes_id ON torture_writes(id);";

// Each row carries this many random bytes, so that pages fill and split
// and a commit writes more than one page.
inline constexpr int kPadBytes = 200;

// Writer threads per worker process: two let the library group-commit
// within a process, so a kill can land inside a batch of several jobs.
inline constexpr int kThreadsPerWorker = 2;

// The id of writer `writer`'s `seq`-th row (seq from 1).
constexpr std::int64_t WriteId(std::int64_t writer, std::int64_t seq) {
  return (writer << 32) | seq;
}
constexpr std::int64_t WriterOf(std::int64_t id) { return id >> 32; }
constexpr std::int64_t SeqOf(std::int64_t id) { return id & 0xffffffff; }

}  // namespace sqlsteward::cli::torture

#endif  // SQLSTEWARD_TOOLS_TORTURE_PROTOCOL_H_
