// order_load: the deploy demo's clients. Sends POST /orders through the
// proxy from several concurrent clients until SIGTERM (or --max-seconds),
// and records every acknowledged order so the demo can count them against
// the database afterwards.
//
// Two kinds of client run at once:
// - open loop: --open-clients threads share a fixed schedule of --rate
//   requests per second; a late request is sent at once and its latency
//   counts from its scheduled time, so a stall shows in the figures instead
//   of silently lowering the rate (coordinated omission);
// - closed loop: --closed-clients threads each send, wait for the answer,
//   think --think-ms, and send the next.
//
// Every order carries a fresh Idempotency-Key. A failed attempt (transport
// error or 5xx: a client-visible error, recorded) is retried with the same
// key after a short backoff until --retry-ms has passed, as a client that
// holds an idempotency key may do safely; 4xx is never retried.
//
// Output, in --out (files 0600):
//   acks.tsv    key id served_by start_us end_us attempts kind replayed
//   errors.tsv  key start_us end_us http_status served_by final detail
// Times are CLOCK_REALTIME microseconds (the deploy script's and nginx's
// clock); durations come from the monotonic clock. stdout: "ready" once the
// first order is acknowledged, then one summary line at exit.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace orders {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string url;
  std::string out;
  double rate = 200;
  int open_clients = 4;
  int closed_clients = 4;
  int think_ms = 5;
  int retry_ms = 30'000;
  int max_seconds = 600;
};

struct Ack {
  std::string key;
  std::int64_t id = 0;
  std::string served_by;
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
  int attempts = 0;
  char kind = 'o';
  bool replayed = false;
};

struct Failure {
  std::string key;
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
  int http_status = 0;  // 0: no HTTP response (transport error).
  std::string served_by;
  bool final = false;  // The order was given up on.
  std::string detail;
};

// Realtime microseconds of a steady-clock instant: one offset taken at start,
// so that timestamps agree with the deploy script's and nginx's clock and
// still never go backwards.
class Timeline {
 public:
  Timeline()
      : steady0_(Clock::now()),
        real0_us_(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()) {}
  std::int64_t Us(Clock::time_point t) const {
    return real0_us_ +
           std::chrono::duration_cast<std::chrono::microseconds>(t - steady0_).count();
  }
  Clock::time_point start() const { return steady0_; }

 private:
  Clock::time_point steady0_;
  std::int64_t real0_us_;
};

class LoadGenerator {
 public:
  LoadGenerator(Args args, std::string run_id) : args_(std::move(args)), run_id_(std::move(run_id)) {}

  void Run(const std::atomic<bool>& stop) {
    std::vector<std::thread> threads;
    const int total = args_.open_clients + args_.closed_clients;
    acks_.resize(static_cast<std::size_t>(total));
    failures_.resize(static_cast<std::size_t>(total));
    for (int c = 0; c < total; ++c) {
      threads.emplace_back([this, c, &stop] {
        if (c < args_.open_clients) {
          OpenLoop(c, stop);
        } else {
          ClosedLoop(c, stop);
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }

  // Writes acks.tsv and errors.tsv; false (with a message) on failure.
  bool Write(std::string* error) const {
    std::ofstream acks(args_.out + "/acks.tsv");
    for (const auto& list : acks_) {
      for (const Ack& a : list) {
        acks << a.key << '\t' << a.id << '\t' << a.served_by << '\t' << a.start_us << '\t'
             << a.end_us << '\t' << a.attempts << '\t' << a.kind << '\t' << (a.replayed ? 1 : 0)
             << '\n';
      }
    }
    std::ofstream errors(args_.out + "/errors.tsv");
    for (const auto& list : failures_) {
      for (const Failure& f : list) {
        errors << f.key << '\t' << f.start_us << '\t' << f.end_us << '\t' << f.http_status << '\t'
               << (f.served_by.empty() ? "-" : f.served_by) << '\t' << (f.final ? 1 : 0) << '\t'
               << f.detail << '\n';
      }
    }
    acks.close();
    errors.close();
    if (!acks || !errors) {
      *error = "cannot write acks.tsv or errors.tsv in " + args_.out;
      return false;
    }
    return true;
  }

  std::size_t CountAcks() const { return Count(acks_); }
  std::size_t CountFailures() const { return Count(failures_); }

 private:
  template <typename T>
  static std::size_t Count(const std::vector<std::vector<T>>& lists) {
    std::size_t n = 0;
    for (const auto& l : lists) n += l.size();
    return n;
  }

  void OpenLoop(int client, const std::atomic<bool>& stop) {
    const auto interval = std::chrono::duration<double>(1.0 / args_.rate);
    for (std::int64_t slot = client; !stop.load(); slot += args_.open_clients) {
      const auto due = timeline_.start() + std::chrono::duration_cast<Clock::duration>(
                                               interval * static_cast<double>(slot));
      // Pacing, not ordering: the schedule is the open loop.
      std::this_thread::sleep_until(due);
      if (stop.load()) break;
      Order(client, slot, 'o', due);
    }
  }

  void ClosedLoop(int client, const std::atomic<bool>& stop) {
    for (std::int64_t seq = 0; !stop.load(); ++seq) {
      Order(client, seq, 'c', Clock::now());
      std::this_thread::sleep_for(std::chrono::milliseconds(args_.think_ms));
    }
  }

  // One order, retried with its key until acknowledged or --retry-ms passed.
  void Order(int client, std::int64_t seq, char kind, Clock::time_point start) {
    const auto c = static_cast<std::size_t>(client);
    const std::string key = run_id_ + "-" + kind + std::to_string(client) + "-" + std::to_string(seq);
    const nlohmann::json body = {{"item", "widget-" + std::to_string(seq % 10)},
                                 {"quantity", 1 + seq % 5}};
    httplib::Client http(args_.url);
    http.set_keep_alive(false);  // See docs/deploying.md: stale keep-alive races are the client's.
    http.set_connection_timeout(std::chrono::seconds(2));
    http.set_read_timeout(std::chrono::seconds(30));
    const auto give_up = start + std::chrono::milliseconds(args_.retry_ms);
    auto backoff = std::chrono::milliseconds(10);
    for (int attempt = 1;; ++attempt) {
      const auto sent = Clock::now();
      auto res = http.Post("/orders", {{"Idempotency-Key", key}}, body.dump(), "application/json");
      const auto now = Clock::now();
      const int status = res ? res->status : 0;
      const std::string served_by = res ? res->get_header_value("X-Served-By") : "";
      if (status == 200 || status == 201) {
        auto reply = nlohmann::json::parse(res->body, nullptr, false);
        if (!reply.is_discarded() && reply.contains("id") && reply["id"].is_number_integer()) {
          acks_[c].push_back({key, reply["id"].get<std::int64_t>(), served_by, timeline_.Us(start),
                              timeline_.Us(now), attempt, kind, reply.value("replayed", false)});
          if (!ready_.exchange(true)) {
            std::printf("ready\n");
            std::fflush(stdout);
          }
          return;
        }
      }
      const bool retryable = status == 0 || status >= 500;
      const bool final = !retryable || now + backoff > give_up;
      std::string detail = res ? res->body.substr(0, 160) : httplib::to_string(res.error());
      std::replace_if(detail.begin(), detail.end(), [](char ch) { return ch == '\t' || ch == '\n'; }, ' ');
      failures_[c].push_back({key, timeline_.Us(sent), timeline_.Us(now), status, served_by, final,
                              detail});
      if (final) return;
      std::this_thread::sleep_for(backoff);  // Backoff before a retry, not an ordering.
      backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
    }
  }

  const Args args_;
  const std::string run_id_;
  const Timeline timeline_;
  std::atomic<bool> ready_{false};
  // One list per client thread: no locking on the hot path.
  std::vector<std::vector<Ack>> acks_;
  std::vector<std::vector<Failure>> failures_;
};

std::string RandomRunId() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

}  // namespace
}  // namespace orders

int main(int argc, char** argv) {
  ::umask(077);
  orders::Args args;
  CLI::App app("Clients for the blue-green deploy demo (examples/blue-green).", "order_load");
  app.add_option("--url", args.url, "The proxy, e.g. http://127.0.0.1:8080")->required();
  app.add_option("--out", args.out, "Directory for acks.tsv and errors.tsv")->required();
  app.add_option("--rate", args.rate, "Open-loop requests per second")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--open-clients", args.open_clients, "Threads sharing the open-loop schedule")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--closed-clients", args.closed_clients, "Closed-loop clients")
      ->capture_default_str()->check(CLI::Range(0, 256));
  app.add_option("--think-ms", args.think_ms, "Closed-loop pause between orders")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--retry-ms", args.retry_ms, "Retry a failed order with its key for this long")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--max-seconds", args.max_seconds, "Stop after this long even without SIGTERM")
      ->capture_default_str()->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    timespec limit{args.max_seconds, 0};
    sigtimedwait(&signals, nullptr, &limit);  // A signal, or the time limit.
    stop.store(true);
  });
  orders::LoadGenerator load(args, orders::RandomRunId());
  load.Run(stop);  // Returns once stop is set and every client finished its order.
  stopper.join();
  std::string error;
  if (!load.Write(&error)) {
    std::fprintf(stderr, "error: %s\nhint: check that --out exists and is writable\n", error.c_str());
    return 2;
  }
  std::printf("done acks=%zu failed_attempts=%zu\n", load.CountAcks(), load.CountFailures());
  return 0;
}
