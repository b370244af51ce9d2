// Helper processes of the cluster tests (cluster_test.cc): a dqlite node, a
// writer and a migrator on a cluster address. Each speaks the line protocol
// of tests/support/child_process.h.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "cluster/node.h"
#include "support/helper_main.h"
#include "support/line_protocol.h"
#include "sqlsteward/database.h"
#include "sqlsteward/migrator.h"

namespace {

using sqlsteward::Status;
using sqlsteward::testing::ModeArgs;
using sqlsteward::testing::SayError;
using sqlsteward::subprocess::SayOrExit;

// node ID ADDRESS DIR [JOIN]: runs a node until stdin closes, then stops it
// (handing leadership over). "ready" once it serves.
int RunNode(const ModeArgs& args) {
  sqlsteward::cluster::NodeOptions options;
  options.id = static_cast<std::uint64_t>(args.Int(0));
  options.address = args[1];
  options.data_dir = args[2];
  if (args.size() > 3) options.join.push_back(args[3]);
  auto node = sqlsteward::cluster::Node::Start(options);
  if (!node.has_value()) {
    SayError(node.error());
    return sqlsteward::testing::kExitSetup;
  }
  SayOrExit("ready");
  sqlsteward::subprocess::WaitForStdinEof();
  Status stopped = (*node)->Stop();
  if (!stopped.ok()) {
    SayError(stopped);
    return sqlsteward::testing::kExitFailed;
  }
  return 0;
}

// write ADDRESS PREFIX COUNT: writes keys PREFIX-0 .. PREFIX-(COUNT-1) into
// t(k) one Write each, saying "ack I" or "fail I CODE" per write, then
// "done". Failures do not stop it: the test checks each against the table.
int RunWriter(const ModeArgs& args) {
  auto db = sqlsteward::testing::OpenOrExit(args[0]);
  const std::string prefix = args[1];
  const long long count = args.Int(2);
  SayOrExit("ready");
  for (long long i = 0; i < count; ++i) {
    const std::string key = prefix + "-" + std::to_string(i);
    Status st = db->Write([&](sqlsteward::Transaction& tx) {
      return tx.Exec("INSERT INTO t(k) VALUES(?)", key);
    });
    if (st.ok()) {
      SayOrExit("ack " + std::to_string(i));
    } else {
      SayOrExit("fail " + std::to_string(i) + " " +
                std::string(sqlsteward::StatusCodeName(st.code())));
    }
  }
  SayOrExit("done");
  return sqlsteward::testing::CloseAndReport(*db);
}

// migrate ADDRESS: waits for stdin EOF (the start barrier), applies the
// three test migrations, says "applied N" (how many this process applied).
int RunMigrate(const ModeArgs& args) {
  auto db = sqlsteward::testing::OpenOrExit(args[0]);
  std::vector<sqlsteward::Migration> migrations = {
      {1, "create_users", "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)", {}},
      {2, "add_email", "ALTER TABLE users ADD COLUMN email TEXT", {}},
      {3, "create_orders", "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER)", {}},
  };
  SayOrExit("ready");
  sqlsteward::subprocess::WaitForStdinEof();
  auto report = sqlsteward::Migrate(*db, migrations);
  if (!report.has_value()) {
    SayError(report.error());
    return sqlsteward::testing::kExitFailed;
  }
  SayOrExit("applied " + std::to_string(report->applied.size()));
  return sqlsteward::testing::CloseAndReport(*db);
}

constexpr sqlsteward::testing::HelperMode kModes[] = {
    {"node", "ID ADDRESS DIR [JOIN]", RunNode},
    {"write", "ADDRESS PREFIX COUNT", RunWriter},
    {"migrate", "ADDRESS", RunMigrate},
};

}  // namespace

int main(int argc, char** argv) { return sqlsteward::testing::HelperMain(kModes, argc, argv); }
