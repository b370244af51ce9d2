#include "ext/config.h"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "base/status_builders.h"

namespace sqlsteward::ext {
namespace {

// A setting: the URI parameter, else the environment variable, else null.
const char* Setting(const UriLookup& uri, const char* uri_name, const char* env_name) {
  if (uri) {
    if (const char* v = uri(uri_name)) return v;
  }
  return std::getenv(env_name);
}

Status BadSetting(const char* env_name, const char* value, const char* expected) {
  return InvalidArgument(std::string(env_name) + "=\"" + value + "\" is not " + expected,
                         "fix the environment variable (or the URI parameter "
                         "sqlsteward_...) of this process; docs/extension.md lists the settings");
}

Result<std::chrono::milliseconds> Millis(const UriLookup& uri, const char* uri_name,
                                         const char* env_name, std::chrono::milliseconds dflt) {
  const char* v = Setting(uri, uri_name, env_name);
  if (v == nullptr || *v == '\0') return dflt;
  std::int64_t ms = 0;
  const char* end = v + std::strlen(v);
  auto [ptr, ec] = std::from_chars(v, end, ms);
  // A week at most, as the command line's durations.
  if (ec != std::errc() || ptr != end || ms < 0 || ms > 604'800'000) {
    return BadSetting(env_name, v, "a whole number of milliseconds from 0 to 604800000");
  }
  return std::chrono::milliseconds(ms);
}

Result<bool> Flag(const UriLookup& uri, const char* uri_name, const char* env_name) {
  const char* v = Setting(uri, uri_name, env_name);
  if (v == nullptr || *v == '\0') return false;
  const std::string_view s(v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  return BadSetting(env_name, v, "1 or 0");
}

}  // namespace

Result<ExtensionConfig> ReadConfig(const UriLookup& uri) {
  ExtensionConfig config;
  if (const char* v = Setting(uri, "sqlsteward_ownership", "SQLSTEWARD_OWNERSHIP");
      v != nullptr && *v != '\0') {
    const std::string_view s(v);
    if (s == "exclusive") {
      config.ownership = Ownership::kExclusive;
    } else if (s != "shared") {
      return BadSetting("SQLSTEWARD_OWNERSHIP", v, "\"shared\" or \"exclusive\"");
    }
  }
  SQLSTEWARD_ASSIGN_OR_RETURN(config.take_over,
                              Flag(uri, "sqlsteward_take_over", "SQLSTEWARD_TAKE_OVER"));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      config.wait_for_owner, Millis(uri, "sqlsteward_wait_for_owner_ms",
                                    "SQLSTEWARD_WAIT_FOR_OWNER_MS", config.wait_for_owner));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      config.handover_timeout, Millis(uri, "sqlsteward_handover_timeout_ms",
                                      "SQLSTEWARD_HANDOVER_TIMEOUT_MS", config.handover_timeout));
  SQLSTEWARD_ASSIGN_OR_RETURN(
      config.checkpoint_wait, Millis(uri, "sqlsteward_checkpoint_wait_ms",
                                     "SQLSTEWARD_CHECKPOINT_WAIT_MS", config.checkpoint_wait));
  return config;
}

}  // namespace sqlsteward::ext
