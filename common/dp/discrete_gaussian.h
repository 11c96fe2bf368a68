// Exact sampling from the discrete Gaussian N_Z(0, σ²): P(x) ∝ exp(−x²/(2σ²)) on the integers,
// the noise of fedtl's differential privacy (added to fixed-point encodings before masking).
//
// Algorithm: Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for Differential Privacy"
// (NeurIPS 2020, arXiv:2004.00010), Section 5: Bernoulli(exp(−γ)) by von Neumann's
// alternating-series trick (their Algorithm 1, with γ > 1 split into ⌊γ⌋ trials of
// Bernoulli(exp(−1)) and one of exp(−(γ − ⌊γ⌋))); the discrete Laplace with scale t (their
// Algorithm 2, s = 1); and the discrete Gaussian by rejection from the discrete Laplace with
// t = ⌊σ⌋ + 1, accepting Y with probability exp(−(|Y| − σ²/t)²/(2σ²)) (their Algorithm 3).
// All arithmetic is on integers: no exp, log or floating point decides any sample, and every
// uniform integer comes from UniformSource (AES-256-CTR keystream, exact rejection).
//
// The one approximation is σ² itself: σ is given as a double, and the sampler runs the exact
// algorithm for the dyadic rational σ̂² = p / 2^k ≥ σ², p = ⌈σ²·2^k⌉ with k chosen so that p has
// 41 bits (k = 0 when σ² ≥ 2^40), then put in lowest terms: 0 ≤ σ̂² − σ² < 2^−40·σ², and
// σ̂² = σ² exactly whenever σ² is such a dyadic (σ = 0.5, 1, 3, 100, ...). Rounding up means the noise is never
// smaller than requested, so a privacy bound computed for σ still holds. (A second, negligible
// deviation: a candidate whose rejection exponent γ would not fit 128-bit arithmetic, γ > 2^14,
// is rejected outright instead of with probability 1 − exp(−γ), a change of at most exp(−16384)
// in its acceptance probability.)
//
// Note that σ² is the scale parameter of N_Z(0, σ²), not its variance: the variance is below σ²
// (CKS 2020), by a relative 2·10^−7 at σ = 1 and less than 10^−15 from σ = 2 (summing the pmf);
// at σ = 0.5 it is 0.215. Not constant time: the work per sample varies, so only the total time of a vector,
// which says next to nothing about any one coordinate, is observable.
//
// Throughput (bench/dp_noise.cc, fedtl_bench_dp): see docs/protocol.md "Differential privacy".
#pragma once

#include <cstdint>

#include "common/crypto/mask_prg.h"
#include "common/dp/uniform_source.h"
#include "common/span.h"

namespace fedtl::dp {

// The σ range the 128-bit exact arithmetic covers (σ = 0 means no noise).
inline constexpr double kMinDiscreteGaussianSigma = 1.0 / 256;
inline constexpr double kMaxDiscreteGaussianSigma = 268435456.0;  // 2^28

class DiscreteGaussianSampler {
 public:
  // σ = 0 (every sample is 0) or kMinDiscreteGaussianSigma <= σ <= kMaxDiscreteGaussianSigma;
  // ConfigError otherwise.
  explicit DiscreteGaussianSampler(double sigma);

  // One sample of N_Z(0, σ̂²).
  std::int64_t operator()(UniformSource& source) const;

  double sigma() const { return sigma_; }
  // σ̂², the scale parameter actually sampled: p / 2^k >= σ², within 2^-40 relative.
  double sampledSigmaSquared() const;
  std::uint64_t sigmaSquaredNumerator() const { return numerator_; }         // p
  unsigned sigmaSquaredDenominatorLog2() const { return denominatorLog2_; }  // k

 private:
  double sigma_;
  std::uint64_t numerator_ = 0;        // p
  unsigned denominatorLog2_ = 0;       // k, q = 2^k
  std::uint64_t laplaceScale_ = 1;     // t = ⌊σ⌋ + 1
  u128 scaledSigmaSquared_ = 0;        // q·t: |Y|·q·t − p is the rejection numerator's root
  u128 largestScalableMagnitude_ = 0;  // the largest |Y| with |Y|·q·t < 2^128
  u128 rejectionDenominator_ = 1;      // 2·p·q·t²
};

// The exact building blocks, exposed for their tests.
// Bernoulli(exp(−1)).
bool bernoulliExpMinusOne(UniformSource& source);
// Bernoulli(exp(−numerator/denominator)), denominator >= 1.
bool bernoulliExp(UniformSource& source, u128 numerator, u128 denominator);
// Discrete Laplace: P(x) ∝ exp(−|x|/t) on the integers, t >= 1 (CKS 2020, Algorithm 2, s = 1).
std::int64_t discreteLaplace(UniformSource& source, std::uint64_t t);

// out[i] = independent samples of N_Z(0, σ²), drawn from `prg`.
void sampleDiscreteGaussian(Span<std::int64_t> out, double sigma, crypto::MaskPrg& prg);

// values[i] += an independent N_Z(0, σ²) sample, modulo 2^32 / 2^64: negative noise wraps around,
// which a ring sum tolerates as long as the true noisy sum stays within the ring's signed range
// (decodeNoisySum in common/dp/dp_config.h). Draws exactly what sampleDiscreteGaussian would
// from the same `prg`. σ = 0 leaves `values` and `prg` untouched.
void addDiscreteGaussian(Span<std::uint32_t> values, double sigma, crypto::MaskPrg& prg);
void addDiscreteGaussian(Span<std::uint64_t> values, double sigma, crypto::MaskPrg& prg);

}  // namespace fedtl::dp
