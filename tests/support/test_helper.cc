// Helper binary for multi-process tests. Each mode is one real process that
// talks to the test through stdout lines and waits on stdin for its go (the
// line protocol of child_process.h). Any mode that fails says
// "error <code> <message>" and exits non-zero (helper_main.h).
//
//   closures DB THREADS N   print "ready", wait for stdin EOF, run THREADS x N
//                           read-then-write closures, print "done <acked>
//                           <errors> <timeouts> <SQLite busy-handler calls>"
//   ack-writer DB THREADS BASE [JOURNAL SYNC]
//                           open DB (JOURNAL wal or delete, SYNC off, normal,
//                           full or extra; default the library's), print
//                           "ready" (with both: "ready <journal_mode>
//                           <PRAGMA synchronous>" as SQLite reads them back
//                           on the writer), write ids BASE + t*1e9 + i
//                           forever; print "ack <id>" only after Write()
//                           returned OK (the test kills us with SIGKILL)
//   expect-write-locked DB  exit 0 if opening DB times out on the write lock
//                           (300 ms), 1 if it opens, 2 on another error
//                           (exec'd by a forked test, not a ChildProcess)
//   open-exclusive DB       open with Ownership::kExclusive, print "open <pid>",
//                           close at stdin EOF
//   take-over DB            open exclusive with take_over (a successor asks
//                           the current instances to hand over), print
//                           "open <pid>", close at stdin EOF
//   try-open DB             print "barrier", wait for one byte on stdin, open,
//                           print "ok" or "refused <code>", close at stdin EOF
//   handover-writer DB      open exclusive and write forever from 4 threads;
//                           print "ack <id>" for each acknowledged write and
//                           "rejected <id> <code>" for each refused one; each
//                           thread stops after 50 rejections in a row
//   raw-writer DB N BASE    stock SQLite, no sqlsteward: rollback journal with
//                           locking_mode=EXCLUSIVE (the fix proposed for
//                           shared mounts), busy_timeout 5000; print "ready",
//                           wait for stdin EOF, insert ids BASE..BASE+N-1,
//                           one transaction each; print "done <acknowledged>"
//                           (a failed insert is data, not an error)
//   raw-hold DB             stock SQLite, no sqlsteward: open DB in WAL mode,
//                           create table raw, print "holding <pid>", close
//                           at stdin EOF
//   open-close-loop DB N    print "ready", wait for stdin EOF, open and close
//                           DB N times; print "done <failures> <first error>"
//                           and exit 1 if any failed
//   open-as UID GID DB MS   become UID:GID (no supplementary groups), open DB
//                           with write_timeout MS, insert a row into t(x) and
//                           print "wrote"; a refusal is an error line
//   hold-write-lock DB      take sqlsteward's write lock inside a job, print
//                           "holding <pid>", keep it until stdin EOF, close
//                           DB and print "released"
//   hold-ofd-lock DB        take the write lock's OFD byte of DB's sidecar
//                           directly, as a process outside the turn queue
//                           would (an older version): print "holding
//                           <pid>", release at stdin EOF, print "released"
//   queue-write DB TAG      open DB, print "ready", wait for stdin EOF, then
//                           insert TAG into turns(tag) in one Write; print
//                           "wrote" when it is acknowledged
#include <fcntl.h>
#include <grp.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sidecar/format.h"
#include "sqlsteward/sqlsteward.h"
#include "support/helper_main.h"
#include "support/line_protocol.h"

namespace {

using sqlsteward::Database;
using sqlsteward::JournalMode;
using sqlsteward::Options;
using sqlsteward::Status;
using sqlsteward::StatusCode;
using sqlsteward::Synchronous;
using sqlsteward::Transaction;
using sqlsteward::subprocess::SayOrExit;
using sqlsteward::subprocess::WaitForStdinEof;
using sqlsteward::testing::CloseAndReport;
using sqlsteward::testing::ParseDurability;
using sqlsteward::testing::kExitFailed;
using sqlsteward::testing::kExitSetup;
using sqlsteward::testing::kExitUsage;
using sqlsteward::testing::ModeArgs;
using sqlsteward::testing::OpenOrExit;
using sqlsteward::testing::SayError;

Status CreateLedger(Database& db) {
  return db.Write([](Transaction& tx) {
    return tx.ExecScript(
        "CREATE TABLE IF NOT EXISTS ledger(n INTEGER PRIMARY KEY, pid INTEGER NOT NULL, "
        "thread INTEGER NOT NULL)");
  });
}

int Closures(const ModeArgs& args) {
  const int threads = static_cast<int>(args.Int(1));
  const int per_thread = static_cast<int>(args.Int(2));
  auto db = OpenOrExit(args[0]);
  if (Status st = CreateLedger(*db); !st.ok()) {
    SayError(st);
    return kExitSetup;
  }
  SayOrExit("ready");
  WaitForStdinEof();
  std::atomic<long> acked{0}, errors{0}, timeouts{0};
  std::vector<std::thread> workers;
  const long pid = ::getpid();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        Status st = db->Write([&](Transaction& tx) -> Status {
          auto max = tx.QueryInt64("SELECT coalesce(max(n), 0) FROM ledger");
          if (!max.has_value()) return max.error();
          return tx.Exec("INSERT INTO ledger(n, pid, thread) VALUES(?, ?, ?)", **max + 1, pid,
                         t);
        });
        if (st.ok()) {
          acked++;
        } else {
          errors++;
          if (st.code() == StatusCode::kTimeout) timeouts++;
          std::fprintf(stderr, "write: %s\n", st.ToString().c_str());
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  SayOrExit("done " + std::to_string(acked.load()) + " " + std::to_string(errors.load()) + " " +
            std::to_string(timeouts.load()) + " " +
            std::to_string(db->Metrics().sqlite_busy_handler_calls));
  return CloseAndReport(*db, errors.load() == 0 ? 0 : kExitFailed);
}

int AckWriter(const ModeArgs& args) {
  const int threads = static_cast<int>(args.Int(1));
  const long long base = args.Int(2);
  Options options;
  if (args.size() == 4) {
    SayError("invalid_argument", "JOURNAL needs SYNC after it");
    return kExitUsage;
  }
  if (args.size() > 3 && !ParseDurability(args[3], args[4], &options)) return kExitUsage;
  auto db = OpenOrExit(args[0], options);
  std::string applied;  // As SQLite reads them back on the writer connection.
  Status st = db->Write([&](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(
        tx.ExecScript("CREATE TABLE IF NOT EXISTS acked(id INTEGER PRIMARY KEY)"));
    SQLSTEWARD_ASSIGN_OR_RETURN(auto mode, tx.QueryText("PRAGMA journal_mode"));
    SQLSTEWARD_ASSIGN_OR_RETURN(auto sync, tx.QueryInt64("PRAGMA synchronous"));
    applied = mode.value_or("?") + " " + std::to_string(sync.value_or(-1));
    return Status();
  });
  if (!st.ok()) {
    SayError(st);
    return kExitSetup;
  }
  SayOrExit(args.size() > 3 ? "ready " + applied : std::string("ready"));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long long i = 0;; ++i) {
        long long id = base + static_cast<long long>(t) * 1'000'000'000LL + i;
        Status w = db->Write(
            [&](Transaction& tx) { return tx.Exec("INSERT INTO acked(id) VALUES(?)", id); });
        if (!w.ok()) {
          SayError(w);
          std::_Exit(4);  // The test kills us; an error must not wait for it.
        }
        SayOrExit("ack " + std::to_string(id));
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

int HoldWriteLock(const ModeArgs& args) {
  auto db = OpenOrExit(args[0]);
  Status st = db->Write([](Transaction&) {
    SayOrExit("holding " + std::to_string(::getpid()));
    WaitForStdinEof();
    return Status();
  });
  if (!st.ok()) {
    SayError(st);
    return kExitFailed;
  }
  const int status = CloseAndReport(*db);
  if (status == 0) SayOrExit("released");
  return status;
}

int HoldOfdLock(const ModeArgs& args) {
  const std::string sidecar = sqlsteward::internal::SidecarPath(args[0]);
  const int fd = ::open(sidecar.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    SayError("not_found", "open " + sidecar + ": " + std::strerror(errno));
    return kExitSetup;
  }
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = sqlsteward::internal::kWriteLockByte;
  fl.l_len = 1;
  if (::fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
    SayError("io_error", std::string("F_OFD_SETLKW: ") + std::strerror(errno));
    return kExitFailed;
  }
  SayOrExit("holding " + std::to_string(::getpid()));
  WaitForStdinEof();
  fl.l_type = F_UNLCK;
  ::fcntl(fd, F_OFD_SETLK, &fl);
  ::close(fd);
  SayOrExit("released");
  return 0;
}

int QueueWrite(const ModeArgs& args) {
  auto db = OpenOrExit(args[0]);
  SayOrExit("ready");
  WaitForStdinEof();
  const std::string tag = args[1];
  Status st =
      db->Write([&](Transaction& tx) { return tx.Exec("INSERT INTO turns(tag) VALUES(?)", tag); });
  if (!st.ok()) {
    SayError(st);
    return kExitFailed;
  }
  SayOrExit("wrote");
  return CloseAndReport(*db);
}

// Exec'd from a forked test process, whose stdout it shares: an error line
// there says what happened instead of the bare exit status.
int ExpectWriteLocked(const ModeArgs& args) {
  sqlsteward::Options quick;
  quick.write_timeout = std::chrono::milliseconds(300);
  auto db = Database::Open(args[0], quick);
  if (db.has_value()) {
    SayError("failed_precondition", "opened " + args[0] + ", whose write lock should be held");
    return 1;
  }
  if (db.error().code() == StatusCode::kTimeout) return 0;
  SayError(db.error());
  return 2;
}

int OpenExclusive(const ModeArgs& args, bool take_over) {
  sqlsteward::Options options;
  options.ownership = sqlsteward::Ownership::kExclusive;
  options.take_over = take_over;
  auto db = Database::Open(args[0], options);
  if (!db.has_value()) {
    SayError(db.error());
    return kExitFailed;
  }
  SayOrExit("open " + std::to_string(::getpid()));
  WaitForStdinEof();
  return CloseAndReport(**db);
}

int OpenExclusive(const ModeArgs& args) { return OpenExclusive(args, false); }
int TakeOver(const ModeArgs& args) { return OpenExclusive(args, true); }

// Started in pairs through two mounts: each opens right after the go signal
// and keeps the handle until told, so that two successes would overlap. A
// refusal is what the test measures, so it is a line, not a failure.
int TryOpen(const ModeArgs& args) {
  SayOrExit("barrier");
  char go;
  if (::read(STDIN_FILENO, &go, 1) != 1) {
    SayError("aborted", "stdin closed before the go byte");
    return kExitSetup;
  }
  auto db = Database::Open(args[0]);
  SayOrExit(db.has_value()
                ? "ok"
                : "refused " + std::string(sqlsteward::StatusCodeName(db.error().code())));
  WaitForStdinEof();
  return db.has_value() ? CloseAndReport(**db) : 0;
}

int HandoverWriter(const ModeArgs& args) {
  sqlsteward::Options options;
  options.ownership = sqlsteward::Ownership::kExclusive;
  auto db = OpenOrExit(args[0], options);  // The test created table acked.
  SayOrExit("ready");
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      int rejected_in_a_row = 0;
      for (long long i = 0; rejected_in_a_row < 50; ++i) {
        long long id = static_cast<long long>(t) * 1'000'000'000LL + i;
        Status st = db->Write(
            [&](Transaction& tx) { return tx.Exec("INSERT INTO acked(id) VALUES(?)", id); });
        if (st.ok()) {
          rejected_in_a_row = 0;
          SayOrExit("ack " + std::to_string(id));
        } else {
          rejected_in_a_row++;
          SayOrExit("rejected " + std::to_string(id) + " " +
                    std::string(sqlsteward::StatusCodeName(st.code())));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return CloseAndReport(*db);
}

// An error of the raw C API as an error line; the exit status to return.
int SayRawError(sqlite3* db, int rc, const std::string& what) {
  SayError("internal", what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) +
                           " (sqlite " + std::to_string(rc) + ")");
  sqlite3_close(db);
  return kExitSetup;
}

// Runs `sql` through the raw C API; appends each row's first column and a
// space to `out`. SQLite's result code.
int ExecFirstColumns(sqlite3* db, const char* sql, std::string* out) {
  return sqlite3_exec(
      db, sql,
      [](void* text, int, char** values, char**) {
        *static_cast<std::string*>(text) +=
            std::string(values[0] != nullptr ? values[0] : "") + " ";
        return 0;
      },
      out, nullptr);
}

int RawWriter(const ModeArgs& args) {
  const int n = static_cast<int>(args.Int(1));
  const long long base = args.Int(2);
  sqlite3* db = nullptr;
  int rc = sqlite3_open(args[0].c_str(), &db);
  if (rc != SQLITE_OK) return SayRawError(db, rc, "open " + args[0]);
  sqlite3_busy_timeout(db, 5000);
  // The control must run in exactly the configuration it claims to test,
  // and a VFS may refuse a journal mode silently: read both back.
  std::string modes;
  rc = ExecFirstColumns(db, "PRAGMA journal_mode=DELETE; PRAGMA locking_mode=EXCLUSIVE;", &modes);
  if (rc != SQLITE_OK) return SayRawError(db, rc, "journal_mode / locking_mode");
  if (modes != "delete exclusive ") {
    SayError("failed_precondition", "journal_mode and locking_mode are '" + modes +
                                        "', not 'delete exclusive'");
    sqlite3_close(db);
    return kExitSetup;
  }
  rc = sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS raw(id INTEGER PRIMARY KEY)", nullptr,
                    nullptr, nullptr);
  if (rc != SQLITE_OK) return SayRawError(db, rc, "create table raw");
  SayOrExit("ready");
  WaitForStdinEof();
  long acked = 0;
  for (int i = 0; i < n; ++i) {
    std::string sql = "INSERT INTO raw(id) VALUES(" + std::to_string(base + i) + ")";
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK) acked++;
  }
  rc = sqlite3_close(db);
  if (rc != SQLITE_OK) return SayRawError(nullptr, rc, "close");
  SayOrExit("done " + std::to_string(acked));
  return 0;
}

// A stock SQLite client in WAL mode, as a Python or Node program without the
// extension would be: its connection keeps POSIX locks on DB and -shm while
// it is open.
int RawHold(const ModeArgs& args) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open(args[0].c_str(), &db);
  if (rc != SQLITE_OK) return SayRawError(db, rc, "open " + args[0]);
  std::string mode;
  rc = ExecFirstColumns(db, "PRAGMA journal_mode=WAL;", &mode);
  if (rc != SQLITE_OK) return SayRawError(db, rc, "journal_mode");
  if (mode != "wal ") {
    SayError("failed_precondition", "journal_mode is '" + mode + "', not 'wal'");
    sqlite3_close(db);
    return kExitSetup;
  }
  rc = sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS raw(id INTEGER PRIMARY KEY)", nullptr,
                    nullptr, nullptr);
  if (rc != SQLITE_OK) return SayRawError(db, rc, "create table raw");
  SayOrExit("holding " + std::to_string(::getpid()));
  WaitForStdinEof();
  rc = sqlite3_close(db);
  if (rc != SQLITE_OK) return SayRawError(nullptr, rc, "close");
  return 0;
}

int OpenCloseLoop(const ModeArgs& args) {
  const long long n = args.Int(1);
  SayOrExit("ready");
  WaitForStdinEof();
  int failures = 0;
  std::string first;
  for (long long i = 0; i < n; ++i) {
    auto db = Database::Open(args[0]);
    Status st = db.has_value() ? (*db)->Close() : db.error();
    if (!st.ok() && failures++ == 0) first = st.ToString();
  }
  SayOrExit("done " + std::to_string(failures) + " " + first);
  return failures == 0 ? 0 : kExitFailed;
}

int OpenAs(const ModeArgs& args) {
  const auto uid = static_cast<uid_t>(args.Int(0));
  const auto gid = static_cast<gid_t>(args.Int(1));
  if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
    SayError("permission_denied", "cannot become " + args[0] + ":" + args[1] + " (run as root)");
    return kExitSetup;
  }
  sqlsteward::Options options;
  options.write_timeout = std::chrono::milliseconds(args.Int(3));
  auto db = OpenOrExit(args[2], options);
  Status st = db->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES(1)");
  });
  if (!st.ok()) {
    SayError(st);
    return kExitFailed;
  }
  SayOrExit("wrote");
  return CloseAndReport(*db);
}

constexpr sqlsteward::testing::HelperMode kModes[] = {
    {"open-as", "UID GID DB MS", OpenAs},
    {"closures", "DB THREADS N", Closures},
    {"ack-writer", "DB THREADS BASE [JOURNAL SYNC]", AckWriter},
    {"hold-write-lock", "DB", HoldWriteLock},
    {"hold-ofd-lock", "DB", HoldOfdLock},
    {"queue-write", "DB TAG", QueueWrite},
    {"expect-write-locked", "DB", ExpectWriteLocked},
    {"open-exclusive", "DB", OpenExclusive},
    {"take-over", "DB", TakeOver},
    {"try-open", "DB", TryOpen},
    {"handover-writer", "DB", HandoverWriter},
    {"raw-writer", "DB N BASE", RawWriter},
    {"raw-hold", "DB", RawHold},
    {"open-close-loop", "DB N", OpenCloseLoop},
};

}  // namespace

int main(int argc, char** argv) { return sqlsteward::testing::HelperMain(kModes, argc, argv); }
