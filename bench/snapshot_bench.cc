// sqlsteward_snapshot_bench: snapshot throughput against `cp` of the same
// file on the same disk, and the longest writer stall during a snapshot.
//
//   sqlsteward_snapshot_bench                        # 1 GiB, 3 reps
//   sqlsteward_snapshot_bench --size-mib 2048 --reps 5 --json out.json
//   sqlsteward_snapshot_bench --compare-backup       # also C: the backup API
//   sqlsteward_snapshot_bench --smoke                # CI: harness check only
//
// One database of --size-mib (4000-byte random blobs, one per page, filled in
// one transaction with synchronous=OFF) is built in --dir. An application
// thread then commits one-row transactions through sqlsteward (durable,
// synchronous=FULL) for the whole run and records each commit's latency.
// Each repetition runs, in this order on the same directory:
//   A. `cp --reflink=never DB COPY` (a child process: /bin/cp), then fsync(COPY):
//      cp alone does not make the copy durable, a snapshot does, so the
//      baseline is cp + fsync; cp alone is reported too;
//   B. Snapshot(db, DIR/snaps) with the default quick_check: the copy (by
//      default the file copy with its WAL overlay, hashed as it goes;
//      --copy backup: the backup API), fsync, quick_check (and the sha256
//      for the backup API), manifest, rename, directory fsync.
//   C. with --compare-backup: the same snapshot with copy_method kBackupApi
//      (the copy of earlier releases), for the speed-up of B over it.
// All read a source that is in the page cache (it was just written and is
// read every repetition). Ratio = cp time / snapshot time (= snapshot
// throughput / cp throughput); goal >= 0.5. The stall is the longest commit
// of the application thread that started while B ran; goal <= 20 ms. The
// same thread alone (before the repetitions) and during A give its
// baselines. Each run starts one second after the previous one ended, so
// that one's writeback does not spill into the other's window.
//
// The source is built once and shared by the repetitions (rebuilding 1 GiB
// per repetition would dominate the run); the application thread's rows
// make it grow by a few MiB per repetition.
//
// Exit status: 0 when every run completed (goals met or missed do not
// matter); 1 on bad arguments or setup errors; 2 when a snapshot failed or,
// with --smoke, did not verify.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sqlsteward/snapshot.h"
#include "sqlsteward/sqlsteward.h"
#include "support/child_process.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

json Spread(const std::vector<double>& v) {
  return {{"median", Median(v)},
          {"min", v.empty() ? 0 : *std::min_element(v.begin(), v.end())},
          {"max", v.empty() ? 0 : *std::max_element(v.begin(), v.end())},
          {"values", v}};
}

struct Args {
  std::string dir = "./snapshot-bench-data";
  int size_mib = 1024;
  int reps = 3;
  std::string integrity = "quick";
  std::string copy = "auto";
  bool compare_backup = false;
  std::string json_path;
  bool smoke = false;
  bool keep_data = false;
};

[[noreturn]] void Die(const std::string& what) {
  fmt::print(stderr, "error: {}\n", what);
  std::exit(1);
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "?";
    sqlite3_free(err);
    Die(sql.substr(0, 60) + ": " + msg);
  }
}

void FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) Die("fsync " + path);
  ::close(fd);
}

void BuildDatabase(const std::string& path, int size_mib) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal", "-steward"}) {
    fs::remove(path + suffix);
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) Die("open " + path);
  Exec(db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF");
  Exec(db,
       "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);"
       "CREATE TABLE ticks(id INTEGER PRIMARY KEY, at INTEGER, pad BLOB)");
  const long long rows = static_cast<long long>(size_mib) * 1024 * 1024 / 4096;
  Exec(db, fmt::format("BEGIN; WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
                       "WHERE i < {}) INSERT INTO blobs SELECT i, randomblob(4000) FROM r; "
                       "COMMIT",
                       rows));
  Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
  FsyncPath(path);
}

// The application: one-row durable commits in a closed loop, each latency
// recorded with its start time.
class AppWriter {
 public:
  explicit AppWriter(sqlsteward::Database* db) : db_(db) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~AppWriter() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  struct Window {
    std::size_t commits = 0;
    double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
    // When the longest commit started, in seconds after `from`.
    double max_at_s = 0;
    std::size_t errors = 0;
  };
  // Commits that started within [from, to].
  Window Between(Clock::time_point from, Clock::time_point to) {
    std::lock_guard lock(mu_);
    std::vector<double> ms;
    Window w;
    for (const Sample& s : samples_) {
      if (s.start < from || s.start > to) continue;
      ms.push_back(Seconds(s.end - s.start) * 1000.0);
      if (ms.back() > w.max_ms) {
        w.max_ms = ms.back();
        w.max_at_s = Seconds(s.start - from);
      }
    }
    w.errors = errors_;
    w.commits = ms.size();
    if (ms.empty()) return w;
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) {
      return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ms.size())))];
    };
    w.p50_ms = at(0.5);
    w.p99_ms = at(0.99);
    w.p999_ms = at(0.999);
    w.max_ms = ms.back();
    return w;
  }

 private:
  struct Sample {
    Clock::time_point start, end;
  };
  void Loop() {
    std::int64_t n = 0;
    while (!stop_) {
      const auto start = Clock::now();
      sqlsteward::Status st = db_->Write([&](sqlsteward::Transaction& tx) {
        return tx.Exec("INSERT INTO ticks(at, pad) VALUES(?, randomblob(100))", ++n);
      });
      const auto end = Clock::now();
      std::lock_guard lock(mu_);
      samples_.push_back({start, end});
      if (!st.ok()) {
        ++errors_;
        if (errors_ < 5) fmt::print(stderr, "app write failed: {}\n", st.ToString());
      }
    }
  }
  sqlsteward::Database* db_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Sample> samples_;
  std::size_t errors_ = 0;
  std::thread thread_;
};

json WindowJson(const AppWriter::Window& w) {
  return {{"commits", w.commits}, {"p50_ms", w.p50_ms}, {"p99_ms", w.p99_ms},
          {"p999_ms", w.p999_ms}, {"max_ms", w.max_ms}, {"max_at_seconds", w.max_at_s},
          {"errors", w.errors}};
}

// Runs argv[0] (a path) with the rest of argv, inheriting our streams;
// its exit code, or -1 when it could not run or was killed.
int RunProcess(const std::vector<std::string>& argv) {
  sqlsteward::subprocess::SpawnOptions inherit;
  inherit.in = sqlsteward::subprocess::Stream::kInherit;
  inherit.out = sqlsteward::subprocess::Stream::kInherit;
  inherit.err = sqlsteward::subprocess::Stream::kInherit;
  const sqlsteward::subprocess::RunResult run = sqlsteward::subprocess::Run(
      argv[0], std::vector<std::string>(argv.begin() + 1, argv.end()),
      sqlsteward::subprocess::Clock::time_point::max(), inherit);
  return run.status.exited() ? run.status.exit_code() : -1;
}

int Run(const Args& args) {
  const auto integrity = sqlsteward::ParseIntegrityCheck(args.integrity);
  if (!integrity.has_value()) Die(integrity.error().ToString());
  std::error_code ec;
  fs::create_directories(args.dir, ec);
  const std::string dir = fs::absolute(args.dir).string();
  const std::string db_path = dir + "/bench.db";
  const std::string copy_path = dir + "/cp-copy.db";
  const std::string snaps = dir + "/snaps";

  fmt::print("building a {} MiB database in {} ...\n", args.size_mib, dir);
  const auto build_start = Clock::now();
  BuildDatabase(db_path, args.size_mib);
  const auto db_bytes = static_cast<double>(fs::file_size(db_path));
  fmt::print("built {:.0f} MiB in {:.1f} s\n", db_bytes / (1 << 20), Seconds(Clock::now() - build_start));

  auto opened = sqlsteward::Database::Open(db_path);
  if (!opened.has_value()) Die(opened.error().ToString());
  std::unique_ptr<sqlsteward::Database> db = std::move(opened).value();
  AppWriter app(db.get());
  const auto alone_start = Clock::now();
  std::this_thread::sleep_for(args.smoke ? std::chrono::milliseconds(300) : std::chrono::seconds(3));
  const AppWriter::Window alone = app.Between(alone_start, Clock::now());

  std::vector<double> cp_total, cp_only, snap_total, snap_copy, rep_ratio;
  std::vector<double> snap_p99, cp_p99;
  std::vector<double> backup_total, backup_copy, backup_p99, speedup;
  double backup_stall_max = 0;
  std::string copy_method;
  std::map<std::string, std::vector<double>> phase_seconds;
  std::vector<json> reps;
  double stall_max = 0;
  double cp_stall_max = 0;
  int failures = 0;
  const auto settle = args.smoke ? std::chrono::milliseconds(50) : std::chrono::milliseconds(1000);
  for (int rep = 0; rep < args.reps; ++rep) {
    // Each run starts on a settled disk, and its stall window holds only
    // commits that started while it ran.
    std::this_thread::sleep_for(settle);
    // A: cp + fsync.
    fs::remove(copy_path);
    const auto a0 = Clock::now();
    if (RunProcess({"/bin/cp", "--reflink=never", db_path, copy_path}) != 0) Die("cp failed");
    const auto a1 = Clock::now();
    FsyncPath(copy_path);
    const auto a2 = Clock::now();
    const AppWriter::Window during_cp = app.Between(a0, a2);
    fs::remove(copy_path);
    cp_only.push_back(Seconds(a1 - a0));
    cp_total.push_back(Seconds(a2 - a0));
    cp_stall_max = std::max(cp_stall_max, during_cp.max_ms);

    std::this_thread::sleep_for(settle);
    // B: sqlsteward snapshot.
    sqlsteward::SnapshotOptions options;
    options.integrity = *integrity;
    options.copy_method = args.copy == "file"     ? sqlsteward::SnapshotCopyMethod::kFileCopy
                          : args.copy == "backup" ? sqlsteward::SnapshotCopyMethod::kBackupApi
                                                  : sqlsteward::SnapshotCopyMethod::kAuto;
    std::map<std::string, double> phases;
    std::map<std::string, double> phase_ends;  // Seconds after the start.
    std::mutex phases_mu;
    const auto b0 = Clock::now();
    options.progress = [&](const sqlsteward::SnapshotProgress& p) {
      if (!p.finished) return;
      std::lock_guard lock(phases_mu);
      const std::string name(sqlsteward::SnapshotPhaseName(p.phase));
      phases[name] = std::chrono::duration<double>(p.elapsed).count();
      phase_ends[name] = Seconds(Clock::now() - b0);
    };
    auto snap = sqlsteward::Snapshot(*db, snaps, options);
    const auto b1 = Clock::now();
    const AppWriter::Window during_snap = app.Between(b0, b1);
    if (!snap.has_value()) {
      fmt::print(stderr, "snapshot failed: {}\n", snap.error().ToString());
      ++failures;
      continue;
    }
    if (args.smoke) {
      auto verified = sqlsteward::VerifySnapshot(snap->path);
      if (!verified.has_value()) {
        fmt::print(stderr, "snapshot does not verify: {}\n", verified.error().ToString());
        ++failures;
      }
    }
    fs::remove(snap->path);
    fs::remove(snap->manifest_path);
    snap_total.push_back(Seconds(b1 - b0));
    snap_copy.push_back(Seconds(snap->copy_time));
    for (const auto& [name, s] : phases) phase_seconds[name].push_back(s);
    stall_max = std::max(stall_max, during_snap.max_ms);
    rep_ratio.push_back(cp_total.back() / snap_total.back());
    snap_p99.push_back(during_snap.p99_ms);
    cp_p99.push_back(during_cp.p99_ms);
    copy_method = snap->copy_method == sqlsteward::SnapshotCopyMethod::kFileCopy ? "file copy"
                                                                                : "backup API";
    if (!snap->fallback_reason.empty()) copy_method += " (fell back: " + snap->fallback_reason + ")";
    reps.push_back({{"cp_seconds", cp_only.back()},
                    {"ratio", rep_ratio.back()},
                    {"copy_method", copy_method},
                    {"cp_fsync_seconds", cp_total.back()},
                    {"snapshot_seconds", snap_total.back()},
                    {"snapshot_phases_seconds", phases},
                    {"snapshot_phase_ends_seconds", phase_ends},
                    {"snapshot_bytes", snap->manifest.size_bytes},
                    {"app_during_cp", WindowJson(during_cp)},
                    {"app_during_snapshot", WindowJson(during_snap)}});
    fmt::print("rep {}: cp {:.2f} s, cp+fsync {:.2f} s, snapshot {:.2f} s (copy {:.2f} s, {}); "
               "ratio {:.2f}; app commit max {:.1f} ms / p99 {:.2f} ms during snapshot (max at "
               "{:.2f} s), max {:.1f} ms / p99 {:.2f} ms during cp\n",
               rep + 1, cp_only.back(), cp_total.back(), snap_total.back(), snap_copy.back(),
               copy_method, rep_ratio.back(), during_snap.max_ms, during_snap.p99_ms,
               during_snap.max_at_s, during_cp.max_ms, during_cp.p99_ms);
    if (args.compare_backup) {
      // C: the same snapshot through the backup API, on the same source.
      std::this_thread::sleep_for(settle);
      sqlsteward::SnapshotOptions backup_options;
      backup_options.integrity = *integrity;
      backup_options.copy_method = sqlsteward::SnapshotCopyMethod::kBackupApi;
      const auto c0 = Clock::now();
      auto backup = sqlsteward::Snapshot(*db, snaps, backup_options);
      const auto c1 = Clock::now();
      const AppWriter::Window during_backup = app.Between(c0, c1);
      if (!backup.has_value()) {
        fmt::print(stderr, "backup-API snapshot failed: {}\n", backup.error().ToString());
        ++failures;
        continue;
      }
      fs::remove(backup->path);
      fs::remove(backup->manifest_path);
      backup_total.push_back(Seconds(c1 - c0));
      backup_copy.push_back(Seconds(backup->copy_time));
      backup_p99.push_back(during_backup.p99_ms);
      backup_stall_max = std::max(backup_stall_max, during_backup.max_ms);
      speedup.push_back(backup_total.back() / snap_total.back());
      reps.back()["backup_api_seconds"] = backup_total.back();
      reps.back()["backup_api_copy_seconds"] = backup_copy.back();
      reps.back()["app_during_backup_api"] = WindowJson(during_backup);
      fmt::print("       backup API snapshot {:.2f} s (copy {:.2f} s), ratio {:.2f}; app commit max "
                 "{:.1f} ms / p99 {:.2f} ms; default copy {:.2f}x faster\n",
                 backup_total.back(), backup_copy.back(), cp_total.back() / backup_total.back(),
                 during_backup.max_ms, during_backup.p99_ms, speedup.back());
    }
  }
  app.Stop();
  const AppWriter::Window all = app.Between(alone_start, Clock::now());
  sqlsteward::Status closed = db->Close();
  if (!closed.ok()) Die(closed.ToString());

  const double mib = db_bytes / (1 << 20);
  const double ratio = Median(snap_total) > 0 ? Median(cp_total) / Median(snap_total) : 0;
  const double ratio_cp_only = Median(snap_total) > 0 ? Median(cp_only) / Median(snap_total) : 0;
  fmt::print("\nsnapshot of {:.0f} MiB, medians of {} reps (same disk, source in page cache)\n",
             mib, snap_total.size());
  fmt::print("  {:<34} {:>9} {:>11}\n", "", "seconds", "MiB/s");
  auto row = [&](const std::string& name, const std::vector<double>& v) {
    const double m = Median(v);
    fmt::print("  {:<34} {:>9.2f} {:>11.0f}   (min {:.2f}, max {:.2f})\n", name, m,
               m > 0 ? mib / m : 0, v.empty() ? 0 : *std::min_element(v.begin(), v.end()),
               v.empty() ? 0 : *std::max_element(v.begin(), v.end()));
  };
  row("cp --reflink=never", cp_only);
  row("cp --reflink=never + fsync", cp_total);
  row("sqlsteward snapshot (" + args.integrity + "_check)", snap_total);
  for (const auto& [name, v] : phase_seconds) row("  phase " + name, v);
  fmt::print("  ratio (cp+fsync time / snapshot time): {:.2f}   goal >= 0.5  {}\n", ratio,
             ratio >= 0.5 ? "met" : "MISSED");
  fmt::print("  ratio (cp time / snapshot time):       {:.2f}\n", ratio_cp_only);
  if (!rep_ratio.empty()) {
    fmt::print("  per-rep ratio (cp+fsync / snapshot):   median {:.2f}, min {:.2f}, max {:.2f}\n",
               Median(rep_ratio), *std::min_element(rep_ratio.begin(), rep_ratio.end()),
               *std::max_element(rep_ratio.begin(), rep_ratio.end()));
  }
  fmt::print("  copy method: {}\n", copy_method);
  if (!backup_total.empty()) {
    row("snapshot through the backup API", backup_total);
    row("  its copy phase", backup_copy);
    fmt::print("  ratio (cp+fsync time / backup-API snapshot time): {:.2f}\n",
               Median(cp_total) / Median(backup_total));
    fmt::print("  speed-up of the default copy over the backup API, per rep: median {:.2f}x, min "
               "{:.2f}x, max {:.2f}x\n",
               Median(speedup), *std::min_element(speedup.begin(), speedup.end()),
               *std::max_element(speedup.begin(), speedup.end()));
    fmt::print("  app commit during backup-API snapshot: longest {:.1f} ms, p99 median {:.2f} ms\n",
               backup_stall_max, Median(backup_p99));
  }
  fmt::print("  app commit p99 during snapshot: median {:.2f} ms (max {:.2f});  during cp: median "
             "{:.2f} ms (max {:.2f})\n",
             Median(snap_p99),
             snap_p99.empty() ? 0 : *std::max_element(snap_p99.begin(), snap_p99.end()),
             Median(cp_p99), cp_p99.empty() ? 0 : *std::max_element(cp_p99.begin(), cp_p99.end()));
  fmt::print("  app commit latency alone:   p50 {:.2f} ms  p99 {:.2f} ms  max {:.1f} ms\n",
             alone.p50_ms, alone.p99_ms, alone.max_ms);
  fmt::print("  longest app commit during cp:       {:.1f} ms\n", cp_stall_max);
  fmt::print("  longest app commit during snapshot: {:.1f} ms   goal <= 20 ms  {}\n", stall_max,
             stall_max <= 20 ? "met" : "MISSED");
  fmt::print("  app commits: {} in all, {} errors\n", all.commits, all.errors);

  json out = {{"benchmark", "snapshot"},
              {"database_mib", mib},
              {"reps", args.reps},
              {"integrity", args.integrity},
              {"directory", dir},
              {"cp_seconds", Spread(cp_only)},
              {"cp_fsync_seconds", Spread(cp_total)},
              {"snapshot_seconds", Spread(snap_total)},
              {"snapshot_copy_seconds", Spread(snap_copy)},
              {"ratio", ratio},
              {"ratio_cp_only", ratio_cp_only},
              {"ratio_per_rep", Spread(rep_ratio)},
              {"copy", args.copy},
              {"copy_method", copy_method},
              {"stall_p99_ms_per_rep", Spread(snap_p99)},
              {"backup_api_seconds", Spread(backup_total)},
              {"backup_api_copy_seconds", Spread(backup_copy)},
              {"speedup_over_backup_api", Spread(speedup)},
              {"backup_api_stall_max_ms", backup_stall_max},
              {"backup_api_stall_p99_ms_per_rep", Spread(backup_p99)},
              {"cp_stall_p99_ms_per_rep", Spread(cp_p99)},
              {"ratio_goal", 0.5},
              {"stall_max_ms", stall_max},
              {"stall_goal_ms", 20},
              {"cp_stall_max_ms", cp_stall_max},
              {"app_alone", WindowJson(alone)},
              {"app_errors", all.errors},
              {"failures", failures},
              {"repetitions", reps}};
  if (!args.json_path.empty()) {
    std::ofstream(args.json_path) << out.dump(2) << "\n";
    auto back = json::parse(std::ifstream(args.json_path), nullptr, false);
    if (back.is_discarded()) Die("wrote unparsable JSON to " + args.json_path);
  }
  if (!args.keep_data) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal", "-steward"}) {
      fs::remove(db_path + suffix, ec);
    }
    fs::remove_all(snaps, ec);
  }
  if (failures > 0 || all.errors > 0 || snap_total.empty()) return 2;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app("Snapshot throughput against cp, and the longest writer stall during a snapshot.",
               "sqlsteward_snapshot_bench");
  app.add_option("--dir", args.dir, "Directory for the database and copies (same disk for both)");
  app.add_option("--size-mib", args.size_mib, "Database size (default 1024)")
      ->check(CLI::PositiveNumber);
  app.add_option("--reps", args.reps, "Repetitions (default 3)")->check(CLI::PositiveNumber);
  app.add_option("--integrity", args.integrity, "Snapshot check: quick (default), full, none")
      ->check(CLI::IsMember({"quick", "full", "none"}));
  app.add_option("--copy", args.copy,
                 "Snapshot copy method: auto (default; the file copy in WAL), file, backup")
      ->check(CLI::IsMember({"auto", "file", "backup"}));
  app.add_flag("--compare-backup", args.compare_backup,
               "Also run a backup-API snapshot in every repetition (C, after B), for the "
               "speed-up of the default copy over it in the same run");
  app.add_option("--json", args.json_path, "Write the figures as JSON to this file");
  app.add_flag("--smoke", args.smoke, "CI: 16 MiB, one repetition; checks the harness only");
  app.add_flag("--keep-data", args.keep_data, "Leave the database in --dir afterwards");
  CLI11_PARSE(app, argc, argv);
  if (args.smoke) {
    args.size_mib = 16;
    args.reps = 1;
  }
  return Run(args);
}
