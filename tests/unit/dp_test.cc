// Differential privacy (common/dp): L2 clipping, the exact discrete Gaussian sampler and its
// building blocks, noise added modulo the ring, the configuration checks, the noisy-sum decode,
// and the RDP accountant against independently computed known answers.
//
// Statistical tests use fixed seeds, so they are deterministic; each tolerance is
// kStandardErrors standard errors of the statistic under the exact distribution (a two-sided
// normal tail of 6·10^-7 per check), computed from the exact pmf, never tuned to the output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/crypto/mask_prg.h"
#include "common/dp/clip.h"
#include "common/dp/discrete_gaussian.h"
#include "common/dp/dp_config.h"
#include "common/dp/rdp_accountant.h"
#include "common/dp/uniform_source.h"
#include "common/error.h"
#include "common/fixed_point.h"

namespace fedtl::dp {
namespace {

constexpr double kStandardErrors = 5;

crypto::MaskPrg seededPrg(std::uint8_t seedByte) {
  const std::vector<std::uint8_t> seed(crypto::MaskPrg::kSeedSize, seedByte);
  return crypto::MaskPrg(seed);
}

// Expects `count` successes out of `trials` to be consistent with probability p.
void expectBinomial(std::uint64_t count, std::uint64_t trials, double p, const std::string& what) {
  const double expected = static_cast<double>(trials) * p;
  const double standardError = std::sqrt(static_cast<double>(trials) * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(count), expected, kStandardErrors * standardError + 1e-9)
      << what << ": " << count << " of " << trials << ", expected p = " << p;
}

// ---------------------------------------------------------------------------------------------
// L2 clipping

TEST(DpClip, ScalesDownToTheBoundAndReturnsTheOriginalNorm) {
  std::vector<float> update = {3, 4};
  EXPECT_DOUBLE_EQ(l2Clip(update, 1.0), 5.0);
  // 0.6f and 0.8f themselves have a norm just above 1 in double; the clip shrinks them by an
  // ulp or two (0.59999990, 0.79999989) so that the bound holds exactly.
  EXPECT_NEAR(update[0], 0.6, 3e-7);
  EXPECT_NEAR(update[1], 0.8, 3e-7);
  EXPECT_LE(l2Norm(update), 1.0);
}

TEST(DpClip, LeavesUpdatesWithinTheBoundUntouched) {
  std::vector<float> inside = {0.3f, -0.4f};
  const std::vector<float> before = inside;
  EXPECT_NEAR(l2Clip(inside, 1.0), 0.5, 1e-7);
  EXPECT_EQ(inside, before);

  std::vector<float> onTheBound = {3, 4};
  EXPECT_DOUBLE_EQ(l2Clip(onTheBound, 5.0), 5.0);
  EXPECT_EQ(onTheBound, (std::vector<float>{3, 4}));

  std::vector<float> zero(10, 0.0f);
  EXPECT_EQ(l2Clip(zero, 0.1), 0.0);
  EXPECT_EQ(zero, std::vector<float>(10, 0.0f));

  std::vector<float> empty;
  EXPECT_EQ(l2Clip(empty, 1.0), 0.0);
}

TEST(DpClip, ClippedNormNeverExceedsTheBoundAndKeepsTheDirection) {
  std::mt19937 gen(7);
  std::normal_distribution<float> dist(0.0f, 3.0f);  // test data only, not noise
  for (const double bound : {1e-3, 0.1, 1.0, 7.3}) {
    std::vector<float> update(100003);
    for (auto& v : update) v = dist(gen);
    const std::vector<float> original = update;
    const double norm = l2Clip(update, bound);
    EXPECT_NEAR(norm, l2Norm(original), 1e-12 * norm);
    EXPECT_LE(l2Norm(update), bound);
    EXPECT_GE(l2Norm(update), bound * (1 - 1e-6));
    for (std::size_t i = 0; i < update.size(); i += 997) {
      EXPECT_NEAR(update[i], original[i] * bound / norm, 1e-6 * std::abs(original[i]) * bound / norm + 1e-30);
    }
  }
}

TEST(DpClip, RefusesBadBoundsAndBrokenUpdates) {
  std::vector<float> update = {1, 2};
  EXPECT_THROW(l2Clip(update, 0), ConfigError);
  EXPECT_THROW(l2Clip(update, -1), ConfigError);
  EXPECT_THROW(l2Clip(update, std::nan("")), ConfigError);
  EXPECT_THROW(l2Clip(update, INFINITY), ConfigError);
  std::vector<float> withNan = {1, NAN};
  EXPECT_THROW(l2Clip(withNan, 1), DataError);
  std::vector<float> withInf = {1, -INFINITY};
  EXPECT_THROW(l2Clip(withInf, 1), DataError);
}

// ---------------------------------------------------------------------------------------------
// Uniform integers and Bernoulli trials

TEST(DpUniform, SmallRangeIsUniform) {
  auto prg = seededPrg(1);
  UniformSource source(prg);
  constexpr std::uint64_t kTrials = 600000;
  std::vector<std::uint64_t> counts(6, 0);
  for (std::uint64_t i = 0; i < kTrials; ++i) {
    const std::uint64_t x = source.below(std::uint64_t{6});
    ASSERT_LT(x, 6u);
    ++counts[x];
  }
  for (std::size_t v = 0; v < 6; ++v) expectBinomial(counts[v], kTrials, 1.0 / 6, "value " + std::to_string(v));
}

// Ranges where `word % n` would be visibly biased: for n = 1.5·2^63, a modulo reduction lands
// below 2^63 with probability 3/4 instead of 2/3.
TEST(DpUniform, LargeRangesHaveNoModuloBias) {
  auto prg = seededPrg(2);
  UniformSource source(prg);
  constexpr std::uint64_t kTrials = 200000;
  const std::uint64_t n64 = (std::uint64_t{3} << 62);
  const u128 n128 = u128{3} << 100;
  std::uint64_t low64 = 0, low128 = 0;
  for (std::uint64_t i = 0; i < kTrials; ++i) {
    const std::uint64_t x = source.below(n64);
    ASSERT_LT(x, n64);
    low64 += x < (std::uint64_t{1} << 63);
    const u128 y = source.below(n128);
    ASSERT_TRUE(y < n128);
    low128 += y < (u128{1} << 101);
  }
  expectBinomial(low64, kTrials, 2.0 / 3, "64-bit range, below 2^63");
  expectBinomial(low128, kTrials, 2.0 / 3, "128-bit range, below 2^101");
}

TEST(DpUniform, BernoulliExpMatchesExpMinusGamma) {
  auto prg = seededPrg(3);
  UniformSource source(prg);
  constexpr std::uint64_t kTrials = 200000;
  struct Case {
    u128 numerator, denominator;
  };
  const u128 big = u128{1} << 100;  // a 128-bit denominator takes the 128-bit path
  for (const Case& c :
       {Case{0, 1}, Case{1, 3}, Case{1, 1}, Case{5, 2}, Case{7, 1}, Case{3 * (big / 2), big}, Case{big / 7, big}}) {
    std::uint64_t successes = 0;
    for (std::uint64_t i = 0; i < kTrials; ++i) successes += bernoulliExp(source, c.numerator, c.denominator);
    const double gamma = static_cast<double>(c.numerator) / static_cast<double>(c.denominator);
    expectBinomial(successes, kTrials, std::exp(-gamma), "Bernoulli(exp(-" + std::to_string(gamma) + "))");
  }
  std::uint64_t successes = 0;
  for (std::uint64_t i = 0; i < kTrials; ++i) successes += bernoulliExpMinusOne(source);
  expectBinomial(successes, kTrials, std::exp(-1.0), "Bernoulli(exp(-1))");
}

TEST(DpUniform, DiscreteLaplaceMatchesItsPmf) {
  auto prg = seededPrg(4);
  UniformSource source(prg);
  constexpr std::uint64_t kTrials = 400000;
  for (const std::uint64_t t : {1u, 3u, 20u}) {
    // P(x) = (1 − e^{−1/t})/(1 + e^{−1/t}) · e^{−|x|/t}.
    const double r = std::exp(-1.0 / static_cast<double>(t));
    auto pmf = [&](std::int64_t x) { return (1 - r) / (1 + r) * std::pow(r, static_cast<double>(std::llabs(x))); };
    std::vector<std::int64_t> samples(kTrials);
    for (auto& x : samples) x = discreteLaplace(source, t);
    for (const std::int64_t x :
         {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t(2 * t), -std::int64_t(3 * t)}) {
      const auto count = static_cast<std::uint64_t>(std::count(samples.begin(), samples.end(), x));
      expectBinomial(count, kTrials, pmf(x), "Laplace t=" + std::to_string(t) + " at " + std::to_string(x));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The discrete Gaussian

// Exact moments of N_Z(0, σ²) by summing its pmf (in long double) over |x| <= 40σ + 10, past
// which the mass is below exp(−800).
struct ExactMoments {
  double p0, variance, fourth;
};
ExactMoments exactMoments(double sigmaSquared) {
  const auto limit = static_cast<std::int64_t>(40 * std::sqrt(sigmaSquared) + 10);
  long double total = 0, second = 0, fourth = 0;
  for (std::int64_t x = -limit; x <= limit; ++x) {
    const long double xx = static_cast<long double>(x) * x;
    const long double w = std::exp(-xx / (2 * static_cast<long double>(sigmaSquared)));
    total += w;
    second += w * xx;
    fourth += w * xx * xx;
  }
  return {static_cast<double>(1 / total), static_cast<double>(second / total), static_cast<double>(fourth / total)};
}

void expectMomentsMatch(double sigma, std::size_t samples, std::uint8_t seed) {
  SCOPED_TRACE("sigma = " + std::to_string(sigma));
  const DiscreteGaussianSampler sampler(sigma);
  EXPECT_GE(sampler.sampledSigmaSquared(), sigma * sigma);
  EXPECT_LE(sampler.sampledSigmaSquared(), sigma * sigma * (1 + std::ldexp(1.0, -40)));
  const ExactMoments exact = exactMoments(sampler.sampledSigmaSquared());

  auto prg = seededPrg(seed);
  std::vector<std::int64_t> x(samples);
  sampleDiscreteGaussian(x, sigma, prg);
  long double sum = 0, sumSquares = 0;
  std::uint64_t positive = 0, negative = 0, zero = 0;
  for (const auto v : x) {
    sum += v;
    sumSquares += static_cast<long double>(v) * v;
    positive += v > 0;
    negative += v < 0;
    zero += v == 0;
  }
  const double n = static_cast<double>(samples);
  const double mean = static_cast<double>(sum) / n;
  const double secondMoment = static_cast<double>(sumSquares) / n;  // the mean is known: 0
  EXPECT_NEAR(mean, 0.0, kStandardErrors * std::sqrt(exact.variance / n));
  EXPECT_NEAR(secondMoment, exact.variance,
              kStandardErrors * std::sqrt((exact.fourth - exact.variance * exact.variance) / n));
  // Symmetry: positive − negative has mean 0 and variance n·(1 − P(0)).
  EXPECT_NEAR(static_cast<double>(positive) - static_cast<double>(negative), 0.0,
              kStandardErrors * std::sqrt(n * (1 - exact.p0)));
  expectBinomial(zero, samples, exact.p0, "P(0)");
}

TEST(DpDiscreteGaussian, MeanVarianceSymmetryAndZeroMatchTheExactDistribution) {
  expectMomentsMatch(0.5, 1000000, 10);
  expectMomentsMatch(3, 1000000, 11);
  expectMomentsMatch(100, 1000000, 12);
  expectMomentsMatch(10000, 1000000, 13);
}

TEST(DpDiscreteGaussian, VarianceIsBelowSigmaSquaredForSmallSigma) {
  // The reference itself: N_Z(0, 1/4) has variance 0.2150 (a sum over its pmf), not 0.25.
  EXPECT_NEAR(exactMoments(0.25).variance, 0.215012675, 1e-8);
  EXPECT_NEAR(exactMoments(0.25).p0, 0.786570707, 1e-8);
  EXPECT_NEAR(exactMoments(9).variance, 9.0, 1e-12);
}

TEST(DpDiscreteGaussian, PmfMatchesPointByPointForSmallSigma) {
  for (const double sigma : {0.5, 1.0, 3.0}) {
    constexpr std::size_t kSamples = 500000;
    auto prg = seededPrg(static_cast<std::uint8_t>(20 + sigma * 2));
    std::vector<std::int64_t> x(kSamples);
    sampleDiscreteGaussian(x, sigma, prg);
    const double p0 = exactMoments(sigma * sigma).p0;
    const auto limit = static_cast<std::int64_t>(std::ceil(3 * sigma));
    for (std::int64_t k = -limit; k <= limit; ++k) {
      const double p = p0 * std::exp(-static_cast<double>(k * k) / (2 * sigma * sigma));
      const auto count = static_cast<std::uint64_t>(std::count(x.begin(), x.end(), k));
      expectBinomial(count, kSamples, p, "sigma " + std::to_string(sigma) + " at " + std::to_string(k));
    }
  }
}

TEST(DpDiscreteGaussian, SameSeedSameNoiseOtherSeedOtherNoise) {
  std::vector<std::int64_t> a(1000), b(1000), c(1000);
  auto prgA = seededPrg(30);
  auto prgB = seededPrg(30);
  auto prgC = seededPrg(31);
  sampleDiscreteGaussian(a, 5, prgA);
  sampleDiscreteGaussian(b, 5, prgB);
  sampleDiscreteGaussian(c, 5, prgC);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(DpDiscreteGaussian, ZeroSigmaAddsNothingAndOutOfRangeSigmaIsRefused) {
  std::vector<std::uint32_t> values = {1, 2, 3};
  auto prg = seededPrg(32);
  addDiscreteGaussian(Span<std::uint32_t>(values), 0, prg);
  EXPECT_EQ(values, (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_THROW(DiscreteGaussianSampler(-1), ConfigError);
  EXPECT_THROW(DiscreteGaussianSampler(1e-3), ConfigError);
  EXPECT_THROW(DiscreteGaussianSampler(1e9), ConfigError);
  EXPECT_THROW(DiscreteGaussianSampler(std::nan("")), ConfigError);
  EXPECT_NO_THROW(DiscreteGaussianSampler{kMinDiscreteGaussianSigma});
  EXPECT_NO_THROW(DiscreteGaussianSampler{kMaxDiscreteGaussianSigma});
}

TEST(DpDiscreteGaussian, SampledScaleIsTheDyadicCeilingOfSigmaSquared) {
  const DiscreteGaussianSampler half(0.5);  // 0.25 = 1/2^2 exactly, in lowest terms
  EXPECT_EQ(half.sigmaSquaredNumerator(), 1u);
  EXPECT_EQ(half.sigmaSquaredDenominatorLog2(), 2u);
  const DiscreteGaussianSampler hundred(100);
  EXPECT_EQ(hundred.sigmaSquaredNumerator(), 10000u);
  EXPECT_EQ(hundred.sigmaSquaredDenominatorLog2(), 0u);
  const DiscreteGaussianSampler large(kMaxDiscreteGaussianSigma);  // 2^56 / 1
  EXPECT_EQ(large.sigmaSquaredNumerator(), std::uint64_t{1} << 56);
  EXPECT_EQ(large.sigmaSquaredDenominatorLog2(), 0u);
  const DiscreteGaussianSampler third(1.0 / 3);  // not dyadic: rounded up
  EXPECT_GT(third.sampledSigmaSquared(), 1.0 / 9 - 1e-17);
  EXPECT_LT(third.sampledSigmaSquared() / (1.0 / 9) - 1, std::ldexp(1.0, -39));
}

// Extreme σ: the 128-bit arithmetic holds and the spread is right.
TEST(DpDiscreteGaussian, ExtremeSigmasSampleSensibly) {
  for (const double sigma : {kMinDiscreteGaussianSigma, kMaxDiscreteGaussianSigma}) {
    auto prg = seededPrg(33);
    std::vector<std::int64_t> x(20000);
    sampleDiscreteGaussian(x, sigma, prg);
    double sumSquares = 0;
    for (const auto v : x) sumSquares += static_cast<double>(v) * static_cast<double>(v);
    const ExactMoments exact =
        sigma < 1 ? exactMoments(sigma * sigma) : ExactMoments{0, sigma * sigma, 3 * std::pow(sigma, 4)};
    EXPECT_NEAR(sumSquares / x.size(), exact.variance,
                kStandardErrors * std::sqrt((exact.fourth - exact.variance * exact.variance) / x.size()))
        << "sigma " << sigma;
  }
}

// ---------------------------------------------------------------------------------------------
// Noise added in the ring

template <typename Ring>
void expectNoiseAddedModuloTheRing() {
  constexpr std::size_t kD = 4000;
  std::vector<Ring> values(kD);
  for (std::size_t i = 0; i < kD; ++i) {
    const Ring pattern[] = {0, 1, static_cast<Ring>(Ring{1} << (std::numeric_limits<Ring>::digits - 1)),
                            std::numeric_limits<Ring>::max(), 12345};
    values[i] = pattern[i % 5];
  }
  std::vector<Ring> noisy = values;
  auto prgAdd = seededPrg(40);
  addDiscreteGaussian(Span<Ring>(noisy), 7.5, prgAdd);
  std::vector<std::int64_t> noise(kD);
  auto prgSample = seededPrg(40);  // the same stream: the same noise
  sampleDiscreteGaussian(noise, 7.5, prgSample);

  std::size_t wrappedBelowZero = 0;
  for (std::size_t i = 0; i < kD; ++i) {
    ASSERT_EQ(noisy[i], static_cast<Ring>(values[i] + static_cast<Ring>(noise[i]))) << i;
    // Read back as a signed difference, the ring recovers the noise exactly.
    const Ring difference = static_cast<Ring>(noisy[i] - values[i]);
    const std::int64_t signedDifference = difference > std::numeric_limits<Ring>::max() / 2
                                              ? -static_cast<std::int64_t>(static_cast<Ring>(0 - difference))
                                              : static_cast<std::int64_t>(difference);
    ASSERT_EQ(signedDifference, noise[i]);
    if (values[i] == 0 && noise[i] < 0) {
      ++wrappedBelowZero;
      EXPECT_EQ(noisy[i], static_cast<Ring>(std::numeric_limits<Ring>::max() + noise[i] + 1));
    }
  }
  EXPECT_GT(wrappedBelowZero, 0u);
}

TEST(DpRingNoise, AddsModulo2To32) { expectNoiseAddedModuloTheRing<std::uint32_t>(); }
TEST(DpRingNoise, AddsModulo2To64) { expectNoiseAddedModuloTheRing<std::uint64_t>(); }

// n participants encode, add noise and pairwise masks that cancel; the ring sum, wrapped below 0
// where values sit at −c, decodes to the float sum plus the noise.
TEST(DpRingNoise, NoisyMaskedSumDecodesThroughTheWrap) {
  constexpr std::size_t kParticipants = 5;
  constexpr std::size_t kD = 2000;
  const FixedPointConfig fixedPoint{1.0, 16, 8};
  const FixedPointCodec<std::uint32_t> codec(fixedPoint);
  const double localSigma = 40;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<std::uint32_t> sum(kD, 0);
  std::vector<std::int64_t> exactSum(kD, 0);  // Σ encodings + Σ noise, no ring
  std::vector<double> floatSum(kD, 0);
  for (std::size_t p = 0; p < kParticipants; ++p) {
    std::vector<float> update(kD);
    for (std::size_t i = 0; i < kD; ++i) update[i] = i % 4 == 0 ? -1.0f : dist(gen);  // every 4th at −c: encodes to 0
    std::vector<std::uint32_t> encoded(kD);
    auto rounding = seededPrg(static_cast<std::uint8_t>(50 + p));
    codec.encode(update, encoded, rounding);
    std::vector<std::int64_t> noise(kD);
    auto noisePrg = seededPrg(static_cast<std::uint8_t>(60 + p));
    sampleDiscreteGaussian(noise, localSigma, noisePrg);
    std::vector<std::uint8_t> maskSeed(crypto::MaskPrg::kSeedSize, static_cast<std::uint8_t>(70 + p));
    std::vector<std::uint8_t> nextSeed(crypto::MaskPrg::kSeedSize,
                                       static_cast<std::uint8_t>(70 + (p + 1) % kParticipants));
    std::vector<std::uint32_t> masked = encoded;
    auto noiseAgain = seededPrg(static_cast<std::uint8_t>(60 + p));
    addDiscreteGaussian(Span<std::uint32_t>(masked), localSigma, noiseAgain);
    crypto::addMask(Span<std::uint32_t>(masked), maskSeed);       // cancels with the previous
    crypto::subtractMask(Span<std::uint32_t>(masked), nextSeed);  // participant's subtraction
    for (std::size_t i = 0; i < kD; ++i) {
      sum[i] += masked[i];
      exactSum[i] += static_cast<std::int64_t>(encoded[i]) + noise[i];
      floatSum[i] += update[i];
    }
  }
  std::size_t negativeSums = 0;
  for (std::size_t i = 0; i < kD; ++i) negativeSums += exactSum[i] < 0;
  ASSERT_GT(negativeSums, 0u) << "the test should exercise the wrap below zero";
  std::vector<float> plainDecode(kD);
  EXPECT_THROW(codec.decodeSum(sum, kParticipants, plainDecode), DataError);

  std::vector<float> decoded(kD);
  decodeNoisySum(codec, Span<const std::uint32_t>(sum), kParticipants, localSigma, Span<float>(decoded));
  const double reach = noiseTailBound(localSigma, kParticipants);
  for (std::size_t i = 0; i < kD; ++i) {
    const double expected =
        static_cast<double>(exactSum[i]) * codec.quantum() - static_cast<double>(kParticipants) * fixedPoint.clip;
    ASSERT_NEAR(decoded[i], expected, 1e-6) << i;
    // And it is the float sum up to rounding (< 1 level each) and noise (within its tail bound).
    ASSERT_NEAR(decoded[i], floatSum[i], (kParticipants + reach) * codec.quantum()) << i;
  }

  sum[7] += 1u << 30;  // masks that did not cancel
  EXPECT_THROW(decodeNoisySum(codec, Span<const std::uint32_t>(sum), kParticipants, localSigma, Span<float>(decoded)),
               DataError);
}

// ---------------------------------------------------------------------------------------------
// Configuration and noise sizing

TEST(DpConfig, PerParticipantSigmaCoversTheMinimumSurvivors) {
  EXPECT_DOUBLE_EQ(perParticipantSigma(10, 1), 10);
  EXPECT_DOUBLE_EQ(perParticipantSigma(10, 4), 5);
  EXPECT_DOUBLE_EQ(perParticipantSigma(10, 100), 1);
  // n_min survivors each adding σ_local² sum to σ_total².
  const double local = perParticipantSigma(1234.5, 7);
  EXPECT_NEAR(7 * local * local, 1234.5 * 1234.5, 1e-6);
  EXPECT_THROW(perParticipantSigma(1, 0), ConfigError);
  EXPECT_THROW(perParticipantSigma(-1, 3), ConfigError);
}

TEST(DpConfig, PlanSizesNoiseInQuantisationLevels) {
  const DpConfig config{1.0, 1.0, 10, 1e-5};
  const FixedPointConfig fixedPoint{4.0, 16, 1024};
  const DpNoisePlan plan = planDpNoise<std::uint32_t>(config, fixedPoint, 1000000);
  EXPECT_DOUBLE_EQ(plan.integerScale, 65535.0 / 8);
  EXPECT_DOUBLE_EQ(plan.sigmaTotal, 65535.0 / 8);
  EXPECT_DOUBLE_EQ(plan.sigmaPerParticipant, 65535.0 / 8 / std::sqrt(10.0));
  EXPECT_DOUBLE_EQ(plan.l2Sensitivity, 65535.0 / 8 + 1000);
  const DdgRound round = plan.round(12);
  EXPECT_EQ(round.summands, 12u);
  EXPECT_EQ(round.dimension, 1000000u);
}

void expectConfigErrorMentioning(const std::function<void()>& call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "no ConfigError; expected one mentioning \"" << fragment << "\"";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

TEST(DpConfig, RefusesUnusableConfigurationsSayingWhatToFix) {
  const FixedPointConfig fixedPoint{4.0, 16, 100};
  const DpConfig good{1.0, 1.0, 10, 1e-5};
  EXPECT_NO_THROW(checkDpConfig<std::uint32_t>(good, fixedPoint, 1000));
  auto with = [&](auto change) {
    DpConfig config = good;
    change(config);
    return [config, fixedPoint] { checkDpConfig<std::uint32_t>(config, fixedPoint, 1000); };
  };
  expectConfigErrorMentioning(with([](DpConfig& c) { c.delta = 0; }), "δ must be in (0, 1)");
  expectConfigErrorMentioning(with([](DpConfig& c) { c.delta = 1; }), "δ must be in (0, 1)");
  expectConfigErrorMentioning(with([](DpConfig& c) { c.l2Clip = 0; }), "L2 clip");
  expectConfigErrorMentioning(with([](DpConfig& c) { c.noiseMultiplier = std::nan(""); }), "noise multiplier");
  expectConfigErrorMentioning(with([](DpConfig& c) { c.minSurvivors = 0; }), "n_min");
  expectConfigErrorMentioning(with([](DpConfig& c) { c.minSurvivors = 101; }), "lower n_min");
  // 4 bits: s = 15/8, so σ_local = 1.875/√10 < 1.
  expectConfigErrorMentioning(
      [&] {
        checkDpConfig<std::uint32_t>(good, FixedPointConfig{4.0, 4, 100}, 1000);
      },
      "raise the noise multiplier to at least");
  // 22 bits for 1024 participants fit the codec alone (1024·(2^22 − 1) < 2^32), not with noise.
  const FixedPointConfig tight{1.0, 22, 1024};
  expectConfigErrorMentioning(
      [&] {
        checkDpConfig<std::uint32_t>(DpConfig{1.0, 1.0, 1, 1e-5}, tight, 1000);
      },
      "or the 64-bit ring");
  EXPECT_NO_THROW(checkDpConfig<std::uint64_t>(DpConfig{1.0, 1.0, 1, 1e-5}, tight, 1000));
}

// ---------------------------------------------------------------------------------------------
// The accountant. Reference values computed with /usr/bin/python3 (math, numpy) from the
// formulas in rdp_accountant.h, implemented independently of this C++:
//   orders = [1 + x/10 for x in 1..99] + [12..63] + [128, 256, 512, 1024]
//   eps(α) = rdp(α) + log1p(−1/α) − (log δ + log α)/(α − 1), minimised over the orders
//   gaussian rdp(α) = T·α/(2z²); tau(σ, n) = 10·Σ_{k=1}^{n−1} exp(−2π²σ²k/(k+1))
//   ddg rdp(α) = min(α/2·l2s² + τd, α/2·(l2s² + 2·l1s·τ + τ²d)), l2s = Δ₂/(√n σ),
//                l1s = Δ₂·min(√d, Δ₂)/(√n σ)

TEST(DpAccountant, GaussianKnownAnswer) {
  // One Gaussian mechanism, σ = 1, Δ = 1, δ = 1e-5: ε = 4.728507067217623 at α = 5.4. A dense
  // search over α in (1, 200] gives 4.72839 at α = 5.43, so the grid costs 1.2·10^-4.
  RdpAccountant accountant;
  accountant.addGaussianRounds(1.0, 1);
  EXPECT_NEAR(accountant.epsilon(1e-5), 4.728507067217623, 1e-9);
  EXPECT_DOUBLE_EQ(accountant.bestOrder(1e-5), 5.4);
  // Brackets: the exact (ε, δ) curve of the Gaussian mechanism (Balle & Wang 2018, analytic
  // Gaussian; bisection on δ(ε) = Φ(−ε + 1/2) − e^ε·Φ(−ε − 1/2)) gives 4.3772, which no RDP
  // conversion can beat, and zCDP's ρ + 2√(ρ·log(1/δ)) with ρ = 1/2 gives 5.2985 (Bun & Steinke
  // 2016, Proposition 1.3), which the improved conversion must.
  EXPECT_GT(accountant.epsilon(1e-5), 4.377178095681224);
  EXPECT_LT(accountant.epsilon(1e-5), 5.298525912188081);
}

TEST(DpAccountant, GaussianCompositionGrowsLikeSqrtRounds) {
  // z = 100: ε(T = 100, 400, 1600) = 0.37529, 0.79452, 1.69372 (Python). Each 4× more rounds
  // about doubles ε (√T), far from the 4× of linear composition; the linear Tρ term adds a bit.
  const double expected[] = {0.3752912223662765, 0.794522032537103, 1.6937176062087547};
  double previous = 0;
  for (int i = 0; i < 3; ++i) {
    const std::size_t rounds = std::size_t{100} << (2 * i);
    RdpAccountant accountant;
    accountant.addGaussianRounds(100.0, rounds);
    const double epsilon = accountant.epsilon(1e-5);
    EXPECT_NEAR(epsilon, expected[i], 1e-9) << rounds << " rounds";
    const double rho = static_cast<double>(rounds) / (2 * 100.0 * 100.0);
    EXPECT_LT(epsilon, rho + 2 * std::sqrt(rho * std::log(1e5)));  // the zCDP bound
    if (previous > 0) {
      EXPECT_GT(epsilon / previous, 1.9);
      EXPECT_LT(epsilon / previous, 2.2);
    }
    previous = epsilon;
  }
}

TEST(DpAccountant, TauKnownAnswers) {
  EXPECT_EQ(ddgTau(1.0, 1), 0.0);
  EXPECT_NEAR(ddgTau(1.0, 3), 0.0005365032810126549, 1e-15);
  EXPECT_NEAR(ddgTau(1.0, 1000), 0.0005731282577500227, 1e-15);
  EXPECT_NEAR(ddgTau(0.6, 100), 1.4503305711533288, 1e-12);
  EXPECT_LT(ddgTau(2.0, 1000), 1e-16);
}

TEST(DpAccountant, DistributedDiscreteGaussianKnownAnswers) {
  const double delta = 1e-5;
  // Where τ matters: σ_local = 1 level, n = 1000, d = 10^4, Δ₂ = √1000 (z = 1 on the sum). The
  // continuous Gaussian part alone gives 4.7285; τ = 5.7·10^-4 lifts it to 4.8352.
  const DdgRound coarse{std::sqrt(1000.0), 1.0, 1000, 10000};
  EXPECT_NEAR(ddgRdp(2, coarse), 1.039532573716198, 1e-12);
  RdpAccountant coarseAccountant;
  coarseAccountant.addRounds(coarse);
  EXPECT_NEAR(coarseAccountant.epsilon(delta), 4.835245016251358, 1e-9);
  // The same z with σ_local = 2 levels: τ = 7·10^-17, indistinguishable from the Gaussian.
  RdpAccountant fine;
  fine.addRounds(DdgRound{2 * std::sqrt(1000.0), 2.0, 1000, 10000});
  EXPECT_NEAR(fine.epsilon(delta), 4.728507067217623, 1e-9);
  // fedtl's defaults with C = 1, z = 1, c = 4, q = 16, n_min = 10, d = 10^6: Δ₂ = 8192 + 1000
  // (rounding inflation) against σ_total = 8192: effectively z = 0.891 for one round.
  RdpAccountant realistic;
  realistic.addRounds(DdgRound{9192.0, 8192 / std::sqrt(10.0), 10, 1000000});
  EXPECT_NEAR(realistic.epsilon(delta), 5.400332802304442, 1e-9);
}

TEST(DpAccountant, MonotoneInRoundsAndInNoise) {
  const DdgRound base{9192.0, 2000.0, 20, 100000};
  RdpAccountant accountant;
  double previous = 0;
  for (int round = 1; round <= 50; ++round) {
    accountant.addRounds(base);
    const double epsilon = accountant.epsilon(1e-5);
    EXPECT_GT(epsilon, previous) << "round " << round;
    previous = epsilon;
  }
  EXPECT_EQ(accountant.rounds(), 50u);
  previous = std::numeric_limits<double>::infinity();
  for (const double sigma : {1.0, 2.0, 100.0, 1000.0, 3000.0, 10000.0}) {
    RdpAccountant more;
    more.addRounds(DdgRound{base.l2Sensitivity, sigma, base.summands, base.dimension}, 10);
    const double epsilon = more.epsilon(1e-5);
    EXPECT_LT(epsilon, previous) << "sigma " << sigma;
    previous = epsilon;
  }
}

TEST(DpAccountant, ConversionEdgeCases) {
  RdpAccountant none;
  EXPECT_EQ(none.epsilon(1e-5), 0.0);
  EXPECT_THROW(none.epsilon(0), ConfigError);
  EXPECT_THROW(none.epsilon(1), ConfigError);
  EXPECT_THROW(RdpAccountant(std::vector<double>{1.0}), ConfigError);
  EXPECT_THROW(ddgRdp(2, DdgRound{1, 0.3, 2, 2}), ConfigError);
  const std::vector<double> orders = {2, 8};
  const std::vector<double> infinite = {INFINITY, INFINITY};
  EXPECT_TRUE(std::isinf(rdpToEpsilon(orders, infinite, 1e-5)));
}

}  // namespace
}  // namespace fedtl::dp
