// Database::Open: the one place that knows every kind of database address.
// A "dqlite://" address opens a handle on a dqlite cluster
// (cluster/engine.h); anything else is a local file path (core/). This file
// sits above both so that core never names the cluster.
#include "sqlsteward/database.h"

#include <string_view>

#include "cluster/engine.h"
#include "core/database_access.h"
#include "posix/env.h"

namespace sqlsteward {

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, const Options& options) {
  if (std::string_view(path).starts_with("dqlite://")) {
    return internal::DatabaseAccess::OpenOnEngine(
        path, options, [&path](const Options& opts, internal::MetricsRecorder* metrics) {
          return cluster::OpenClusterEngine(path, opts, metrics);
        });
  }
  return internal::DatabaseAccess::OpenWithEnv(path, options, posix::Env::Default());
}

}  // namespace sqlsteward
