// ClientSession: a job's or a read callback's statements, run on one
// cluster::Client inside the transaction the engine opened on it
// (core/remote.h is the seam; cluster/engine.h owns the transaction).
//
// What it refuses before anything is sent, with the rule's reason:
//   - in a write job: BEGIN, COMMIT, END and ROLLBACK (not ROLLBACK TO): the
//     batch owns the transaction, as on a local handle
//     (core/statement_policy.h);
//   - in a read callback: any statement that is not a query, so that a
//     Read() never writes, as a local reader connection cannot.
// The client itself refuses VACUUM and ATTACH (cluster/client.h).
//
// Thread safety: used by one thread at a time, as its Client.
#ifndef SQLSTEWARD_CLUSTER_CLIENT_SESSION_H_
#define SQLSTEWARD_CLUSTER_CLIENT_SESSION_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "cluster/client.h"
#include "core/remote.h"

namespace sqlsteward::cluster {

static_assert(std::is_same_v<Value, internal::RemoteValue>,
              "core's remote values and the client's must be one type");

class ClientSession final : public internal::RemoteSession {
 public:
  enum class Kind { kWrite, kRead };
  ClientSession(Client* client, Kind kind) : client_(client), kind_(kind) {}

  Result<internal::RemoteRows> Query(std::string_view sql,
                                     std::span<const internal::RemoteValue> params) override;
  Status Exec(std::string_view sql, std::span<const internal::RemoteValue> params) override;
  Status ExecScript(std::string_view sql) override;
  std::int64_t LastInsertRowId() const override { return last_insert_id_; }
  std::int64_t Changes() const override { return changes_; }

 private:
  Status Check(std::string_view sql) const;

  Client* const client_;
  const Kind kind_;
  std::int64_t last_insert_id_ = 0;
  std::int64_t changes_ = 0;
};

}  // namespace sqlsteward::cluster

#endif  // SQLSTEWARD_CLUSTER_CLIENT_SESSION_H_
