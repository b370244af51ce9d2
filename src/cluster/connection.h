// One TCP connection to a dqlite node, speaking whole messages (wire.h).
//
// Every operation takes a deadline and waits with poll(2): a peer that
// stops answering (SIGSTOP, a partition) costs at most the deadline, never a
// hang. The socket is non-blocking and close-on-exec, TCP_NODELAY (a request
// is one small message; Nagle would hold it back).
//
// Failure model. Any error (refused, reset, EOF, timeout, a reply that does
// not decode) closes the connection: its byte stream can no longer be
// trusted, since a late reply to the failed request would be taken for the
// next one. Name resolution (getaddrinfo) is the one step the deadline
// cannot bound: give nodes as IP addresses where a slow resolver matters.
// Send reports whether any byte of the request left, so the
// caller can tell "certainly not applied" from "may have been applied".
//
// Thread safety: one user at a time.
#ifndef SQLSTEWARD_CLUSTER_CONNECTION_H_
#define SQLSTEWARD_CLUSTER_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/wire.h"
#include "sqlsteward/status.h"

namespace sqlsteward::cluster {

using Clock = std::chrono::steady_clock;

class Connection {
 public:
  // Connects to "HOST:PORT" and sends the handshake. kUnavailable when the
  // node cannot be reached by `deadline`; kInvalidArgument for a bad address.
  static Result<std::unique_ptr<Connection>> Dial(const std::string& node,
                                                  Clock::time_point deadline);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool broken() const { return fd_ < 0; }
  // True once any byte of the last Send was written: a failure after that
  // point leaves the request's fate unknown.
  bool sent_any() const { return sent_any_; }

  Status Send(std::string_view message, Clock::time_point deadline);
  Result<wire::Message> Receive(Clock::time_point deadline);

 private:
  explicit Connection(int fd, std::string node) : fd_(fd), node_(std::move(node)) {}
  Status WriteAll(std::string_view bytes, Clock::time_point deadline);
  Status ReadExactly(std::byte* out, std::size_t n, Clock::time_point deadline);
  Status Fail(Status status);
  int fd_;
  std::string node_;
  bool sent_any_ = false;
};

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_CONNECTION_H_
