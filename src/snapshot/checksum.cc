#include "snapshot/checksum.h"

#include <vector>

#include "base/sha256.h"
#include "base/status_builders.h"
#include "snapshot/file_io.h"

namespace sqlsteward::internal {
namespace {

constexpr std::size_t kHashChunk = 1 << 20;

}  // namespace

Result<std::string> HashFile(posix::Env* env, int fd, const std::string& path, std::int64_t size,
                             std::int64_t page_size, Reporter* reporter) {
  const std::int64_t unit = page_size > 0 ? page_size : 4096;
  const std::int64_t total_pages = (size + unit - 1) / unit;
  reporter->Begin(SnapshotPhase::kChecksum, total_pages, unit);
  Sha256 hash;
  std::vector<char> buffer(kHashChunk);
  std::int64_t offset = 0;
  for (;;) {
    std::size_t got = 0;
    SQLSTEWARD_RETURN_IF_ERROR(
        ReadAt(env, fd, buffer.data(), buffer.size(), static_cast<off_t>(offset), path, &got));
    if (got == 0) break;
    hash.Update(buffer.data(), got);
    offset += static_cast<std::int64_t>(got);
    reporter->Update(SnapshotPhase::kChecksum, offset / unit, total_pages);
  }
  reporter->End(SnapshotPhase::kChecksum, total_pages, total_pages);
  if (offset != size) {
    return Corruption("size mismatch: " + path + " changed size while it was read (" +
                          std::to_string(offset) + " bytes read, " + std::to_string(size) +
                          " expected)",
                      "something else is writing the file; snapshots must not be modified");
  }
  return hash.FinishHex();
}

}  // namespace sqlsteward::internal
