// The extension's settings (ReadConfig, src/ext/config.h): URI parameters
// of a client's open, which come from whatever connection string the
// application was given.
//
// The input is lines "name=value", the URI parameters of one open (a
// parameter's value ends at a NUL, as sqlite3_uri_parameter gives it). The
// environment is cleared first, so the parameters decide. Properties:
//   - the result agrees with a separate reading of the documented rules
//     (docs/extension.md): ownership "shared" or "exclusive", take_over a
//     boolean word, the three durations whole milliseconds from 0 to a
//     week, empty or absent meaning the default;
//   - a refusal is kInvalidArgument naming the variable.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ext/config.h"
#include "fuzz_check.h"

using namespace sqlsteward;
using namespace sqlsteward::ext;

namespace {

struct Expected {
  std::optional<ExtensionConfig> config;
  std::string variable;  // the first setting refused
};

// Whole decimal milliseconds, an optional '-' (only -0 survives the range).
std::optional<std::int64_t> Millis(std::string_view v) {
  std::string_view digits = v;
  bool negative = false;
  if (digits.starts_with('-')) {
    negative = true;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
    if (value > 604'800'000) return std::nullopt;
  }
  if (negative && value != 0) return std::nullopt;
  return value;
}

Expected Oracle(const std::map<std::string, std::string>& uri) {
  auto get = [&](const char* name) -> std::string_view {
    auto it = uri.find(name);
    return it == uri.end() ? std::string_view() : std::string_view(it->second.c_str());
  };
  Expected e;
  ExtensionConfig c;
  if (std::string_view v = get("sqlsteward_ownership"); !v.empty()) {
    if (v == "exclusive") {
      c.ownership = Ownership::kExclusive;
    } else if (v != "shared") {
      e.variable = "SQLSTEWARD_OWNERSHIP";
      return e;
    }
  }
  if (std::string_view v = get("sqlsteward_take_over"); !v.empty()) {
    if (v == "1" || v == "true" || v == "yes" || v == "on") {
      c.take_over = true;
    } else if (!(v == "0" || v == "false" || v == "no" || v == "off")) {
      e.variable = "SQLSTEWARD_TAKE_OVER";
      return e;
    }
  }
  const struct {
    const char* uri;
    const char* env;
    std::chrono::milliseconds ExtensionConfig::*field;
  } durations[] = {
      {"sqlsteward_wait_for_owner_ms", "SQLSTEWARD_WAIT_FOR_OWNER_MS",
       &ExtensionConfig::wait_for_owner},
      {"sqlsteward_handover_timeout_ms", "SQLSTEWARD_HANDOVER_TIMEOUT_MS",
       &ExtensionConfig::handover_timeout},
      {"sqlsteward_checkpoint_wait_ms", "SQLSTEWARD_CHECKPOINT_WAIT_MS",
       &ExtensionConfig::checkpoint_wait},
  };
  for (const auto& d : durations) {
    std::string_view v = get(d.uri);
    if (v.empty()) continue;
    std::optional<std::int64_t> ms = Millis(v);
    if (!ms) {
      e.variable = d.env;
      return e;
    }
    c.*d.field = std::chrono::milliseconds(*ms);
  }
  e.config = c;
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const char* name : {"SQLSTEWARD_OWNERSHIP", "SQLSTEWARD_TAKE_OVER",
                           "SQLSTEWARD_WAIT_FOR_OWNER_MS", "SQLSTEWARD_HANDOVER_TIMEOUT_MS",
                           "SQLSTEWARD_CHECKPOINT_WAIT_MS"}) {
    unsetenv(name);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> uri;  // the first of a repeated name, as SQLite
  for (std::size_t pos = 0; pos < input.size();) {
    std::size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    uri.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  const UriLookup lookup = [&uri](const char* name) -> const char* {
    auto it = uri.find(name);
    return it == uri.end() ? nullptr : it->second.c_str();
  };

  Result<ExtensionConfig> config = ReadConfig(lookup);
  const Expected expected = Oracle(uri);
  if (!config.ok()) {
    FUZZ_CHECK(!expected.config.has_value());
    FUZZ_CHECK(config.error().code() == StatusCode::kInvalidArgument);
    FUZZ_CHECK(config.error().message().starts_with(expected.variable + "=\""));
    return 0;
  }
  FUZZ_CHECK(expected.config.has_value());
  const ExtensionConfig& want = *expected.config;
  FUZZ_CHECK(config->ownership == want.ownership && config->take_over == want.take_over);
  FUZZ_CHECK(config->wait_for_owner == want.wait_for_owner);
  FUZZ_CHECK(config->handover_timeout == want.handover_timeout);
  FUZZ_CHECK(config->checkpoint_wait == want.checkpoint_wait);
  return 0;
}
