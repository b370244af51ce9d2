// dqlite:// addresses and node addresses (client.h).
#include <charconv>
#include <string>

#include "base/status_builders.h"
#include "cluster/client.h"

namespace sqlsteward::cluster {
namespace {

constexpr std::string_view kScheme = "dqlite://";
constexpr std::string_view kAddressHint =
    "write dqlite://HOST:PORT[,HOST:PORT...]/NAME, e.g. "
    "dqlite://10.0.0.1:9001,10.0.0.2:9001/app.db";

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kVoter:
      return "voter";
    case Role::kStandBy:
      return "stand-by";
    case Role::kSpare:
      return "spare";
  }
  return "unknown";
}

Status CheckNodeAddress(std::string_view node) {
  const std::size_t colon = node.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgument("node address '" + std::string(node) + "' is not HOST:PORT",
                           "give each node as HOST:PORT, e.g. 127.0.0.1:9001");
  }
  const std::string_view port = node.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return InvalidArgument("node address '" + std::string(node) + "' has no valid port",
                           "the port is a number from 1 to 65535, e.g. 127.0.0.1:9001");
  }
  return Status();
}

Result<Address> ParseAddress(std::string_view uri) {
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument("'" + std::string(uri) + "' is not a dqlite:// address",
                           std::string(kAddressHint));
  }
  std::string_view rest = uri.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return InvalidArgument("'" + std::string(uri) + "' names no database",
                           std::string(kAddressHint));
  }
  Address out;
  out.database = std::string(rest.substr(slash + 1));
  if (out.database.empty() || out.database.find('/') != std::string::npos ||
      out.database.find('\0') != std::string::npos || out.database == "." ||
      out.database == "..") {
    return InvalidArgument("'" + std::string(uri) + "' has no valid database name",
                           "the database is one plain name after the nodes; " +
                               std::string(kAddressHint));
  }
  std::string_view nodes = rest.substr(0, slash);
  while (true) {
    const std::size_t comma = nodes.find(',');
    std::string_view node = nodes.substr(0, comma);
    SQLSTEWARD_RETURN_IF_ERROR(CheckNodeAddress(node));
    out.nodes.emplace_back(node);
    if (comma == std::string_view::npos) break;
    nodes = nodes.substr(comma + 1);
  }
  return out;
}

}  // namespace sqlsteward::cluster
