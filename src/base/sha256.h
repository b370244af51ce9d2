// SHA-256 (FIPS 180-4), for snapshot and migration checksums.
//
// No dependency the project may use provides a hash, so this is a small
// implementation of the standard: the portable compression function follows
// section 6.2.2 step by step; on x86-64 CPUs with the SHA extensions
// (Intel SHA-NI, detected at run time) the same function runs on those
// instructions, about 5x faster, which matters when hashing a snapshot of
// several GiB. Both are checked against the NIST vectors in
// tests/unit/sha256_test.cc.
//
// Thread safety: a Sha256 object is used by one thread at a time; the free
// function is safe for concurrent use.
#ifndef SQLSTEWARD_BASE_SHA256_H_
#define SQLSTEWARD_BASE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sqlsteward::internal {

class Sha256 {
 public:
  static constexpr std::size_t kDigestSize = 32;
  using Digest = std::array<std::uint8_t, kDigestSize>;

  Sha256();

  // Adds `data` to the message. Any number of calls, of any sizes.
  void Update(std::string_view data);
  void Update(const void* data, std::size_t size);

  // Pads the message and returns its digest. The object must not be used
  // again afterwards, except after Reset().
  Digest Finish();
  // Finish() as 64 lower-case hexadecimal digits.
  std::string FinishHex();

  // Starts a new message.
  void Reset();

  // For tests: run the portable compression function even where the CPU has
  // the SHA extensions.
  static void ForcePortableForTesting(bool portable);
  // True when this CPU's SHA extensions are in use.
  static bool UsesCpuExtensions();

 private:
  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> block_;
  std::size_t block_used_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// The digest of `data` as 64 lower-case hexadecimal digits.
std::string Sha256Hex(std::string_view data);

// Digest as lower-case hexadecimal.
std::string ToHex(const Sha256::Digest& digest);

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_BASE_SHA256_H_
