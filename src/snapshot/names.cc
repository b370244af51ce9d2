#include "snapshot/names.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "base/status_builders.h"

namespace sqlsteward::internal {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string TempName(std::string_view hex) {
  return std::string(kTempPrefix) + std::string(hex) + std::string(kTempSuffix);
}

std::string ManifestTempName(std::string_view hex) {
  return std::string(kTempPrefix) + std::string(hex) + std::string(kManifestTempSuffix);
}

std::optional<SnapshotFileName> ParseSnapshotFileName(std::string_view file,
                                                      std::string_view prefix) {
  // <prefix>-yyyymmddThhmmssZ-<seq>.db. The length first: a prefix that
  // overlaps ".db" ("app.db" against the file "app.db") left `rest` shorter
  // than the suffix removed from it, and the checks below read past the
  // name (found by fuzz/snapshot_name_fuzz.cc).
  if (file.size() < prefix.size() + 3 || !file.starts_with(prefix) || !file.ends_with(".db")) {
    return std::nullopt;
  }
  std::string_view rest = file.substr(prefix.size());
  rest.remove_suffix(3);
  if (rest.size() < 19 || rest[0] != '-' || rest[17] != '-') return std::nullopt;
  std::string_view ts = rest.substr(1, 16);
  if (!AllDigits(ts.substr(0, 8)) || ts[8] != 'T' || !AllDigits(ts.substr(9, 6)) || ts[15] != 'Z') {
    return std::nullopt;
  }
  std::string_view seq = rest.substr(18);
  if (!AllDigits(seq) || seq.size() > 15) return std::nullopt;
  return SnapshotFileName{std::string(ts), std::stoll(std::string(seq))};
}

std::int64_t NextSequence(const std::vector<std::string>& names, const std::string& stem) {
  std::int64_t seq = 0;
  for (const std::string& name : names) {
    if (!std::string_view(name).starts_with(stem)) continue;
    std::string_view rest = std::string_view(name).substr(stem.size());
    std::size_t end = rest.find('.');
    if (end == std::string_view::npos || !AllDigits(rest.substr(0, end)) || end > 15) continue;
    seq = std::max<std::int64_t>(seq, std::stoll(std::string(rest.substr(0, end))));
  }
  return seq + 1;
}

Status CheckName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
    return InvalidArgument(
        "invalid snapshot name \"" + name + "\"",
        "a name is a file name prefix: not empty, no '/', not starting with '.'");
  }
  return Status();
}

std::string DefaultName(const std::string& db_path) {
  std::string stem = std::filesystem::path(db_path).stem().string();
  return stem.empty() || stem[0] == '.' ? "snapshot" : stem;
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string AbsolutePath(const std::string& path) {
  // Path arithmetic and getcwd(3) only: no file of ours is touched.
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

}  // namespace sqlsteward::internal
