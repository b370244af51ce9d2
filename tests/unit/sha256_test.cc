// SHA-256 against the NIST FIPS 180-4 example vectors, through the portable
// compression function and, where the CPU has them, the SHA extensions.
#include "base/sha256.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sqlsteward::internal {
namespace {

constexpr const char* k448Bits = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr const char* k896Bits =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
    "lmnopqrsmnopqrstnopqrstu";

class Sha256Test : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    Sha256::ForcePortableForTesting(GetParam());
    if (!GetParam() && !Sha256::UsesCpuExtensions()) {
      GTEST_SKIP() << "this CPU has no SHA extensions; the portable code is tested alone";
    }
  }
  void TearDown() override { Sha256::ForcePortableForTesting(false); }
};

TEST_P(Sha256Test, EmptyMessage) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_P(Sha256Test, Abc) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_P(Sha256Test, Message448Bits) {
  EXPECT_EQ(Sha256Hex(k448Bits),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_P(Sha256Test, Message896Bits) {
  EXPECT_EQ(Sha256Hex(k896Bits),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_P(Sha256Test, OneMillionA) {
  EXPECT_EQ(Sha256Hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // The same message in pieces that straddle block boundaries.
  Sha256 hash;
  const std::string piece(997, 'a');
  std::size_t fed = 0;
  while (fed + piece.size() <= 1'000'000) {
    hash.Update(piece);
    fed += piece.size();
  }
  hash.Update(std::string(1'000'000 - fed, 'a'));
  EXPECT_EQ(hash.FinishHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_P(Sha256Test, ResetStartsANewMessage) {
  Sha256 hash;
  hash.Update("something else");
  hash.FinishHex();
  hash.Reset();
  hash.Update("a");
  hash.Update("bc");
  EXPECT_EQ(hash.FinishHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

INSTANTIATE_TEST_SUITE_P(Implementations, Sha256Test, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "Portable" : "CpuExtensions";
                         });

// Every length around the padding boundaries (55, 56, 63, 64 bytes, ...),
// split at every position: the incremental and the one-shot digest agree,
// and both implementations agree.
TEST(Sha256, ImplementationsAgreeOnEveryLengthAndSplit) {
  std::mt19937 rng(42);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (std::size_t len = 0; len <= data.size(); ++len) {
    const std::string_view message(data.data(), len);
    Sha256::ForcePortableForTesting(true);
    const std::string portable = Sha256Hex(message);
    Sha256::ForcePortableForTesting(false);
    ASSERT_EQ(Sha256Hex(message), portable) << "length " << len;
    for (std::size_t split = 0; split <= len; split += 7) {
      Sha256 hash;
      hash.Update(message.substr(0, split));
      hash.Update(message.substr(split));
      ASSERT_EQ(hash.FinishHex(), portable) << "length " << len << " split " << split;
    }
  }
}

}  // namespace
}  // namespace sqlsteward::internal
