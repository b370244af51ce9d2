// A client of dqlite's wire protocol: one TCP connection to one node.
//
// dqlite (Raft-replicated SQLite, Debian's libdqlite 1.11.1) ships only the
// node; clients speak its binary protocol (wire.h). This class is our own
// client: handshake, LEADER, OPEN, PREPARE/EXEC/QUERY/FINALIZE, EXEC_SQL,
// QUERY_SQL, membership (ADD, ASSIGN, REMOVE, TRANSFER, CLUSTER) and DUMP.
// A database handle and its prepared statements live on the connection: an
// interactive transaction (BEGIN ... COMMIT) is a sequence of calls on one
// Client, and is lost with it.
//
// Thread safety: not thread-safe; one user at a time. Distinct Clients are
// independent.
//
// Every socket operation waits with poll() against a deadline
// (ClientOptions): nothing blocks past it. SIGPIPE must be ignored in the
// process (IgnoreSigpipe(); ConnectTo does it once per process) because
// writes to a peer that died would otherwise kill it.
//
// Error mapping (the code says what the caller should do):
// - connection refused / lost, request timed out, the node is not the leader
//   (SQLITE_IOERR_NOT_LEADER: refused before running), no leader elected
//   yet -> kUnavailable ("retry; ConnectToLeader finds the
//   new leader"). After a connection error (refused, lost, timed out,
//   garbage) the connection is closed and every later call fails with
//   kUnavailable: make a new Client. A "not leader" reply leaves it open.
// - the outcome of a write is not known -> kUnknownOutcome: dqlite reported
//   leadership lost (SQLITE_IOERR_LEADERSHIP_LOST, any other I/O error, or
//   SQLITE_ABORT from a node shutting down) while a statement that can
//   commit ran, or the connection dropped or timed out
//   after such a request (COMMIT, END, or any write outside an explicit
//   transaction) was sent and before its answer arrived. The write may or may
//   not be applied; resolve it (e.g. an idempotency record) before retrying.
// - SQLite errors from the server map as core maps SQLite codes
//   (SQLITE_CONSTRAINT -> kConstraint, BUSY/LOCKED -> kTimeout, syntax and
//   misuse -> kInvalidArgument, CORRUPT -> kCorruption, FULL/NOMEM ->
//   kResourceExhausted, ...); sqlite_code() carries the extended code.
// - VACUUM and ATTACH are refused before anything is sent, with
//   kFailedPrecondition: dqlite 1.11.1 crashes the leader on VACUUM after
//   deletes, and an attached database is not replicated.
// - garbage from the network (a reply that does not decode) -> kUnavailable
//   after closing the connection: the stream can no longer be trusted.
#ifndef SQLSTEWARD_CLUSTER_CLIENT_H_
#define SQLSTEWARD_CLUSTER_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sqlsteward/status.h"

namespace sqlsteward::cluster {

// A bound parameter or a column value. Text is std::string, a blob
// std::vector<std::byte>.
using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string, std::vector<std::byte>>;

struct Rows {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
};

struct ExecResult {
  std::int64_t last_insert_id = 0;
  std::int64_t rows_affected = 0;
};

// Raft roles as dqlite numbers them.
enum class Role { kVoter = 0, kStandBy = 1, kSpare = 2 };
std::string_view RoleName(Role role);  // "voter", "stand-by", "spare"

struct NodeInfo {
  std::uint64_t id = 0;
  std::string address;
  Role role = Role::kVoter;
};

// The database file and its WAL, as DUMP returns them.
struct DumpFile {
  std::string name;
  std::string data;
};

// "dqlite://h:p[,h:p...]/name".
struct Address {
  std::vector<std::string> nodes;
  std::string database;
};
// kInvalidArgument with a hint on bad input (wrong scheme, no node, a node
// without a numeric port, no or a bad database name).
Result<Address> ParseAddress(std::string_view uri);

// Checks "HOST:PORT" (host non-empty, port 1..65535); kInvalidArgument.
Status CheckNodeAddress(std::string_view node);

struct ClientOptions {
  // Per attempt to open a TCP connection and complete the handshake.
  std::chrono::milliseconds connect_timeout{1000};
  // Per request: send it and read its whole answer.
  std::chrono::milliseconds request_timeout{5000};
};

// Ignores SIGPIPE in this process (idempotent). Any process that uses the
// client or embeds a node needs it.
void IgnoreSigpipe();

class Client {
 public:
  // Tries each address, asks it for the leader, connects to the leader and
  // checks that it agrees it leads; retries (a failover is in progress) until
  // `deadline`, then kUnavailable naming what each node said.
  static Result<std::unique_ptr<Client>> ConnectToLeader(
      const std::vector<std::string>& nodes, std::chrono::steady_clock::time_point deadline,
      const ClientOptions& options = {});
  // Any node, no leader check (for status; requests that need the leader
  // then fail with kUnavailable).
  static Result<std::unique_ptr<Client>> ConnectTo(const std::string& node,
                                                   const ClientOptions& options = {});

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& address() const;

  // Opens (creating it if needed) the named database on this connection.
  // Statements below need it.
  Status Open(const std::string& database);

  Result<std::uint32_t> Prepare(std::string_view sql);
  Result<ExecResult> Exec(std::uint32_t stmt, std::span<const Value> params);
  Result<Rows> Query(std::uint32_t stmt, std::span<const Value> params);
  Status Finalize(std::uint32_t stmt);

  // One round trip. Without params, `sql` may hold several statements.
  Result<ExecResult> ExecSql(std::string_view sql, std::span<const Value> params = {});
  Result<Rows> QuerySql(std::string_view sql, std::span<const Value> params = {});

  // The leader as this node knows it; nullopt when there is none yet.
  Result<std::optional<NodeInfo>> Leader();
  // Members with their roles (CLUSTER).
  Result<std::vector<NodeInfo>> Members();
  // Membership changes go to the leader. A new node is added as a spare;
  // Assign makes it a voter.
  Status Add(std::uint64_t id, const std::string& address);
  Status Assign(std::uint64_t id, Role role);
  Status Remove(std::uint64_t id);
  // Hands leadership to node `id` (a voter).
  Status Transfer(std::uint64_t id);
  // The database's file and WAL, as the leader holds them.
  Result<std::vector<DumpFile>> Dump(const std::string& database);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_CLIENT_H_
