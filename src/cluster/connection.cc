#include "cluster/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/status_builders.h"

namespace sqlsteward::cluster {
namespace {

constexpr std::string_view kRetryHint =
    "the node is down, unreachable or busy with an election; retry: "
    "Client::ConnectToLeader finds the current leader";

int MillisLeft(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<long long>(left, 60'000));
}

// Waits for `events` on fd; kUnavailable at the deadline.
Status WaitFor(int fd, short events, Clock::time_point deadline, const std::string& node,
               std::string_view doing) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int ms = MillisLeft(deadline);
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return Status();
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      const int err = errno;
      return Unavailable(std::string(doing) + " " + node + ": poll: " + std::strerror(err),
                         std::string(kRetryHint), 0, err);
    }
    if (ms == 0 || Clock::now() >= deadline) {
      return Unavailable("timed out " + std::string(doing) + " " + node, std::string(kRetryHint),
                         0, ETIMEDOUT);
    }
  }
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::Dial(const std::string& node,
                                                     Clock::time_point deadline) {
  SQLSTEWARD_RETURN_IF_ERROR(CheckNodeAddress(node));
  const std::size_t colon = node.rfind(':');
  std::string host = node.substr(0, colon);
  const std::string port = node.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (gai != 0) {
    return Unavailable("cannot resolve " + node + ": " + ::gai_strerror(gai),
                       "check the host name of the node, or give its IP address");
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  Status last = Unavailable("no address for " + node, std::string(kRetryHint));
  for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            ai->ai_protocol);
    if (fd < 0) {
      const int err = errno;
      last = Unavailable("socket for " + node + ": " + std::strerror(err),
                         "the process is out of file descriptors or sockets", 0, err);
      continue;
    }
    std::unique_ptr<Connection> conn(new Connection(fd, node));
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        const int err = errno;
        last = Unavailable("cannot connect to " + node + ": " + std::strerror(err),
                           std::string(kRetryHint), 0, err);
        continue;
      }
      Status waited = WaitFor(fd, POLLOUT, deadline, node, "connecting to");
      if (!waited.ok()) {
        last = std::move(waited);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = Unavailable("cannot connect to " + node + ": " + std::strerror(err),
                           std::string(kRetryHint), 0, err);
        continue;
      }
    }
    Status hs = conn->WriteAll(wire::Handshake(), deadline);
    if (!hs.ok()) {
      last = std::move(hs);
      continue;
    }
    return conn;
  }
  return last;
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

Status Connection::Fail(Status status) {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  return status;
}

Status Connection::WriteAll(std::string_view bytes, Clock::time_point deadline) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      sent_any_ = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Status waited = WaitFor(fd_, POLLOUT, deadline, node_, "sending to");
      if (!waited.ok()) return Fail(std::move(waited));
      continue;
    }
    const int err = errno;
    return Fail(Unavailable("connection to " + node_ + " lost: " + std::strerror(err),
                            std::string(kRetryHint), 0, err));
  }
  return Status();
}

Status Connection::Send(std::string_view message, Clock::time_point deadline) {
  sent_any_ = false;
  if (fd_ < 0) {
    return Unavailable("connection to " + node_ + " was closed after an earlier error",
                       "make a new Client (Client::ConnectToLeader)");
  }
  return WriteAll(message, deadline);
}

Status Connection::ReadExactly(std::byte* out, std::size_t n, Clock::time_point deadline) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::recv(fd_, out + done, n - done, 0);
    if (r > 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) {
      return Fail(Unavailable("connection to " + node_ + " closed by the node",
                              std::string(kRetryHint)));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      Status waited = WaitFor(fd_, POLLIN, deadline, node_, "waiting for a reply from");
      if (!waited.ok()) return Fail(std::move(waited));
      continue;
    }
    const int err = errno;
    return Fail(Unavailable("connection to " + node_ + " lost: " + std::strerror(err),
                            std::string(kRetryHint), 0, err));
  }
  return Status();
}

Result<wire::Message> Connection::Receive(Clock::time_point deadline) {
  if (fd_ < 0) {
    return Unavailable("connection to " + node_ + " was closed after an earlier error",
                       "make a new Client (Client::ConnectToLeader)");
  }
  std::byte header[wire::kHeaderSize];
  SQLSTEWARD_RETURN_IF_ERROR(ReadExactly(header, sizeof header, deadline));
  auto h = wire::DecodeHeader(header);
  if (!h.has_value()) return Fail(std::move(h).error());
  wire::Message m;
  m.header = *h;
  const std::size_t total = static_cast<std::size_t>(h->words) * wire::kWord;
  // Grow as bytes arrive: a garbage header cannot make us allocate its claim.
  constexpr std::size_t kChunk = 1 << 20;
  while (m.body.size() < total) {
    const std::size_t at = m.body.size();
    const std::size_t step = std::min(kChunk, total - at);
    m.body.resize(at + step);
    SQLSTEWARD_RETURN_IF_ERROR(ReadExactly(m.body.data() + at, step, deadline));
  }
  return m;
}

}  // namespace sqlsteward::cluster
