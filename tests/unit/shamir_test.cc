// Shamir t-of-n sharing over GF(2^61 - 1): every t-subset reconstructs, no (t-1)-subset does,
// and malformed or mismatched shares are refused.
#include "common/crypto/shamir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "common/crypto/random.h"
#include "common/error.h"

namespace fedtl::crypto::shamir {
namespace {

std::vector<std::uint32_t> xsFromOne(std::uint32_t n) {
  std::vector<std::uint32_t> xs(n);
  std::iota(xs.begin(), xs.end(), 1u);
  return xs;
}

std::vector<std::uint8_t> bytesOf(const SecretBytes& secret) { return {secret.begin(), secret.end()}; }

std::vector<Share> pick(const std::vector<Share>& shares, const std::vector<std::size_t>& indices) {
  std::vector<Share> out;
  for (std::size_t i : indices) out.push_back(shares[i]);
  return out;
}

// Calls visit(indices) for every k-subset of {0..n-1}.
template <typename Visit>
void forEachSubset(std::size_t n, std::size_t k, Visit visit) {
  std::vector<bool> chosen(n, false);
  std::fill(chosen.begin(), chosen.begin() + static_cast<std::ptrdiff_t>(k), true);
  do {
    std::vector<std::size_t> indices;
    for (std::size_t i = 0; i < n; ++i)
      if (chosen[i]) indices.push_back(i);
    visit(indices);
  } while (std::prev_permutation(chosen.begin(), chosen.end()));
}

TEST(Shamir, EveryThresholdSubsetOfSevenReconstructsAndNoSmallerOneDoes) {
  const SecretBytes secret = randomSecret(32);
  for (std::uint32_t t = 1; t <= 7; ++t) {
    SCOPED_TRACE(t);
    const std::vector<Share> shares = split(secret, t, xsFromOne(7));
    ASSERT_EQ(shares.size(), 7u);
    int subsets = 0;
    forEachSubset(7, t, [&](const std::vector<std::size_t>& indices) {
      EXPECT_EQ(bytesOf(reconstruct(pick(shares, indices))), bytesOf(secret));
      ++subsets;
    });
    EXPECT_GT(subsets, 0);
    if (t > 1) {
      forEachSubset(7, t - 1, [&](const std::vector<std::size_t>& indices) {
        EXPECT_THROW(reconstruct(pick(shares, indices)), CryptoError);
      });
    }
  }
}

TEST(Shamir, RandomSubsetsOfTwentyReconstruct) {
  const SecretBytes secret = randomSecret(32);
  const std::uint32_t n = 20, t = 11;
  const std::vector<Share> shares = split(secret, t, xsFromOne(n));
  std::mt19937 choose(12345);  // only picks which shares to use
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  for (int trial = 0; trial < 200; ++trial) {
    std::shuffle(order.begin(), order.end(), choose);
    const std::size_t k = t + choose() % (n - t + 1);  // t..n shares
    const std::vector<std::size_t> some(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
    EXPECT_EQ(bytesOf(reconstruct(pick(shares, some))), bytesOf(secret));
    const std::vector<std::size_t> tooFew(order.begin(), order.begin() + (t - 1));
    EXPECT_THROW(reconstruct(pick(shares, tooFew)), CryptoError);
  }
}

TEST(Shamir, SecretsOfAnyLengthAndExtremeBytes) {
  for (std::size_t size : {1u, 6u, 7u, 8u, 13u, 14u, 32u, 64u, 100u}) {
    for (std::uint8_t fill : {std::uint8_t{0x00}, std::uint8_t{0xff}}) {
      SCOPED_TRACE(size);
      const std::vector<std::uint8_t> secret(size, fill);
      const auto shares = split(secret, 3, std::vector<std::uint32_t>{5, 9, 0xffffffffu, 2});
      EXPECT_EQ(shares[0].secretSize, size);
      EXPECT_EQ(shares[0].threshold, 3u);
      EXPECT_EQ(bytesOf(reconstruct(pick(shares, {3, 2, 0}))), secret);
    }
  }
}

TEST(Shamir, SharesAreFreshAndValuesAreFieldElements) {
  const SecretBytes secret = randomSecret(32);
  const auto a = split(secret, 3, xsFromOne(5));
  const auto b = split(secret, 3, xsFromOne(5));
  EXPECT_NE(std::vector<std::uint64_t>(a[0].y.begin(), a[0].y.end()),
            std::vector<std::uint64_t>(b[0].y.begin(), b[0].y.end()));
  for (const Share& share : a)
    for (std::uint64_t y : share.y) EXPECT_LT(y, kPrime);
  EXPECT_EQ(a[0].y.size(), 5u);  // ceil(32 / 7) limbs
}

TEST(Shamir, SplitRefusesBadParameters) {
  const SecretBytes secret = randomSecret(32);
  EXPECT_THROW(split(secret, 0, xsFromOne(5)), ConfigError);
  EXPECT_THROW(split(secret, 6, xsFromOne(5)), ConfigError);
  EXPECT_THROW(split(secret, 2, std::vector<std::uint32_t>{1, 2, 2}), ConfigError);
  EXPECT_THROW(split(secret, 2, std::vector<std::uint32_t>{0, 1, 2}), ConfigError);
  EXPECT_THROW(split(std::vector<std::uint8_t>{}, 2, xsFromOne(3)), ConfigError);
}

TEST(Shamir, ReconstructRefusesMalformedShares) {
  const SecretBytes secret = randomSecret(32);
  const auto shares = split(secret, 3, xsFromOne(5));
  EXPECT_THROW(reconstruct(std::vector<Share>{}), CryptoError);

  auto duplicate = pick(shares, {0, 1, 1});
  EXPECT_THROW(reconstruct(duplicate), CryptoError);
  auto sameX = pick(shares, {0, 1, 2});
  sameX[2].x = sameX[0].x;
  EXPECT_THROW(reconstruct(sameX), CryptoError);
  auto zeroX = pick(shares, {0, 1, 2});
  zeroX[1].x = 0;
  EXPECT_THROW(reconstruct(zeroX), CryptoError);
  auto lowered = pick(shares, {0, 1});  // claiming t = 2 on one share is a disagreement
  lowered[0].threshold = 2;
  EXPECT_THROW(reconstruct(lowered), CryptoError);
  auto outOfField = pick(shares, {0, 1, 2});
  outOfField[1].y[0] = kPrime;
  EXPECT_THROW(reconstruct(outOfField), CryptoError);
  auto shortShare = pick(shares, {0, 1, 2});
  shortShare[2].y.pop_back();
  EXPECT_THROW(reconstruct(shortShare), CryptoError);

  // Mixing shares of two secrets interpolates to garbage, which does not fit in 32 bytes.
  const auto others = split(randomSecret(32), 3, xsFromOne(5));
  std::vector<Share> mixed = {shares[0], shares[1], others[2]};
  EXPECT_THROW(reconstruct(mixed), CryptoError);
}

}  // namespace
}  // namespace fedtl::crypto::shamir
