// The sha256 of a snapshot file, as its manifest records it: computed when
// the snapshot is made and again by every verify.
//
// Thread safety: safe for concurrent use (pread only: no shared offset).
#ifndef SQLSTEWARD_SNAPSHOT_CHECKSUM_H_
#define SQLSTEWARD_SNAPSHOT_CHECKSUM_H_

#include <cstdint>
#include <string>

#include "posix/env.h"
#include "snapshot/progress.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

// The sha256 (hex) of the open file `fd`, from the start to its end,
// reporting progress in pages of `page_size` (0: 4096) as kChecksum.
// kCorruption "size mismatch" when the end is not at `size` bytes.
Result<std::string> HashFile(posix::Env* env, int fd, const std::string& path, std::int64_t size,
                             std::int64_t page_size, Reporter* reporter);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_CHECKSUM_H_
