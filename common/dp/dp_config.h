// Differential privacy on top of secure aggregation: the configuration, the noise each
// participant adds in the quantised domain, the check that the noise fits the ring, and the
// decoding of a noisy ring sum.
//
// The mechanism (Kairouz, Liu, Steinke 2021, arXiv:2102.06387): each participant clips its
// update to L2 norm C (l2Clip), encodes it (FixedPointCodec: scale s = (2^q − 1)/(2c) levels per
// float unit, stochastic rounding), adds N_Z(0, σ_local²) to every encoded coordinate
// (addDiscreteGaussian) and masks. σ_local = z·C·s/√n_min, so that once at least n_min noisy
// contributions are summed the noise has variance >= (z·C·s)²: a standard deviation of z·C in
// float units, the noise multiplier z's usual meaning (DP-FedAvg).
//
// Neighbouring: one participant's update replaced by the zero update ("zero-out"; the set of
// contributors is public under SecAgg anyway). Its integer-domain L2 sensitivity is
// Δ₂ = C·s + √d: stochastic rounding moves every coordinate of the difference by less than one
// level (coupling both roundings through the same uniform, floor(v + u) − floor(w + u) differs
// from v − w by less than 1), the bound Kairouz et al. give without their conditional rounding
// (accounting_utils.rounded_l2_norm_bound with β = 0). The codec's per-coordinate clip to [−c, c]
// only shrinks norms. Replacing one update by another (replace-one) doubles the C·s part.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/dp/rdp_accountant.h"
#include "common/fixed_point.h"
#include "common/span.h"

namespace fedtl::dp {

struct DpConfig {
  double l2Clip = 1.0;           // C: each participant's update is clipped to L2 norm <= C (float units)
  double noiseMultiplier = 1.0;  // z: the noise on a sum of >= n_min contributions has σ >= z·C (float units)
  std::size_t minSurvivors = 1;  // n_min: the fewest contributions whose sum is ever unmasked
  double delta = 1e-5;           // δ of the reported (ε, δ)
};

// The σ each participant samples with so that n_min of them sum to variance >= σ_total²:
// σ_total/√n_min.
double perParticipantSigma(double sigmaTotal, std::size_t minSurvivors);

// s = (2^q − 1)/(2c): quantisation levels per float unit of the fixed-point codec.
double integerScale(const FixedPointConfig& fixedPoint);

// Δ₂ = C·s + √d (see above).
double integerL2Sensitivity(double l2Clip, double scale, std::size_t dimension);

// A sum of n independent N_Z(0, σ²) is √n·σ-subgaussian (CKS 2020: N_Z(0, σ²) is
// σ-subgaussian), so |noise| > 12·√n·σ has probability below 2·exp(−72) < 10^−31 per coordinate.
inline constexpr double kNoiseTailStddevs = 12;
double noiseTailBound(double localSigma, std::uint64_t summands);

// What a round with DP uses, in quantisation levels.
struct DpNoisePlan {
  double integerScale = 0;         // s
  double sigmaTotal = 0;           // z·C·s: the noise σ of a sum of n_min contributions
  double sigmaPerParticipant = 0;  // σ_local = sigmaTotal/√n_min: each participant's addDiscreteGaussian σ
  double l2Sensitivity = 0;        // Δ₂ = C·s + √d
  std::size_t dimension = 0;       // d: the noised coordinates
  // The accountant's record of one revealed sum of `summands` noisy contributions.
  DdgRound round(std::size_t summands) const { return {l2Sensitivity, sigmaPerParticipant, summands, dimension}; }
};

// Throws ConfigError, saying what to change, unless: C and z are finite and > 0, n_min >= 1,
// 0 < δ < 1.
void checkDpConfig(const DpConfig& config);

// The above, and with the fixed-point configuration of ring Ring and d noised coordinates:
// the fixed-point configuration is valid (checkFixedPointConfig), n_min <= n_max, d >= 1,
// 1 <= σ_local <= kMaxDiscreteGaussianSigma, and the noisy sum of n_max contributions stays
// within the ring's signed range: n_max·(2^q − 1)/2 + noiseTailBound(σ_local, n_max) < 2^(m−1),
// so that decodeNoisySum never sees a wrapped sum.
template <typename Ring>
void checkDpConfig(const DpConfig& config, const FixedPointConfig& fixedPoint, std::size_t dimension);

// checkDpConfig, then the plan.
template <typename Ring>
DpNoisePlan planDpNoise(const DpConfig& config, const FixedPointConfig& fixedPoint, std::size_t dimension);

// out[i] = the float sum that sum[i], the ring sum of `count` encodings each carrying
// N_Z(0, localSigma²) noise, stands for: like FixedPointCodec::decodeSum, but the sum may have
// wrapped below 0 or past count·(2^q − 1), so it is read as a signed offset from the centre
// count·(2^q − 1)/2. DataError when a coordinate lies further from the centre than
// count·(2^q − 1)/2 + noiseTailBound(localSigma, count): the masks did not cancel, or the count
// or σ is wrong. ConfigError unless 1 <= count <= n_max.
template <typename Ring>
void decodeNoisySum(const FixedPointCodec<Ring>& codec, Span<const Ring> sum, std::uint64_t count, double localSigma,
                    Span<float> out);

extern template void checkDpConfig<std::uint32_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
extern template void checkDpConfig<std::uint64_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
extern template DpNoisePlan planDpNoise<std::uint32_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
extern template DpNoisePlan planDpNoise<std::uint64_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
extern template void decodeNoisySum<std::uint32_t>(const FixedPointCodec<std::uint32_t>&, Span<const std::uint32_t>,
                                                   std::uint64_t, double, Span<float>);
extern template void decodeNoisySum<std::uint64_t>(const FixedPointCodec<std::uint64_t>&, Span<const std::uint64_t>,
                                                   std::uint64_t, double, Span<float>);

}  // namespace fedtl::dp
