// Helper binary for multi-process tests. Each mode is one real process that
// talks to the test through stdout lines and waits on stdin for its go:
//
//   closures DB THREADS N   print "ready", wait for stdin EOF, run THREADS x N
//                           read-then-write closures, print
//                           "done <acked> <errors> <timeouts>"
//   ack-writer DB THREADS BASE  write ids BASE + t*1e9 + i forever; print
//                           "ack <id>" only after Write() returned OK (the
//                           test kills us with SIGKILL)
//   expect-write-locked DB  exit 0 if opening DB times out on the write lock
//                           (300 ms), 1 if it opens, 2 on another error
//   open-exclusive DB       open with Ownership::kExclusive, print "open <pid>",
//                           close at stdin EOF
//   try-open DB             print "barrier", wait for one byte on stdin, open,
//                           print "ok" or "refused <code>", close at stdin EOF
//   handover-writer DB      open exclusive and write forever from 4 threads;
//                           print "ack <id>" for each acknowledged write and
//                           "rejected <id> <code>" for each refused one; each
//                           thread stops after 50 rejections in a row
//   raw-writer DB N BASE    stock SQLite, no sqlsteward: rollback journal with
//                           locking_mode=EXCLUSIVE (the fix proposed for
//                           shared mounts), busy_timeout 5000; inserts ids
//                           BASE..BASE+N-1, one transaction each; prints
//                           "done <acknowledged>"
//   open-close-loop DB N    print "ready", wait for stdin EOF, open and close
//                           DB N times; print "done <failures> <first error>"
//   hold-write-lock DB      take sqlsteward's write lock inside a job, print
//                           "holding <pid>", keep it until stdin EOF
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sqlsteward/sqlsteward.h"

namespace {

using sqlsteward::Database;
using sqlsteward::Status;
using sqlsteward::StatusCode;
using sqlsteward::Transaction;

std::mutex g_out_mu;

void Say(const std::string& line) {
  std::lock_guard lock(g_out_mu);
  std::string text = line + "\n";
  // One write per line so that a SIGKILL never leaves half a line.
  if (::write(STDOUT_FILENO, text.data(), text.size()) < 0) std::_Exit(3);
}

void WaitForStdinEof() {
  char buf[64];
  while (true) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

std::unique_ptr<Database> OpenOrDie(const std::string& path) {
  auto db = Database::Open(path);
  if (!db.has_value()) {
    std::fprintf(stderr, "open: %s\n", db.error().ToString().c_str());
    std::exit(2);
  }
  return std::move(db).value();
}

Status CreateLedger(Database& db) {
  return db.Write([](Transaction& tx) {
    return tx.ExecScript(
        "CREATE TABLE IF NOT EXISTS ledger(n INTEGER PRIMARY KEY, pid INTEGER NOT NULL, "
        "thread INTEGER NOT NULL)");
  });
}

int Closures(const std::string& path, int threads, int per_thread) {
  auto db = OpenOrDie(path);
  if (Status st = CreateLedger(*db); !st.ok()) {
    std::fprintf(stderr, "create: %s\n", st.ToString().c_str());
    return 2;
  }
  Say("ready");
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
  Say("done " + std::to_string(acked.load()) + " " + std::to_string(errors.load()) + " " +
      std::to_string(timeouts.load()));
  return errors.load() == 0 ? 0 : 1;
}

int AckWriter(const std::string& path, int threads, long long base) {
  auto db = OpenOrDie(path);
  Status st = db->Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE IF NOT EXISTS acked(id INTEGER PRIMARY KEY)");
  });
  if (!st.ok()) return 2;
  Say("ready");
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long long i = 0;; ++i) {
        long long id = base + static_cast<long long>(t) * 1'000'000'000LL + i;
        Status w = db->Write(
            [&](Transaction& tx) { return tx.Exec("INSERT INTO acked(id) VALUES(?)", id); });
        if (!w.ok()) {
          std::fprintf(stderr, "write: %s\n", w.ToString().c_str());
          std::_Exit(4);
        }
        Say("ack " + std::to_string(id));
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

int HoldWriteLock(const std::string& path) {
  auto db = OpenOrDie(path);
  Status st = db->Write([](Transaction&) {
    Say("holding " + std::to_string(::getpid()));
    WaitForStdinEof();
    return Status();
  });
  Say(st.ok() ? "released" : "failed " + st.ToString());
  return st.ok() ? 0 : 1;
}

int ExpectWriteLocked(const std::string& path) {
  sqlsteward::Options quick;
  quick.write_timeout = std::chrono::milliseconds(300);
  auto db = Database::Open(path, quick);
  if (db.has_value()) return 1;
  return db.error().code() == StatusCode::kTimeout ? 0 : 2;
}

int OpenExclusive(const std::string& path) {
  sqlsteward::Options options;
  options.ownership = sqlsteward::Ownership::kExclusive;
  auto db = Database::Open(path, options);
  if (!db.has_value()) {
    Say("failed " + db.error().ToString());
    return 1;
  }
  Say("open " + std::to_string(::getpid()));
  WaitForStdinEof();
  return 0;
}

// Started in pairs through two mounts: each opens right after the go signal
// and keeps the handle until told, so that two successes would overlap.
int TryOpen(const std::string& path) {
  Say("barrier");
  char go;
  if (::read(STDIN_FILENO, &go, 1) != 1) return 2;
  auto db = Database::Open(path);
  Say(db.has_value() ? "ok"
                     : "refused " + std::string(sqlsteward::StatusCodeName(db.error().code())));
  WaitForStdinEof();
  return 0;
}

int HandoverWriter(const std::string& path) {
  sqlsteward::Options options;
  options.ownership = sqlsteward::Ownership::kExclusive;
  auto db = Database::Open(path, options);  // The test created table acked.
  if (!db.has_value()) {
    Say("failed " + db.error().ToString());
    return 2;
  }
  Say("ready");
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      int rejected_in_a_row = 0;
      for (long long i = 0; rejected_in_a_row < 50; ++i) {
        long long id = static_cast<long long>(t) * 1'000'000'000LL + i;
        Status st = (*db)->Write(
            [&](Transaction& tx) { return tx.Exec("INSERT INTO acked(id) VALUES(?)", id); });
        if (st.ok()) {
          rejected_in_a_row = 0;
          Say("ack " + std::to_string(id));
        } else {
          rejected_in_a_row++;
          Say("rejected " + std::to_string(id) + " " +
              std::string(sqlsteward::StatusCodeName(st.code())));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

int RawWriter(const std::string& path, int n, long long base) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 2;
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA journal_mode=DELETE; PRAGMA locking_mode=EXCLUSIVE;", nullptr,
               nullptr, nullptr);
  sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS raw(id INTEGER PRIMARY KEY)", nullptr, nullptr,
               nullptr);
  Say("ready");
  WaitForStdinEof();
  long acked = 0;
  for (int i = 0; i < n; ++i) {
    std::string sql = "INSERT INTO raw(id) VALUES(" + std::to_string(base + i) + ")";
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK) acked++;
  }
  sqlite3_close(db);
  Say("done " + std::to_string(acked));
  return 0;
}

int OpenCloseLoop(const std::string& path, int n) {
  Say("ready");
  WaitForStdinEof();
  int failures = 0;
  std::string first;
  for (int i = 0; i < n; ++i) {
    auto db = Database::Open(path);
    if (!db.has_value()) {
      if (failures++ == 0) first = db.error().ToString();
    }
  }
  Say("done " + std::to_string(failures) + " " + first);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 5 && std::strcmp(argv[1], "closures") == 0) {
    return Closures(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  if (argc >= 5 && std::strcmp(argv[1], "ack-writer") == 0) {
    return AckWriter(argv[2], std::atoi(argv[3]), std::atoll(argv[4]));
  }
  if (argc >= 3 && std::strcmp(argv[1], "hold-write-lock") == 0) return HoldWriteLock(argv[2]);
  if (argc >= 5 && std::strcmp(argv[1], "raw-writer") == 0) {
    return RawWriter(argv[2], std::atoi(argv[3]), std::atoll(argv[4]));
  }
  if (argc >= 4 && std::strcmp(argv[1], "open-close-loop") == 0) {
    return OpenCloseLoop(argv[2], std::atoi(argv[3]));
  }
  if (argc >= 3 && std::strcmp(argv[1], "open-exclusive") == 0) return OpenExclusive(argv[2]);
  if (argc >= 3 && std::strcmp(argv[1], "try-open") == 0) return TryOpen(argv[2]);
  if (argc >= 3 && std::strcmp(argv[1], "handover-writer") == 0) return HandoverWriter(argv[2]);
  if (argc >= 3 && std::strcmp(argv[1], "expect-write-locked") == 0) {
    return ExpectWriteLocked(argv[2]);
  }
  std::fprintf(stderr, "usage: %s closures|ack-writer|hold-write-lock DB ...\n", argv[0]);
  return 64;
}
