#include "common/dp/discrete_gaussian.h"

#include <cmath>
#include <limits>

#include "common/error.h"

namespace fedtl::dp {
namespace {

constexpr unsigned kSigmaSquaredBits = 41;  // p's size: σ̂² is within a relative 2^-40 of σ²
constexpr u128 kU128Max = ~u128{0};

unsigned bitLength(u128 v) {
  const auto high = static_cast<std::uint64_t>(v >> 64);
  if (high != 0) return 128 - static_cast<unsigned>(__builtin_clzll(high));
  const auto low = static_cast<std::uint64_t>(v);
  return low == 0 ? 0 : 64 - static_cast<unsigned>(__builtin_clzll(low));
}

// Bernoulli(exp(−numerator/denominator)) for numerator <= denominator (γ in [0, 1]), CKS 2020
// Algorithm 1: K = 1; while Bernoulli(γ/K) succeeds, K += 1; succeed iff K ends odd.
// Bernoulli(γ/K) is drawn as one uniform in [0, denominator·K) below `numerator`, or, should
// that product not fit 64 bits (a denominator near 2^64, or for the Laplace's t <= 2^29 a K
// beyond 2^34, which has probability 1/(2^34)!), as the product of the independent
// Bernoulli(1/K) and Bernoulli(γ).
bool bernoulliExpFraction(UniformSource& source, std::uint64_t numerator, std::uint64_t denominator) {
  std::uint64_t k = 1;
  for (;;) {
    std::uint64_t range = 0;
    const bool success = __builtin_mul_overflow(denominator, k, &range)
                             ? source.below(k) == 0 && source.bernoulli(numerator, denominator)
                             : source.below(range) < numerator;
    if (!success) break;
    ++k;
  }
  return (k & 1) != 0;
}

// The same for 128-bit γ = numerator/denominator in [0, 1]: Bernoulli(γ/K) as the product of
// Bernoulli(1/K) (cheap, tried first) and Bernoulli(γ).
bool bernoulliExpFraction(UniformSource& source, u128 numerator, u128 denominator) {
  std::uint64_t k = 1;
  while ((k == 1 || source.below(k) == 0) && source.bernoulli(numerator, denominator)) ++k;
  return (k & 1) != 0;
}

}  // namespace

bool bernoulliExpMinusOne(UniformSource& source) {
  // Algorithm 1 with γ = 1: the first trial, Bernoulli(1/1), always succeeds; Bernoulli(1/2) is
  // one bit and Bernoulli(1/4) two, the rest a uniform draw below K.
  if (source.bit()) return false;                        // K = 2: stops (K even) with probability 1/2
  if (source.below(std::uint64_t{3}) != 0) return true;  // K = 3 (odd)
  if (source.bit() || source.bit()) return false;        // K = 4
  std::uint64_t k = 5;
  while (source.below(k) == 0) ++k;
  return (k & 1) != 0;
}

bool bernoulliExp(UniformSource& source, u128 numerator, u128 denominator) {
  FEDTL_ENFORCE(denominator != 0, ConfigError, "bernoulliExp: the denominator of γ must be positive");
  // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)): Algorithm 1 runs only on γ in [0, 1] (CKS 2020).
  u128 remainder = numerator;
  if (numerator >= denominator) {  // rare for the sampler: a division only then
    const u128 whole = numerator / denominator;
    remainder = numerator - whole * denominator;
    for (u128 i = 0; i < whole; ++i) {
      if (!bernoulliExpMinusOne(source)) return false;
    }
  }
  if (denominator <= std::numeric_limits<std::uint64_t>::max()) {
    return bernoulliExpFraction(source, static_cast<std::uint64_t>(remainder), static_cast<std::uint64_t>(denominator));
  }
  return bernoulliExpFraction(source, remainder, denominator);
}

std::int64_t discreteLaplace(UniformSource& source, std::uint64_t t) {
  FEDTL_ENFORCE(t >= 1, ConfigError, "discrete Laplace scale t must be >= 1");
  // CKS 2020 Algorithm 2 with s = 1: X = U + t·V where U is uniform in [0, t) kept with
  // probability exp(−U/t) and V is geometric, P(V = v) = (1 − e^−1)·e^−v; then a random sign,
  // rejecting the negative zero so that 0 is not counted twice.
  constexpr std::uint64_t kMaxMagnitude = std::uint64_t{1} << 62;
  for (;;) {
    const std::uint64_t u = source.below(t);
    if (!bernoulliExpFraction(source, u, t)) continue;
    std::uint64_t v = 0;
    while (bernoulliExpMinusOne(source)) ++v;
    // |X| >= 2^62 has probability below exp(−2^62/t): rejecting it changes nothing measurable
    // and keeps X an int64.
    std::uint64_t tv = 0;
    if (__builtin_mul_overflow(t, v, &tv) || tv >= kMaxMagnitude - u) continue;
    const std::uint64_t magnitude = u + tv;
    const bool negative = source.bit();
    if (negative && magnitude == 0) continue;
    return negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  }
}

DiscreteGaussianSampler::DiscreteGaussianSampler(double sigma) : sigma_(sigma) {
  FEDTL_ENFORCE(sigma == 0 || (sigma >= kMinDiscreteGaussianSigma && sigma <= kMaxDiscreteGaussianSigma), ConfigError,
                "discrete Gaussian σ must be 0 (no noise) or in [", kMinDiscreteGaussianSigma, ", ",
                kMaxDiscreteGaussianSigma, "] (quantisation levels), got ", sigma);
  if (sigma == 0) return;
  // σ = m·2^e exactly (m a 53-bit integer), so σ² = m²·2^(2e) exactly, m² < 2^106.
  int exponent = 0;
  const double fraction = std::frexp(sigma, &exponent);  // σ = fraction·2^exponent, fraction in [0.5, 1)
  const auto mantissa = static_cast<std::uint64_t>(std::ldexp(fraction, 53));
  const int e = exponent - 53;
  const u128 mantissaSquared = u128{mantissa} * mantissa;
  // Choose k >= 0 so that p = ⌈σ²·2^k⌉ = ⌈m²·2^(2e + k)⌉ has kSigmaSquaredBits bits.
  const int k = std::max(0, static_cast<int>(kSigmaSquaredBits) - static_cast<int>(bitLength(mantissaSquared)) - 2 * e);
  // m²·2^(2e + k) is a right shift of m² for every σ in range (2e + k is −64 or −65 when k > 0;
  // when k = 0, σ <= 2^28 makes 2e <= −48), rounded up: σ̂² >= σ².
  const int right = -(2 * e + k);
  u128 p = (mantissaSquared + ((u128{1} << right) - 1)) >> right;
  // p/2^k in lowest terms: smaller numbers, the same rational (σ = 1 gives 1/1, σ = 0.5 1/4).
  int reducedK = k;
  while (reducedK > 0 && (p & 1) == 0) {
    p >>= 1;
    --reducedK;
  }
  numerator_ = static_cast<std::uint64_t>(p);
  denominatorLog2_ = static_cast<unsigned>(reducedK);
  laplaceScale_ = static_cast<std::uint64_t>(std::floor(sigma)) + 1;
  // γ(Y) = (|Y| − σ̂²/t)² / (2σ̂²) = (|Y|·q·t − p)² / (2·p·q·t²), q = 2^k. Bounds (k <= 56,
  // p < 2^57, t <= 2^28 + 1): q·t < 2^85 and 2·p·q·t² < 2^114.
  const u128 q = u128{1} << reducedK;
  scaledSigmaSquared_ = q * laplaceScale_;
  largestScalableMagnitude_ = kU128Max / scaledSigmaSquared_;
  rejectionDenominator_ = 2 * p * q * laplaceScale_ * laplaceScale_;
}

double DiscreteGaussianSampler::sampledSigmaSquared() const {
  return std::ldexp(static_cast<double>(numerator_), -static_cast<int>(denominatorLog2_));
}

std::int64_t DiscreteGaussianSampler::operator()(UniformSource& source) const {
  if (numerator_ == 0) return 0;
  for (;;) {
    const std::int64_t y = discreteLaplace(source, laplaceScale_);
    const u128 magnitude = y < 0 ? u128(-static_cast<u128>(y)) : u128(y);  // |Y| < 2^62
    // |Y|·q·t − p, and its square, in 128 bits; beyond them γ > 2^128 / 2^114 = 2^14 (see the
    // header), and the candidate is rejected.
    if (magnitude > largestScalableMagnitude_) continue;
    const u128 scaled = magnitude * scaledSigmaSquared_;
    const u128 difference = scaled >= numerator_ ? scaled - numerator_ : numerator_ - scaled;
    if (difference >> 64 != 0) continue;
    if (bernoulliExp(source, difference * difference, rejectionDenominator_)) return y;
  }
}

void sampleDiscreteGaussian(Span<std::int64_t> out, double sigma, crypto::MaskPrg& prg) {
  const DiscreteGaussianSampler sampler(sigma);
  if (sigma == 0) {
    for (auto& x : out) x = 0;
    return;
  }
  UniformSource source(prg);
  for (auto& x : out) x = sampler(source);
}

namespace {

template <typename Ring>
void addNoise(Span<Ring> values, double sigma, crypto::MaskPrg& prg) {
  const DiscreteGaussianSampler sampler(sigma);
  if (sigma == 0) return;
  UniformSource source(prg);
  // Conversion of a negative int64 to an unsigned type is reduction modulo 2^m (C++17
  // [conv.integral]), and unsigned addition wraps: values[i] + noise mod 2^m.
  for (auto& v : values) v += static_cast<Ring>(sampler(source));
}

}  // namespace

void addDiscreteGaussian(Span<std::uint32_t> values, double sigma, crypto::MaskPrg& prg) {
  addNoise(values, sigma, prg);
}
void addDiscreteGaussian(Span<std::uint64_t> values, double sigma, crypto::MaskPrg& prg) {
  addNoise(values, sigma, prg);
}

}  // namespace fedtl::dp
