#include "cluster/failure.h"

#include <sqlite3.h>

#include <string>

#include "base/status_builders.h"

namespace sqlsteward::cluster {
namespace {

constexpr std::string_view kUnknownHint =
    "the write may or may not have been applied; resolve its outcome (read back a "
    "record it wrote, e.g. an idempotency key) before retrying";
constexpr std::string_view kRetryHint =
    "leadership is moving; retry: Client::ConnectToLeader finds the new leader";

}  // namespace

Status FailureStatus(const wire::Failure& failure, std::string_view node,
                     std::string_view request, bool may_commit) {
  const int rc = static_cast<int>(failure.code & 0x7fffffff);
  const int primary = rc & 0xff;
  std::string message = std::string(request) + " on " + std::string(node) + ": " +
                        failure.message;
  if (rc == kIoErrNotLeader) {
    // Refused before it ran: certainly not applied.
    return Unavailable(std::move(message) + " (this node is not the leader)",
                       std::string(kRetryHint), rc);
  }
  if (primary == SQLITE_IOERR) {
    // Leadership lost during the Raft round of a commit (or an I/O error
    // that ended it): the entry may be in a majority's log or not.
    if (may_commit) return UnknownOutcome(std::move(message), std::string(kUnknownHint), rc);
    if (rc == kIoErrLeadershipLost) return Unavailable(std::move(message), std::string(kRetryHint), rc);
    return IOError(std::move(message),
                   "the node reported an I/O error; check its disk and log, then retry", rc);
  }
  if (primary == SQLITE_ABORT && may_commit) {
    // dqlite answers SQLITE_ABORT when the node shuts down while a commit's
    // Raft entry is in flight: the entry may still commit on the others.
    return UnknownOutcome(std::move(message), std::string(kUnknownHint), rc);
  }
  StatusCode code = StatusCode::kInternal;
  std::string hint;
  switch (primary) {
    case SQLITE_BUSY:
      code = StatusCode::kTimeout;
      hint = "the leader is busy (another transaction or a checkpoint); retry";
      break;
    case SQLITE_LOCKED:
    case SQLITE_SCHEMA:
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT:
    case SQLITE_PROTOCOL:
      code = StatusCode::kAborted;
      hint = "the transaction was rolled back by a conflict; run it again";
      break;
    case SQLITE_CONSTRAINT:
      code = StatusCode::kConstraint;
      hint = "the data violates a constraint of the schema; change the data, retrying as-is "
             "fails again";
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = StatusCode::kCorruption;
      hint = "the replicated database is damaged; restore it from a dump or snapshot";
      break;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
      code = StatusCode::kResourceExhausted;
      hint = "the node is out of disk or memory (dqlite holds the database in memory); "
             "free some, then retry";
      break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      code = StatusCode::kPermissionDenied;
      hint = "the node cannot write its data directory; fix its owner and modes";
      break;
    case SQLITE_NOTFOUND:
      code = StatusCode::kNotFound;
      hint = "the database or statement is not open on this connection; open it first";
      break;
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_MISUSE:
    case SQLITE_AUTH:
      code = StatusCode::kInvalidArgument;
      hint = "fix the SQL or its parameters";
      break;
    default:
      code = StatusCode::kInternal;
      hint = "dqlite reported an error sqlsteward does not know; see the message";
  }
  return Status(code, std::move(message), std::move(hint), rc);
}

Status LostReplyStatus(Status connection_error, std::string_view request, bool may_commit,
                       bool sent_any) {
  if (may_commit && sent_any) {
    return UnknownOutcome(std::string(request) + ": the reply was lost (" +
                              std::string(connection_error.message()) + ")",
                          std::string(kUnknownHint), 0, connection_error.sys_errno());
  }
  return connection_error;
}

}  // namespace sqlsteward::cluster
