#include "common/crypto/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace fedtl::crypto {
namespace {

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf").
TEST(Sha256, NistVectors) {
  EXPECT_EQ(toHex(sha256("abc", 3)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(toHex(sha256("", 0)), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(toHex(sha256(two.data(), two.size())), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShotAndResets) {
  std::string million(1000000, 'a');
  Sha256 h;
  for (std::size_t i = 0; i < million.size(); i += 4096) h.update(million.data() + i, std::min<std::size_t>(4096, million.size() - i));
  EXPECT_EQ(toHex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  h.update("abc");
  EXPECT_EQ(toHex(h.finish()), toHex(sha256("abc", 3)));
}

}  // namespace
}  // namespace fedtl::crypto
