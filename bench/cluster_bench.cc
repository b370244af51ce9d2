// sqlsteward_cluster_bench: sqlsteward on a 3-node dqlite cluster on
// loopback, against what it should be compared with, in one run.
//
// (a) Durable 1-row writes from T threads (default 16), closed loop, three
//     sides interleaved per repetition (A B C A B C ...), fresh database
//     each time:
//       naive   - T threads, each its own cluster::Client connected to the
//                 leader, one INSERT per transaction (autocommit: one Raft
//                 round per write);
//       cluster - one Database on dqlite://..., T threads calling Write():
//                 group commit, one Raft round per batch;
//       local   - one Database on a local file in --dir, T threads calling
//                 Write() (WAL, synchronous=FULL).
//     Throughput and latency p50/p99/max per side: medians over the
//     repetitions with min..max; ratios cluster/naive and local/cluster.
// (b) Failover: the same T writers on the cluster handle, each write a
//     unique key; K times (default 20) the leader is killed with SIGKILL.
//     failover = first acknowledgement of a write that began after the
//     kill, minus the kill; p50 and max over the kills. The killed node is
//     restarted with its data, and before the next kill the cluster is
//     back to full health: the third node is stopped (SIGSTOP) until writes
//     go on, which they do only once the restarted node has caught up (a
//     lagging node would otherwise slow the next election's barrier). At the
//     end every acknowledged key is looked up: lost = acknowledged and
//     absent (goal 0).
// Nodes run with a 20 ms network latency setting (Raft heartbeat and
// election timeouts derive from it).
//
// Nodes are this binary re-executed with the hidden --node option; they
// speak the line protocol of tests/support/child_process.h ("ready").
// Exit status: 0 when every run completed (goals met or not) and no
// acknowledged write was lost; 2 otherwise; 1 on bad arguments.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cluster/client.h"
#include "cluster/node.h"
#include "sqlsteward/sqlsteward.h"
#include "support/child_process.h"
#include "support/line_protocol.h"

namespace sqlsteward::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Stats {
  double median = 0, min = 0, max = 0;
};
Stats StatsOf(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = v[v.size() / 2];
  s.min = v.front();
  s.max = v.back();
  return s;
}
double Quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  return v[i];
}

int RunNode(const std::vector<std::string>& args) {
  cluster::NodeOptions options;
  options.id = std::stoull(args.at(0));
  options.address = args.at(1);
  options.data_dir = args.at(2);
  if (args.size() > 3) options.join.push_back(args[3]);
  auto node = cluster::Node::Start(options);
  if (!node.has_value()) {
    subprocess::SayLine(subprocess::ErrorLine(StatusCodeName(node.error().code()),
                                              node.error().ToString()));
    return 2;
  }
  subprocess::SayOrExit("ready");
  subprocess::WaitForStdinEof();
  (*node)->Stop().IgnoreError();
  return 0;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

class Nodes {
 public:
  Nodes(std::string self, std::string dir, int n) : self_(std::move(self)), dir_(std::move(dir)) {
    for (int i = 0; i < n; ++i) addresses_.push_back("127.0.0.1:" + std::to_string(FreePort()));
    children_.resize(static_cast<std::size_t>(n));
  }
  bool StartAll() {
    for (int i = 0; i < static_cast<int>(addresses_.size()); ++i) {
      if (!Start(i)) return false;
    }
    return true;
  }
  bool Start(int i) {
    const std::string data = dir_ + "/node" + std::to_string(i + 1);
    std::filesystem::create_directories(data);
    std::vector<std::string> args = {"--node", std::to_string(i + 1), addresses_[Idx(i)], data};
    if (i > 0) args.push_back(addresses_[0]);
    auto& child = children_[Idx(i)];
    child = std::make_unique<subprocess::ChildProcess>();
    if (child->Start(self_, args) != 0) return false;
    std::string line;
    if (child->ReadLine(Clock::now() + std::chrono::seconds(60), &line) !=
            subprocess::ChildProcess::ReadStatus::kLine ||
        line != "ready") {
      fmt::print(stderr, "node {} did not start: {}\n", i + 1, line);
      return false;
    }
    return true;
  }
  void Kill(int i) {
    children_[Idx(i)]->Signal(SIGKILL);
    children_[Idx(i)]->Wait();
  }
  void Stop(int i) { children_[Idx(i)]->Signal(SIGSTOP); }
  void Continue(int i) { children_[Idx(i)]->Signal(SIGCONT); }
  int Leader() const {
    auto client = cluster::Client::ConnectToLeader(addresses_, Clock::now() + std::chrono::seconds(30));
    if (!client.has_value()) return -1;
    for (std::size_t i = 0; i < addresses_.size(); ++i) {
      if (addresses_[i] == (*client)->address()) return static_cast<int>(i);
    }
    return -1;
  }
  std::string Uri(const std::string& name) const {
    std::string uri = "dqlite://";
    for (std::size_t i = 0; i < addresses_.size(); ++i) uri += (i ? "," : "") + addresses_[i];
    return uri + "/" + name;
  }
  const std::vector<std::string>& addresses() const { return addresses_; }

 private:
  static std::size_t Idx(int i) { return static_cast<std::size_t>(i); }
  std::string self_, dir_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<subprocess::ChildProcess>> children_;
};

struct Run {
  double per_s = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  std::map<std::string, std::uint64_t> errors;
  double jobs_per_batch = 0;
};

// T threads, closed loop, for `seconds`; `write(thread, i)` does one write.
template <typename WriteOne>
Run ClosedLoop(int threads, double seconds, WriteOne write) {
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
  std::vector<std::map<std::string, std::uint64_t>> errs(static_cast<std::size_t>(threads));
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& my = lat[static_cast<std::size_t>(t)];
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const auto a = Clock::now();
        Status st = write(t, i);
        const auto b = Clock::now();
        if (st.ok()) {
          my.push_back(std::chrono::duration<double, std::micro>(b - a).count());
        } else {
          errs[static_cast<std::size_t>(t)][std::string(StatusCodeName(st.code()))]++;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  const double elapsed = Seconds(Clock::now() - start);
  std::vector<double> all;
  Run run;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  for (auto& e : errs) {
    for (auto& [k, n] : e) run.errors[k] += n;
  }
  run.per_s = static_cast<double>(all.size()) / elapsed;
  run.p50_us = Quantile(all, 0.5);
  run.p99_us = Quantile(all, 0.99);
  run.max_us = all.empty() ? 0 : all.back();
  return run;
}

Status CreateTable(Database& db) {
  return db.Write([](Transaction& tx) {
    return tx.ExecScript("CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v INTEGER)");
  });
}

Run RunSteward(const std::string& path, int threads, double seconds) {
  auto db = Database::Open(path);
  if (!db.has_value() || !CreateTable(**db).ok()) {
    fmt::print(stderr, "open {}: {}\n", path, db.has_value() ? "create failed" : db.error().ToString());
    return {};
  }
  const auto before = (*db)->Metrics();
  Run run = ClosedLoop(threads, seconds, [&](int t, long i) {
    const std::string key = std::to_string(t) + "-" + std::to_string(i);
    return (*db)->Write([&](Transaction& tx) { return tx.Exec("INSERT INTO t VALUES(?, ?)", key, i); });
  });
  const auto after = (*db)->Metrics();
  const auto batches = after.write_batches - before.write_batches;
  if (batches > 0) {
    run.jobs_per_batch = static_cast<double>(after.write_jobs - before.write_jobs) /
                         static_cast<double>(batches);
  }
  return run;
}

Run RunNaive(const Nodes& nodes, const std::string& name, int threads, double seconds) {
  std::vector<std::unique_ptr<cluster::Client>> clients;
  for (int t = 0; t < threads; ++t) {
    auto c = cluster::Client::ConnectToLeader(nodes.addresses(), Clock::now() + std::chrono::seconds(30));
    if (!c.has_value() || !(*c)->Open(name).ok()) {
      fmt::print(stderr, "naive client: {}\n", c.has_value() ? "open failed" : c.error().ToString());
      return {};
    }
    clients.push_back(std::move(c).value());
  }
  if (!clients[0]->ExecSql("CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v INTEGER)").ok()) {
    return {};
  }
  return ClosedLoop(threads, seconds, [&](int t, long i) -> Status {
    const cluster::Value params[] = {std::to_string(t) + "-" + std::to_string(i),
                                     static_cast<std::int64_t>(i)};
    return clients[static_cast<std::size_t>(t)]->ExecSql("INSERT INTO t VALUES(?, ?)", params).status();
  });
}

struct Failover {
  std::vector<double> seconds;
  std::uint64_t acked = 0, lost = 0, not_applied_present = 0;
  std::map<std::string, std::uint64_t> errors;
  bool ok = true;
};

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

Failover RunFailover(Nodes& nodes, int threads, int kills) {
  Failover f;
  auto opened = Database::Open(nodes.Uri("failover"));
  if (!opened.has_value() || !CreateTable(**opened).ok()) {
    f.ok = false;
    return f;
  }
  std::unique_ptr<Database> db = std::move(opened).value();
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> kill_ns{INT64_MAX};
  std::atomic<std::int64_t> first_ack_ns{0};
  std::atomic<std::uint64_t> acks{0};
  std::mutex mu;
  std::vector<std::string> acked, not_applied;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (long i = 0; !stop.load(); ++i) {
        const std::string key = std::to_string(t) + "-" + std::to_string(i);
        const std::int64_t began = NowNs();
        Status st = db->Write([&](Transaction& tx) { return tx.Exec("INSERT INTO t VALUES(?, ?)", key, i); });
        const std::int64_t done = NowNs();
        std::lock_guard<std::mutex> lock(mu);
        if (st.ok()) {
          acked.push_back(key);
          acks++;
          std::int64_t zero = 0;
          if (began > kill_ns.load()) first_ack_ns.compare_exchange_strong(zero, done);
        } else {
          f.errors[std::string(StatusCodeName(st.code()))]++;
          if (st.code() == StatusCode::kUnavailable) not_applied.push_back(key);
        }
      }
    });
  }
  auto wait_acks = [&](std::uint64_t more) {
    const auto target = acks.load() + more;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (acks.load() < target && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return acks.load() >= target;
  };
  f.ok = wait_acks(50);
  for (int k = 0; k < kills && f.ok; ++k) {
    const int leader = nodes.Leader();
    if (leader < 0) {
      f.ok = false;
      break;
    }
    first_ack_ns = 0;
    const std::int64_t at = NowNs();
    kill_ns = at;
    nodes.Kill(leader);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (first_ack_ns.load() == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (first_ack_ns.load() == 0) {
      f.ok = false;
      break;
    }
    f.seconds.push_back(static_cast<double>(first_ack_ns.load() - at) / 1e9);
    kill_ns = INT64_MAX;
    f.ok = nodes.Start(leader) && wait_acks(20);
    // Back to full health before the next kill: with the third node
    // stopped, writes need the restarted one, so they resume only once it
    // has caught up.
    const int now_leader = nodes.Leader();
    if (f.ok && now_leader >= 0 && now_leader != leader) {
      const int third = 3 - leader - now_leader;
      nodes.Stop(third);
      f.ok = wait_acks(20);
      nodes.Continue(third);
      f.ok = f.ok && wait_acks(20);
    }
  }
  stop = true;
  for (auto& th : pool) th.join();
  std::set<std::string> present;
  Status read = db->Read([&](ReadTransaction& tx) -> Status {
    auto s = tx.Prepare("SELECT k FROM t");
    if (!s.has_value()) return s.error();
    while (true) {
      auto row = s->Step();
      if (!row.has_value()) return row.error();
      if (!*row) return Status();
      present.insert(std::string(s->ColumnText(0)));
    }
  });
  if (!read.ok()) f.ok = false;
  f.acked = acked.size();
  for (const auto& k : acked) f.lost += present.count(k) != 0 ? 0U : 1U;
  for (const auto& k : not_applied) f.not_applied_present += present.count(k);
  return f;
}

json RunJson(const Run& r) {
  return {{"writes_per_s", r.per_s}, {"p50_us", r.p50_us}, {"p99_us", r.p99_us},
          {"max_us", r.max_us},      {"errors", r.errors}, {"jobs_per_batch", r.jobs_per_batch}};
}

}  // namespace
}  // namespace sqlsteward::bench

int main(int argc, char** argv) {
  using namespace sqlsteward::bench;
  if (argc > 1 && std::string(argv[1]) == "--node") {
    return RunNode(std::vector<std::string>(argv + 2, argv + argc));
  }
  CLI::App app{"sqlsteward on a 3-node dqlite cluster: naive client vs group commit vs local file"};
  int reps = 3, threads = 16, kills = 20;
  double seconds = 3.0;
  bool smoke = false;
  std::string json_path, dir = "cluster-bench-data";
  app.add_option("--reps", reps, "Repetitions of each side (median, min..max)");
  app.add_option("--seconds", seconds, "Length of each run");
  app.add_option("--threads", threads, "Writer threads");
  app.add_option("--kills", kills, "Leader kills for the failover measurement");
  app.add_option("--json", json_path, "Write the figures as JSON here");
  app.add_option("--dir", dir, "Directory for node data and the local database");
  app.add_flag("--smoke", smoke, "A short run that checks the harness, not speed");
  CLI11_PARSE(app, argc, argv);
  if (smoke) {
    reps = 1;
    seconds = 0.5;
    kills = 2;
    threads = 4;
  }
  sqlsteward::cluster::IgnoreSigpipe();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Nodes nodes(std::filesystem::canonical("/proc/self/exe").string(), dir, 3);
  if (!nodes.StartAll()) return 2;

  std::vector<Run> naive, cluster, local;
  for (int r = 0; r < reps; ++r) {
    naive.push_back(RunNaive(nodes, "naive" + std::to_string(r), threads, seconds));
    cluster.push_back(RunSteward(nodes.Uri("steward" + std::to_string(r)), threads, seconds));
    local.push_back(RunSteward(dir + "/local" + std::to_string(r) + ".db", threads, seconds));
    fmt::print(stderr, "rep {}: naive {:.0f}/s, cluster {:.0f}/s, local {:.0f}/s\n", r + 1,
               naive.back().per_s, cluster.back().per_s, local.back().per_s);
  }
  auto rates = [](const std::vector<Run>& v) {
    std::vector<double> out;
    for (const auto& r : v) out.push_back(r.per_s);
    return out;
  };
  std::vector<double> cluster_vs_naive, local_vs_cluster;
  for (int r = 0; r < reps; ++r) {
    const auto i = static_cast<std::size_t>(r);
    cluster_vs_naive.push_back(naive[i].per_s > 0 ? cluster[i].per_s / naive[i].per_s : 0);
    local_vs_cluster.push_back(cluster[i].per_s > 0 ? local[i].per_s / cluster[i].per_s : 0);
  }
  const Stats sn = StatsOf(rates(naive)), sc = StatsOf(rates(cluster)), sl = StatsOf(rates(local));
  const Stats r1 = StatsOf(cluster_vs_naive), r2 = StatsOf(local_vs_cluster);
  fmt::print("\n{} writers, 1-row durable transactions, {} reps x {:.1f} s, 3 nodes on loopback\n",
             threads, reps, seconds);
  fmt::print("  {:<34} {:>10} {:>20} {:>10} {:>10}\n", "side", "writes/s", "(min..max)", "p50 ms",
             "max ms");
  auto row = [&](const char* name, const Stats& s, const std::vector<Run>& v) {
    std::vector<double> p50, mx;
    for (const auto& r : v) {
      p50.push_back(r.p50_us);
      mx.push_back(r.max_us);
    }
    fmt::print("  {:<34} {:>10.0f} {:>9.0f}..{:<10.0f} {:>10.2f} {:>10.1f}\n", name, s.median, s.min,
               s.max, StatsOf(p50).median / 1000, StatsOf(mx).median / 1000);
  };
  row("naive dqlite client (1 txn/write)", sn, naive);
  row("sqlsteward on the cluster", sc, cluster);
  row("sqlsteward on a local file", sl, local);
  fmt::print("  ratio cluster / naive : {:.1f}x ({:.1f}..{:.1f})  goal >= 10x\n", r1.median, r1.min,
             r1.max);
  fmt::print("  ratio local / cluster : {:.1f}x ({:.1f}..{:.1f})\n", r2.median, r2.min, r2.max);

  Failover f = RunFailover(nodes, threads, kills);
  const Stats fs = StatsOf(f.seconds);
  fmt::print("\nfailover (leader SIGKILL -> first acknowledged write begun after it), {} kills, "
             "latency setting 20 ms\n",
             f.seconds.size());
  fmt::print("  p50 {:.3f} s, max {:.3f} s  goal <= 1 s\n", fs.median, fs.max);
  fmt::print("  acknowledged {}, lost {} (goal 0), reported not applied but present {}\n", f.acked,
             f.lost, f.not_applied_present);
  for (const auto& [code, n] : f.errors) fmt::print("  write errors during kills: {} {}\n", code, n);

  if (!json_path.empty()) {
    json runs = json::array();
    for (int r = 0; r < reps; ++r) {
      const auto i = static_cast<std::size_t>(r);
      runs.push_back({{"naive", RunJson(naive[i])},
                      {"cluster", RunJson(cluster[i])},
                      {"local", RunJson(local[i])}});
    }
    json doc = {
        {"threads", threads},
        {"reps", reps},
        {"seconds", seconds},
        {"runs", runs},
        {"writes_per_s",
         {{"naive", sn.median}, {"cluster", sc.median}, {"local", sl.median}}},
        {"ratio", {{"cluster_vs_naive", {{"median", r1.median}, {"min", r1.min}, {"max", r1.max}}},
                   {"local_vs_cluster", {{"median", r2.median}, {"min", r2.min}, {"max", r2.max}}}}},
        {"failover",
         {{"kills", f.seconds.size()},
          {"seconds", f.seconds},
          {"p50_s", fs.median},
          {"max_s", fs.max},
          {"acknowledged", f.acked},
          {"lost", f.lost},
          {"not_applied_but_present", f.not_applied_present},
          {"errors", f.errors}}}};
    std::ofstream(json_path) << doc.dump(2) << "\n";
  }
  const bool complete = f.ok && static_cast<int>(f.seconds.size()) == kills && sn.median > 0 &&
                        sc.median > 0 && sl.median > 0;
  return complete && f.lost == 0 && f.not_applied_present == 0 ? 0 : 2;
}
