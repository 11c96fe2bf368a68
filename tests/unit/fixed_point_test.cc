// The fixed-point codec of secure aggregation: rounding error, unbiased stochastic rounding,
// sums decoded through masked ring arithmetic, and the overflow configuration check.
#include "common/fixed_point.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/crypto/mask_prg.h"
#include "common/crypto/random.h"
#include "common/error.h"

namespace fedtl {
namespace {

crypto::MaskPrg seededRounding(std::uint8_t seedByte) {
  const std::vector<std::uint8_t> seed(crypto::MaskPrg::kSeedSize, seedByte);
  return crypto::MaskPrg(seed);
}

std::vector<float> uniformValues(std::size_t n, float low, float high, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> out(n);
  for (auto& v : out) v = dist(gen);
  return out;
}

template <typename Ring>
void expectRoundTripWithinOneQuantum(const FixedPointConfig& config) {
  const FixedPointCodec<Ring> codec(config);
  const auto values =
      uniformValues(20000, -1.5f * static_cast<float>(config.clip), 1.5f * static_cast<float>(config.clip), 1);
  std::vector<Ring> encoded(values.size());
  auto rounding = seededRounding(1);
  codec.encode(values, encoded, rounding);
  std::vector<float> decoded(values.size());
  codec.decodeSum(encoded, 1, decoded);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double clipped = std::clamp<double>(values[i], -config.clip, config.clip);
    ASSERT_LE(std::abs(decoded[i] - clipped), codec.quantum() + 1e-6 * config.clip)
        << "value " << values[i] << " decoded as " << decoded[i];
  }
}

TEST(FixedPoint, RoundTripErrorIsWithinOneQuantum) {
  expectRoundTripWithinOneQuantum<std::uint32_t>({0.5, 16, 100});
  expectRoundTripWithinOneQuantum<std::uint32_t>({2.0, 8, 1000});
  expectRoundTripWithinOneQuantum<std::uint64_t>({1.0, 24, 100000});
}

TEST(FixedPoint, ClipsToTheBoundAndMapsItsEndsExactly) {
  const FixedPointCodec<std::uint32_t> codec({1.0, 12, 10});
  const std::vector<float> values = {-1e30f, -1.0f, 1.0f, 5.0f, INFINITY, -INFINITY};
  std::vector<std::uint32_t> encoded(values.size());
  auto rounding = seededRounding(2);
  codec.encode(values, encoded, rounding);
  EXPECT_EQ(encoded, (std::vector<std::uint32_t>{0, 0, 4095, 4095, 4095, 0}));
  std::vector<float> decoded(values.size());
  codec.decodeSum(encoded, 1, decoded);
  EXPECT_FLOAT_EQ(decoded[0], -1.0f);
  EXPECT_FLOAT_EQ(decoded[2], 1.0f);
}

TEST(FixedPoint, StochasticRoundingIsUnbiased) {
  const FixedPointCodec<std::uint32_t> codec({1.0, 8, 1});
  const double q = codec.quantum();
  const std::size_t n = 200000;
  auto rounding = seededRounding(3);
  for (double fraction : {0.1, 0.37, 0.5, 0.93}) {
    // A value `fraction` of the way from grid point 100 to grid point 101.
    const float value = static_cast<float>((100 + fraction) * q - 1.0);
    const std::vector<float> values(n, value);
    std::vector<std::uint32_t> encoded(n);
    codec.encode(values, encoded, rounding);
    std::vector<float> decoded(n);
    codec.decodeSum(encoded, 1, decoded);
    double errorSum = 0;
    std::size_t up = 0;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(encoded[i] == 100 || encoded[i] == 101) << encoded[i];
      up += encoded[i] == 101;
      errorSum += decoded[i] - static_cast<double>(value);
    }
    const double meanError = errorSum / n;
    // Bernoulli(fraction) rounding: the mean error's standard deviation is q·sqrt(f(1-f)/n).
    const double sigma = q * std::sqrt(fraction * (1 - fraction) / n);
    EXPECT_LT(std::abs(meanError), 5 * sigma + 1e-7) << "fraction " << fraction;
    EXPECT_NEAR(static_cast<double>(up) / n, fraction, 5 * std::sqrt(fraction * (1 - fraction) / n));
  }
}

TEST(FixedPoint, SameGeneratorSeedGivesTheSameEncoding) {
  const FixedPointCodec<std::uint32_t> codec({1.0, 16, 10});
  const auto values = uniformValues(5000, -1, 1, 4);
  std::vector<std::uint32_t> a(values.size()), b(values.size()), c(values.size());
  auto first = seededRounding(5), second = seededRounding(5), other = seededRounding(6);
  codec.encode(values, a, first);
  codec.encode(values, b, second);
  codec.encode(values, c, other);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

template <typename Ring>
void expectMaskedSumDecodesToSum(const FixedPointConfig& config, std::size_t participants) {
  const FixedPointCodec<Ring> codec(config);
  const std::size_t d = 3000;
  std::vector<Ring> ringSum(d, 0);
  std::vector<double> trueSum(d, 0);
  // Pairwise masks as in SecAgg: i adds mask(i, j), j subtracts it; they cancel in the ring sum.
  std::vector<crypto::SecretBytes> pairSeeds;
  for (std::size_t p = 0; p + 1 < participants; ++p) pairSeeds.push_back(crypto::randomSecret(32));
  auto rounding = crypto::MaskPrg(crypto::randomSecret(crypto::MaskPrg::kSeedSize));
  for (std::size_t p = 0; p < participants; ++p) {
    const auto values = uniformValues(d, -static_cast<float>(config.clip), static_cast<float>(config.clip),
                                      static_cast<unsigned>(10 + p));
    for (std::size_t i = 0; i < d; ++i) trueSum[i] += values[i];
    std::vector<Ring> encoded(d);
    codec.encode(values, encoded, rounding);
    if (p + 1 < participants) crypto::addMask(Span<Ring>(encoded), pairSeeds[p]);  // with p+1
    if (p > 0) crypto::subtractMask(Span<Ring>(encoded), pairSeeds[p - 1]);        // with p-1
    for (std::size_t i = 0; i < d; ++i) ringSum[i] += encoded[i];
  }
  std::vector<float> decoded(d);
  codec.decodeSum(ringSum, participants, decoded);
  // Each rounding error is below one quantum and they are independent with mean 0.
  double worst = 0;
  for (std::size_t i = 0; i < d; ++i) worst = std::max(worst, std::abs(decoded[i] - trueSum[i]));
  EXPECT_LT(worst, participants * codec.quantum() + 1e-4 * participants * config.clip);
  EXPECT_LT(worst,
            6 * std::sqrt(static_cast<double>(participants)) * codec.quantum() + 1e-5 * participants * config.clip);
}

TEST(FixedPoint, SumOfMaskedEncodingsDecodesToTheSum) {
  expectMaskedSumDecodesToSum<std::uint32_t>({1.0, 16, 50}, 10);
  expectMaskedSumDecodesToSum<std::uint32_t>({0.1, 20, 4000}, 40);
  expectMaskedSumDecodesToSum<std::uint64_t>({1.0, 32, 1000}, 25);
}

TEST(FixedPoint, DecodeRefusesSumsThatCannotBeRealAndWrongCounts) {
  const FixedPointCodec<std::uint32_t> codec({1.0, 16, 10});
  std::vector<float> out(2);
  EXPECT_THROW(codec.decodeSum(std::vector<std::uint32_t>{0, 65535u * 3 + 1}, 3, out), DataError);
  codec.decodeSum(std::vector<std::uint32_t>{0, 65535u * 3}, 3, out);
  EXPECT_FLOAT_EQ(out[0], -3.0f);
  EXPECT_FLOAT_EQ(out[1], 3.0f);
  EXPECT_THROW(codec.decodeSum(std::vector<std::uint32_t>{0, 0}, 11, out), ConfigError);
  EXPECT_THROW(codec.decodeSum(std::vector<std::uint32_t>{0, 0}, 0, out), ConfigError);
}

TEST(FixedPoint, NaNIsRefused) {
  const FixedPointCodec<std::uint32_t> codec({1.0, 16, 10});
  std::vector<std::uint32_t> encoded(3);
  auto rounding = seededRounding(7);
  try {
    codec.encode(std::vector<float>{0.5f, NAN, 0.f}, encoded, rounding);
    FAIL() << "NaN was encoded";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("value 1"), std::string::npos) << e.what();
  }
}

TEST(FixedPoint, OverflowingConfigurationIsRefusedWithTheWayOut) {
  try {
    checkFixedPointConfig<std::uint32_t>({1.0, 24, 1000});
    FAIL() << "n_max 1000 at 24 bits fits no 32-bit ring";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    SCOPED_TRACE(message);
    EXPECT_NE(message.find("n_max = 1000"), std::string::npos);
    EXPECT_NE(message.find("2^24"), std::string::npos);
    EXPECT_NE(message.find("2^32"), std::string::npos);
    EXPECT_NE(message.find("at most 22 quantization bits"), std::string::npos);  // 1000·(2^22-1) < 2^32
    EXPECT_NE(message.find("at most 256 participants"), std::string::npos);      // 256·(2^24-1) < 2^32
    EXPECT_NE(message.find("64-bit ring"), std::string::npos);
  }
  EXPECT_NO_THROW(checkFixedPointConfig<std::uint64_t>({1.0, 24, 1000}));
  EXPECT_THROW(FixedPointCodec<std::uint32_t>({1.0, 24, 1000}), ConfigError);

  // The boundary: n_max·(2^q - 1) = 2^32 - 1 fits, one more participant does not.
  EXPECT_NO_THROW(checkFixedPointConfig<std::uint32_t>({1.0, 16, 65537}));  // (2^16+1)(2^16-1)
  EXPECT_THROW(checkFixedPointConfig<std::uint32_t>({1.0, 16, 65538}), ConfigError);
  EXPECT_NO_THROW(checkFixedPointConfig<std::uint32_t>({1.0, 32, 1}));
  EXPECT_THROW(checkFixedPointConfig<std::uint32_t>({1.0, 32, 2}), ConfigError);
  EXPECT_NO_THROW(checkFixedPointConfig<std::uint64_t>({1.0, 40, (std::uint64_t{1} << 24)}));
  EXPECT_THROW(checkFixedPointConfig<std::uint64_t>({1.0, 40, (std::uint64_t{1} << 24) + 1}), ConfigError);
}

TEST(FixedPoint, OtherBadConfigurationsAreRefused) {
  EXPECT_THROW(checkFixedPointConfig<std::uint32_t>({0.0, 16, 10}), ConfigError);
  EXPECT_THROW(checkFixedPointConfig<std::uint32_t>({-1.0, 16, 10}), ConfigError);
  EXPECT_THROW(checkFixedPointConfig<std::uint32_t>({NAN, 16, 10}), ConfigError);
  EXPECT_THROW(checkFixedPointConfig<std::uint32_t>({1.0, 0, 10}), ConfigError);
  EXPECT_THROW(checkFixedPointConfig<std::uint64_t>({1.0, kMaxFixedPointBits + 1, 1}), ConfigError);
  EXPECT_THROW(checkFixedPointConfig<std::uint32_t>({1.0, 16, 0}), ConfigError);
}

}  // namespace
}  // namespace fedtl
