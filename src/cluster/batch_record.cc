#include "cluster/batch_record.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <random>

namespace sqlsteward::cluster {

std::string NewBatchId() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      // No getrandom (old kernel, seccomp): the random device's engine
      // still gives 128 bits no other batch shares in practice.
      std::random_device device;
      for (unsigned char& b : bytes) b = static_cast<unsigned char>(device());
      break;
    }
  }
  char hex[33];
  for (std::size_t i = 0; i < sizeof bytes; ++i) {
    std::snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  }
  return std::string(hex, 32);
}

std::int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sqlsteward::cluster
