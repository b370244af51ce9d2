// The extension's settings, read from the URI parameters of a database's
// first open or else from the environment. A unit of its own, apart from
// the registration (shared_database.h), so that the parse of these
// outside strings is tested and fuzzed (fuzz/ext_config_fuzz.cc) without a
// database, a sidecar or a probe.
//
// Thread safety: ReadConfig is safe for concurrent use (it reads the
// environment, which the process must not change meanwhile).
#ifndef SQLSTEWARD_EXT_CONFIG_H_
#define SQLSTEWARD_EXT_CONFIG_H_

#include <chrono>
#include <functional>

#include "sqlsteward/options.h"
#include "sqlsteward/status.h"

namespace sqlsteward::ext {

// How a process takes part: from the URI parameters of the first open
// (`sqlsteward_ownership=exclusive`, ...) or else the environment
// (SQLSTEWARD_OWNERSHIP, ...), because some clients (better-sqlite3) are
// built without URI filenames. docs/extension.md lists them.
struct ExtensionConfig {
  Ownership ownership = Ownership::kShared;
  bool take_over = false;
  std::chrono::milliseconds wait_for_owner{0};
  std::chrono::milliseconds handover_timeout{10'000};
  // How long a checkpoint waits its turn for the write lock before it is
  // skipped (a later one does its work).
  std::chrono::milliseconds checkpoint_wait{1'000};
};

// `uri(name)` returns the URI parameter `name` of the open, or nullptr.
using UriLookup = std::function<const char*(const char* name)>;
// kInvalidArgument names the setting and the values it takes.
Result<ExtensionConfig> ReadConfig(const UriLookup& uri);

}  // namespace sqlsteward::ext

#endif  // SQLSTEWARD_EXT_CONFIG_H_
