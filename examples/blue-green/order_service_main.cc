// order_service: the blue-green example's order service (order_service.h
// has the protocol). Binds its port, then opens the database with exclusive
// ownership and take-over, serves until SIGTERM or SIGINT, finishes the
// requests in flight and closes the database.
//
// One line per event on stdout, for deploy scripts (each flushed at once):
//   listening port=<port> name=<name> pid=<pid>
//   owner takeover_ms=<ms> name=<name> pid=<pid>
//   handed_over successor=<pid>
//   stopped
// Errors on stderr as "error: ..." and "hint: ...".
// Exit status: 0 after a clean stop; 1 bad arguments; 2 when it could not
// listen or open the database.
//
//   order_service --db data/orders.db --port 8081 --name blue
//   order_service --print-free-port
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>

#include "order_service.h"
#include "order_store.h"

namespace orders {
namespace {

struct Args {
  std::string db;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string name = "blue";
  bool naive = false;
  int threads = 16;
  int open_wait_ms = 10'000;
  int handover_timeout_ms = 10'000;
  bool print_free_port = false;
};

void Say(const std::string& line) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

void Fail(const std::string& error, const std::string& hint) {
  std::fprintf(stderr, "error: %s\nhint: %s\n", error.c_str(), hint.c_str());
  std::fflush(stderr);
}

// A loopback port nobody listens on right now, for a deploy script that must
// name the next version's port in the proxy before starting it.
int PrintFreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Fail("cannot find a free port on " + host + ": " + std::strerror(errno),
         "give an IPv4 address of this machine, e.g. 127.0.0.1");
    if (fd >= 0) ::close(fd);
    return 2;
  }
  ::close(fd);
  std::printf("%d\n", ntohs(addr.sin_port));
  return 0;
}

// Opens the store and hands it to the service; on failure stops the process
// (SIGUSR1 reaches the signal thread).
void OpenStore(const Args& args, OrderService& service) {
  StoreOptions options;
  options.path = args.db;
  options.instance_name = service.instance();
  options.handover_timeout = std::chrono::milliseconds(args.handover_timeout_ms);
  options.on_handed_over = [&service](std::int32_t successor) {
    service.MarkHandedOver(successor);
    Say("handed_over successor=" + std::to_string(successor));
  };
  const auto start = std::chrono::steady_clock::now();
  auto store = args.naive ? OpenNaiveStore(options) : OpenStewardStore(options);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!store.has_value()) {
    const sqlsteward::Status& st = store.error();
    Fail("cannot open " + args.db + ": " + st.ToString(), std::string(st.hint()));
    service.MarkFailed();
    ::kill(::getpid(), SIGUSR1);
    return;
  }
  service.SetStore(std::move(store).value(), ms);
  char line[160];
  std::snprintf(line, sizeof line, "owner takeover_ms=%.3f name=%s pid=%d", ms, args.name.c_str(),
                static_cast<int>(::getpid()));
  Say(line);
}

int Serve(const Args& args) {
  // Signals are taken by one thread with sigwait; block them everywhere
  // first, before any thread exists to inherit the old mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  OrderService service({args.name, args.naive, std::chrono::milliseconds(args.open_wait_ms)});
  httplib::Server server;
  const auto threads = static_cast<std::size_t>(args.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_read_timeout(5, 0);
  service.Route(server);
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd = sock;
  });
  if (!server.bind_to_port(args.host, args.port)) {
    Fail("cannot listen on " + args.host + ":" + std::to_string(args.port) + ": " +
             std::strerror(errno),
         "choose another port (order_service --print-free-port finds one)");
    return 2;
  }
  // cpp-httplib listens with a backlog of 5. A version started after a kill
  // gets a burst of connections (nginx retrying every client on it) before
  // its accept loop runs; past the backlog the kernel drops SYNs and each
  // connection waits out TCP's 1 s retransmission. listen() again raises it.
  if (listen_fd < 0 || ::listen(listen_fd, SOMAXCONN) != 0) {
    Fail("cannot raise the listen backlog: " + std::string(std::strerror(errno)),
         "check net.core.somaxconn");
    return 2;
  }
  Say("listening port=" + std::to_string(args.port) + " name=" + args.name +
      " pid=" + std::to_string(::getpid()));

  std::mutex mu;
  std::condition_variable cv;
  bool listen_done = false;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    service.MarkStopping();
    // stop() is a no-op until listen_after_bind has started its loop: repeat
    // it until listening has ended.
    std::unique_lock lock(mu);
    while (!listen_done) {
      lock.unlock();
      server.stop();
      lock.lock();
      cv.wait_for(lock, std::chrono::milliseconds(10));
    }
  });
  std::thread opener([&] { OpenStore(args, service); });

  server.listen_after_bind();  // Returns once stopped; in-flight requests finished.
  {
    std::lock_guard lock(mu);
    listen_done = true;
  }
  cv.notify_all();
  ::kill(::getpid(), SIGUSR1);  // Wakes the signal thread if listening ended on its own.
  signal_thread.join();
  opener.join();
  const bool failed = service.state() == ServiceState::kFailed;
  if (sqlsteward::Status st = service.CloseStore(); !st.ok()) {
    Fail("closing " + args.db + ": " + st.ToString(), std::string(st.hint()));
    return 2;
  }
  Say("stopped");
  return failed ? 2 : 0;
}

}  // namespace
}  // namespace orders

int main(int argc, char** argv) {
  ::umask(077);  // Logs and, in naive mode, the database: 0600; directories 0700.
  orders::Args args;
  CLI::App app("The blue-green example's order service (examples/blue-green, docs/deploying.md).",
               "order_service");
  app.add_option("--db", args.db, "The database file");
  app.add_option("--host", args.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", args.port, "Port to listen on")->check(CLI::Range(1, 65535));
  app.add_option("--name", args.name, "This version's name (blue, green)")->capture_default_str();
  app.add_flag("--naive", args.naive,
               "Control run: raw sqlite3 (WAL, busy_timeout 5000), no ownership or handover");
  app.add_option("--threads", args.threads, "HTTP worker threads")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--open-wait-ms", args.open_wait_ms,
                 "How long a request waits for the database while starting")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--handover-timeout-ms", args.handover_timeout_ms,
                 "How long to wait for the previous owner to hand over")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--print-free-port", args.print_free_port,
               "Print a free port on --host and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (args.print_free_port) return orders::PrintFreePort(args.host);
  if (args.db.empty() || args.port == 0) {
    std::fprintf(stderr, "error: --db and --port are required\nhint: see --help\n");
    return 1;
  }
  return orders::Serve(args);
}
