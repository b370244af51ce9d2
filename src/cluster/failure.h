// How a dqlite FAILURE reply becomes a Status (the mapping is documented in
// client.h): SQLite codes map as core maps them, leadership errors to
// kUnavailable, or to kUnknownOutcome when the request may have committed.
//
// Thread safety: pure function.
#ifndef SQLSTEWARD_CLUSTER_FAILURE_H_
#define SQLSTEWARD_CLUSTER_FAILURE_H_

#include <string_view>

#include "cluster/wire.h"
#include "sqlsteward/status.h"

namespace sqlsteward::cluster {

// dqlite's extended I/O codes (SQLITE_IOERR | n << 8).
inline constexpr int kIoErrNotLeader = 10 | (40 << 8);        // 10250
inline constexpr int kIoErrLeadershipLost = 10 | (41 << 8);   // 10506

// `node` and `request` name what failed; `may_commit` says whether the
// request could have committed a write.
Status FailureStatus(const wire::Failure& failure, std::string_view node,
                     std::string_view request, bool may_commit);

// The Status of a connection lost (or a reply not received) while `request`
// was on its way: kUnknownOutcome when it may have committed and bytes had
// left, the connection error otherwise.
Status LostReplyStatus(Status connection_error, std::string_view request, bool may_commit,
                       bool sent_any);

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_FAILURE_H_
