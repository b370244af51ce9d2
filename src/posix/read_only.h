// Opening a file we only read: the one way the library opens a file it did
// not create in this call (a sidecar to inspect, a manifest, a migration,
// a claim file, mountinfo). Such a path may hold anything another user or
// an accident left there:
//   - a symbolic link: refused (O_NOFOLLOW), never followed to a secret or
//     to /dev/zero;
//   - a FIFO, a device, a socket, a directory: refused as not a regular
//     file, and the open itself cannot block (O_NONBLOCK), so a FIFO never
//     hangs the caller;
//   - a file larger than the caller's bound: refused, so a huge or
//     endless file cannot exhaust memory.
// O_NONBLOCK has no effect on the reads of a regular file.
//
// Thread safety: every function is safe for concurrent use.
#ifndef SQLSTEWARD_POSIX_READ_ONLY_H_
#define SQLSTEWARD_POSIX_READ_ONLY_H_

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "posix/env.h"
#include "sqlsteward/status.h"

namespace sqlsteward::posix {

// A regular file opened read-only (see above). `what` names the file in
// errors ("sidecar", "manifest"). kNotFound when missing; kFailedPrecondition
// for a link or anything but a regular file; errno codes otherwise. `st`,
// when given, receives its fstat.
Result<UniqueFd> OpenRegularForReading(Env* env, const std::string& path, std::string_view what,
                                       struct stat* st = nullptr);

// The whole content of such a file, refused (kFailedPrecondition) when it
// is larger than `max_bytes`.
Result<std::string> ReadRegularFile(Env* env, const std::string& path, std::string_view what,
                                    std::int64_t max_bytes);

}  // namespace sqlsteward::posix

#endif  // SQLSTEWARD_POSIX_READ_ONLY_H_
