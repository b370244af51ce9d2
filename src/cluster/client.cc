#include "cluster/client.h"

#include <algorithm>
#include <csignal>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "base/status_builders.h"
#include "cluster/connection.h"
#include "cluster/failure.h"
#include "cluster/statement_kind.h"
#include "cluster/wire.h"

namespace sqlsteward::cluster {

void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

struct Client::Impl {
  // A prepared statement's SQL (empty when the id is unknown) and whether
  // running it may commit. An unknown id fails on the server; "may commit"
  // is the safe answer for it.
  std::pair<std::string, bool> Prepared(std::uint32_t stmt) const {
    auto it = statements.find(stmt);
    if (it == statements.end()) return {std::string(), true};
    return {it->second, MayCommit(it->second, in_transaction)};
  }

  std::unique_ptr<Connection> conn;
  std::string address;
  ClientOptions options;
  std::optional<std::uint32_t> db;
  // Explicit transaction open on this connection, as far as the statements
  // sent tell (BEGIN .. COMMIT/ROLLBACK): decides whether a lost reply can
  // hide a commit.
  bool in_transaction = false;
  std::unordered_map<std::uint32_t, std::string> statements;

  Clock::time_point Deadline() const { return Clock::now() + options.request_timeout; }

  // Sends `request` and reads one reply; a reply lost after the request left
  // becomes kUnknownOutcome when `may_commit`.
  Result<wire::Message> RoundTrip(const std::string& request, std::string_view what,
                                  bool may_commit) {
    const Clock::time_point deadline = Deadline();
    Status sent = conn->Send(request, deadline);
    if (!sent.ok()) return LostReplyStatus(std::move(sent), what, may_commit, conn->sent_any());
    auto reply = conn->Receive(deadline);
    if (!reply.has_value()) {
      return LostReplyStatus(std::move(reply).error(), what, may_commit, true);
    }
    return reply;
  }

  // Reads the next message of a multi-message reply.
  Result<wire::Message> Next(std::string_view what, bool may_commit) {
    auto reply = conn->Receive(Deadline());
    if (!reply.has_value()) return LostReplyStatus(std::move(reply).error(), what, may_commit, true);
    return reply;
  }

  // The body of a reply of type `want`, or the Status of a FAILURE reply,
  // or kUnavailable for any other type (the stream is out of step).
  Result<std::vector<std::byte>> Expect(wire::Message m, wire::Response want,
                                        std::string_view what, bool may_commit) {
    if (m.header.type == static_cast<std::uint8_t>(wire::Response::kFailure)) {
      auto f = wire::DecodeFailure(m.body);
      if (!f.has_value()) return Broken(std::move(f).error());
      return FailureStatus(*f, address, what, may_commit);
    }
    if (m.header.type != static_cast<std::uint8_t>(want)) {
      return Broken(wire::Malformed(std::string(what) + ": reply of type " +
                                    std::to_string(m.header.type) + ", expected " +
                                    std::to_string(static_cast<int>(want))));
    }
    return std::move(m.body);
  }

  template <typename T>
  Result<T> Decoded(Result<T> r) {
    if (!r.has_value()) return Broken(std::move(r).error());
    return r;
  }

  Status Broken(Status s) {
    conn.reset();
    return s;
  }

  Result<std::vector<std::byte>> Call(const std::string& request, wire::Response want,
                                      std::string_view what, bool may_commit = false) {
    SQLSTEWARD_RETURN_IF_ERROR(Usable());
    SQLSTEWARD_ASSIGN_OR_RETURN(wire::Message m, RoundTrip(request, what, may_commit));
    return Expect(std::move(m), want, what, may_commit);
  }

  Status Usable() const {
    if (conn == nullptr) {
      return Unavailable("connection to " + address + " was closed after an earlier error",
                         "make a new Client (Client::ConnectToLeader)");
    }
    return Status();
  }

  Status NeedDb() const {
    if (!db.has_value()) {
      return FailedPrecondition("no database is open on this connection",
                                "call Client::Open(name) first");
    }
    return Status();
  }

  // Reads a ROWS reply and every PART that follows it.
  Result<Rows> ReadRows(wire::Message first, std::string_view what, bool may_commit) {
    Rows out;
    wire::Message m = std::move(first);
    for (bool first_batch = true;; first_batch = false) {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<std::byte> body,
                                  Expect(std::move(m), wire::Response::kRows, what, may_commit));
      SQLSTEWARD_ASSIGN_OR_RETURN(wire::RowsBatch batch, Decoded(wire::DecodeRows(body)));
      if (first_batch) out.columns = std::move(batch.columns);
      for (auto& row : batch.rows) out.rows.push_back(std::move(row));
      if (!batch.more) return out;
      SQLSTEWARD_ASSIGN_OR_RETURN(m, Next(what, may_commit));
    }
  }

  // After a statement ran (or failed), the transaction state it leaves.
  void Track(std::string_view sql, bool ok) {
    for (StatementKind k : ClassifySql(sql)) {
      if (k == StatementKind::kBegin && ok) in_transaction = true;
      if (k == StatementKind::kCommit && ok) in_transaction = false;
      if (k == StatementKind::kRollback) in_transaction = false;
    }
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const std::string& Client::address() const { return impl_->address; }

Result<std::unique_ptr<Client>> Client::ConnectTo(const std::string& node,
                                                  const ClientOptions& options) {
  IgnoreSigpipe();
  SQLSTEWARD_ASSIGN_OR_RETURN(auto conn,
                              Connection::Dial(node, Clock::now() + options.connect_timeout));
  auto impl = std::make_unique<Impl>();
  impl->conn = std::move(conn);
  impl->address = node;
  impl->options = options;
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<std::unique_ptr<Client>> Client::ConnectToLeader(const std::vector<std::string>& nodes,
                                                        Clock::time_point deadline,
                                                        const ClientOptions& options) {
  if (nodes.empty()) {
    return InvalidArgument("no dqlite node to connect to",
                           "give at least one HOST:PORT of the cluster");
  }
  for (const std::string& node : nodes) SQLSTEWARD_RETURN_IF_ERROR(CheckNodeAddress(node));
  std::string said;
  // Probes (connect, LEADER) wait at most connect_timeout each, and never
  // past the deadline: a stopped node in the list costs one probe, not a
  // whole request timeout.
  auto bounded = [&](ClientOptions o) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const auto floor = std::chrono::milliseconds(50);
    o.connect_timeout = std::clamp(left, floor, std::max(floor, o.connect_timeout));
    o.request_timeout = o.connect_timeout;
    return o;
  };
  std::chrono::milliseconds pause(20);
  for (;;) {
    said.clear();
    for (const std::string& node : nodes) {
      const ClientOptions o = bounded(options);
      auto client = ConnectTo(node, o);
      if (!client.has_value()) {
        said += "\n  " + node + ": " + std::string(client.error().message());
        continue;
      }
      auto leader = (*client)->Leader();
      if (!leader.has_value()) {
        said += "\n  " + node + ": " + std::string(leader.error().message());
        continue;
      }
      if (!leader->has_value()) {
        said += "\n  " + node + ": knows no leader yet";
        continue;
      }
      const NodeInfo& info = **leader;
      std::unique_ptr<Client> target;
      if (info.address == node) {
        target = std::move(*client);
      } else {
        auto other = ConnectTo(info.address, o);
        if (!other.has_value()) {
          said += "\n  " + node + ": leader is " + info.address + ", which does not answer (" +
                  std::string(other.error().message()) + ")";
          continue;
        }
        target = std::move(*other);
      }
      // The leader must agree that it leads: a stale answer from a
      // partitioned follower would send us to a deposed node.
      auto self = target->Leader();
      if (self.has_value() && self->has_value() && (*self)->id == info.id &&
          (*self)->address == target->address()) {
        target->impl_->options = options;
        return target;
      }
      said += "\n  " + node + ": leader " + info.address + " does not confirm it leads";
    }
    if (Clock::now() + pause >= deadline) break;
    std::this_thread::sleep_for(pause);  // an election is in progress
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
  return Unavailable("no dqlite leader found before the deadline; the nodes said:" + said,
                     "a majority of the voters must be up to elect a leader; start the nodes "
                     "that are down, or retry with a later deadline");
}

Status Client::Open(const std::string& database) {
  if (impl_->db.has_value()) {
    return FailedPrecondition("a database is already open on this connection",
                              "use one Client per database");
  }
  wire::Encoder e;
  SQLSTEWARD_RETURN_IF_ERROR(e.PutText(database));
  e.PutUint64(0);
  SQLSTEWARD_RETURN_IF_ERROR(e.PutText(""));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      auto body, impl_->Call(e.Finish(wire::Request::kOpen), wire::Response::kDb, "OPEN"));
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint32_t id, impl_->Decoded(wire::DecodeDb(body)));
  impl_->db = id;
  return Status();
}

Result<std::uint32_t> Client::Prepare(std::string_view sql) {
  SQLSTEWARD_RETURN_IF_ERROR(CheckAllowed(sql));
  SQLSTEWARD_RETURN_IF_ERROR(impl_->NeedDb());
  wire::Encoder e;
  e.PutUint64(*impl_->db);
  SQLSTEWARD_RETURN_IF_ERROR(e.PutText(sql));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      auto body,
      impl_->Call(e.Finish(wire::Request::kPrepare), wire::Response::kStmt, "PREPARE"));
  SQLSTEWARD_ASSIGN_OR_RETURN(wire::StmtInfo info, impl_->Decoded(wire::DecodeStmt(body)));
  impl_->statements[info.id] = std::string(sql);
  return info.id;
}

Result<ExecResult> Client::Exec(std::uint32_t stmt, std::span<const Value> params) {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->NeedDb());
  const auto [sql, may_commit] = impl_->Prepared(stmt);
  wire::Encoder e;
  e.PutUint32Pair(*impl_->db, stmt);
  SQLSTEWARD_RETURN_IF_ERROR(e.PutParams(params));
  auto body =
      impl_->Call(e.Finish(wire::Request::kExec), wire::Response::kResult, "EXEC", may_commit);
  impl_->Track(sql, body.has_value());
  if (!body.has_value()) return std::move(body).error();
  return impl_->Decoded(wire::DecodeResult(*body));
}

Result<Rows> Client::Query(std::uint32_t stmt, std::span<const Value> params) {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->NeedDb());
  const auto [sql, may_commit] = impl_->Prepared(stmt);
  wire::Encoder e;
  e.PutUint32Pair(*impl_->db, stmt);
  SQLSTEWARD_RETURN_IF_ERROR(e.PutParams(params));
  SQLSTEWARD_RETURN_IF_ERROR(impl_->Usable());
  auto first = impl_->RoundTrip(e.Finish(wire::Request::kQuery), "QUERY", may_commit);
  if (!first.has_value()) return std::move(first).error();
  auto rows = impl_->ReadRows(std::move(*first), "QUERY", may_commit);
  impl_->Track(sql, rows.has_value());
  return rows;
}

Status Client::Finalize(std::uint32_t stmt) {
  SQLSTEWARD_RETURN_IF_ERROR(impl_->NeedDb());
  wire::Encoder e;
  e.PutUint32Pair(*impl_->db, stmt);
  SQLSTEWARD_ASSIGN_OR_RETURN(
      auto body,
      impl_->Call(e.Finish(wire::Request::kFinalize), wire::Response::kEmpty, "FINALIZE"));
  (void)body;
  impl_->statements.erase(stmt);
  return Status();
}

Result<ExecResult> Client::ExecSql(std::string_view sql, std::span<const Value> params) {
  SQLSTEWARD_RETURN_IF_ERROR(CheckAllowed(sql));
  SQLSTEWARD_RETURN_IF_ERROR(impl_->NeedDb());
  const bool may_commit = MayCommit(sql, impl_->in_transaction);
  wire::Encoder e;
  e.PutUint64(*impl_->db);
  SQLSTEWARD_RETURN_IF_ERROR(e.PutText(sql));
  SQLSTEWARD_RETURN_IF_ERROR(e.PutParams(params));
  auto body = impl_->Call(e.Finish(wire::Request::kExecSql), wire::Response::kResult,
                          "EXEC_SQL", may_commit);
  impl_->Track(sql, body.has_value());
  if (!body.has_value()) return std::move(body).error();
  return impl_->Decoded(wire::DecodeResult(*body));
}

Result<Rows> Client::QuerySql(std::string_view sql, std::span<const Value> params) {
  SQLSTEWARD_RETURN_IF_ERROR(CheckAllowed(sql));
  SQLSTEWARD_RETURN_IF_ERROR(impl_->NeedDb());
  const bool may_commit = MayCommit(sql, impl_->in_transaction);
  wire::Encoder e;
  e.PutUint64(*impl_->db);
  SQLSTEWARD_RETURN_IF_ERROR(e.PutText(sql));
  SQLSTEWARD_RETURN_IF_ERROR(e.PutParams(params));
  SQLSTEWARD_RETURN_IF_ERROR(impl_->Usable());
  auto first = impl_->RoundTrip(e.Finish(wire::Request::kQuerySql), "QUERY_SQL", may_commit);
  if (!first.has_value()) return std::move(first).error();
  auto rows = impl_->ReadRows(std::move(*first), "QUERY_SQL", may_commit);
  impl_->Track(sql, rows.has_value());
  return rows;
}

Result<std::optional<NodeInfo>> Client::Leader() {
  wire::Encoder e;
  e.PutUint64(0);
  SQLSTEWARD_ASSIGN_OR_RETURN(
      auto body, impl_->Call(e.Finish(wire::Request::kLeader), wire::Response::kServer, "LEADER"));
  SQLSTEWARD_ASSIGN_OR_RETURN(NodeInfo info, impl_->Decoded(wire::DecodeServer(body)));
  if (info.id == 0 || info.address.empty()) return std::optional<NodeInfo>();
  return std::optional<NodeInfo>(std::move(info));
}

Result<std::vector<NodeInfo>> Client::Members() {
  wire::Encoder e;
  e.PutUint64(1);  // format 1: with roles
  SQLSTEWARD_ASSIGN_OR_RETURN(auto body, impl_->Call(e.Finish(wire::Request::kCluster),
                                                     wire::Response::kServers, "CLUSTER"));
  return impl_->Decoded(wire::DecodeServers(body));
}

Status Client::Add(std::uint64_t id, const std::string& address) {
  SQLSTEWARD_RETURN_IF_ERROR(CheckNodeAddress(address));
  wire::Encoder e;
  e.PutUint64(id);
  SQLSTEWARD_RETURN_IF_ERROR(e.PutText(address));
  return impl_->Call(e.Finish(wire::Request::kAdd), wire::Response::kEmpty, "ADD").status();
}

Status Client::Assign(std::uint64_t id, Role role) {
  wire::Encoder e;
  e.PutUint64(id);
  e.PutUint64(static_cast<std::uint64_t>(role));
  return impl_->Call(e.Finish(wire::Request::kAssign), wire::Response::kEmpty, "ASSIGN").status();
}

Status Client::Remove(std::uint64_t id) {
  wire::Encoder e;
  e.PutUint64(id);
  return impl_->Call(e.Finish(wire::Request::kRemove), wire::Response::kEmpty, "REMOVE").status();
}

Status Client::Transfer(std::uint64_t id) {
  wire::Encoder e;
  e.PutUint64(id);
  return impl_->Call(e.Finish(wire::Request::kTransfer), wire::Response::kEmpty, "TRANSFER")
      .status();
}

Result<std::vector<DumpFile>> Client::Dump(const std::string& database) {
  wire::Encoder e;
  SQLSTEWARD_RETURN_IF_ERROR(e.PutText(database));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      auto body, impl_->Call(e.Finish(wire::Request::kDump), wire::Response::kFiles, "DUMP"));
  return impl_->Decoded(wire::DecodeFiles(body));
}

}  // namespace sqlsteward::cluster
