#include "common/dp/dp_config.h"

#include <cmath>
#include <limits>

#include "common/dp/discrete_gaussian.h"
#include "common/error.h"

namespace fedtl::dp {
namespace {

double maxLevel(const FixedPointConfig& fixedPoint) { return std::ldexp(1.0, static_cast<int>(fixedPoint.bits)) - 1; }

}  // namespace

double perParticipantSigma(double sigmaTotal, std::size_t minSurvivors) {
  FEDTL_ENFORCE(std::isfinite(sigmaTotal) && sigmaTotal >= 0, ConfigError,
                "the total noise σ must be a finite number >= 0, got ", sigmaTotal);
  FEDTL_ENFORCE(minSurvivors >= 1, ConfigError, "the minimum number of survivors must be >= 1");
  return sigmaTotal / std::sqrt(static_cast<double>(minSurvivors));
}

double integerScale(const FixedPointConfig& fixedPoint) { return maxLevel(fixedPoint) / (2 * fixedPoint.clip); }

double integerL2Sensitivity(double l2Clip, double scale, std::size_t dimension) {
  return l2Clip * scale + std::sqrt(static_cast<double>(dimension));
}

double noiseTailBound(double localSigma, std::uint64_t summands) {
  return kNoiseTailStddevs * localSigma * std::sqrt(static_cast<double>(summands));
}

void checkDpConfig(const DpConfig& config) {
  FEDTL_ENFORCE(std::isfinite(config.l2Clip) && config.l2Clip > 0, ConfigError,
                "differential privacy: the L2 clip C must be a positive number, got ", config.l2Clip);
  FEDTL_ENFORCE(std::isfinite(config.noiseMultiplier) && config.noiseMultiplier > 0, ConfigError,
                "differential privacy: the noise multiplier z must be a positive number, got ", config.noiseMultiplier,
                " (z is the noise σ on the sum in units of C; DP-FedAvg uses about 1)");
  FEDTL_ENFORCE(config.minSurvivors >= 1, ConfigError,
                "differential privacy: the minimum number of survivors n_min must be >= 1");
  FEDTL_ENFORCE(config.delta > 0 && config.delta < 1, ConfigError, "differential privacy: δ must be in (0, 1), got ",
                config.delta, "; use well below 1/(number of participants), e.g. 1e-5");
}

template <typename Ring>
void checkDpConfig(const DpConfig& config, const FixedPointConfig& fixedPoint, std::size_t dimension) {
  checkDpConfig(config);
  checkFixedPointConfig<Ring>(fixedPoint);
  FEDTL_ENFORCE(dimension >= 1, ConfigError, "differential privacy: no coordinates to noise");
  FEDTL_ENFORCE(config.minSurvivors <= fixedPoint.maxSummands, ConfigError,
                "differential privacy: n_min = ", config.minSurvivors,
                " survivors exceeds the most participants summed, n_max = ", fixedPoint.maxSummands, "; lower n_min");

  const double scale = integerScale(fixedPoint);
  const double sigmaTotal = config.noiseMultiplier * config.l2Clip * scale;
  const double sigmaLocal = perParticipantSigma(sigmaTotal, config.minSurvivors);
  if (sigmaLocal < 1) {
    const double neededZ = config.noiseMultiplier / sigmaLocal;
    throw ConfigError(detail::concat(
        "differential privacy: each participant's noise would be σ_local = z·C·s/√n_min = ", config.noiseMultiplier,
        "·", config.l2Clip, "·", scale, "/√", config.minSurvivors, " = ", sigmaLocal,
        " quantisation levels, below 1: integer noise that coarse is not covered by the distributed discrete "
        "Gaussian analysis (its τ term explodes). Fix: raise the noise multiplier to at least ",
        neededZ,
        ", or raise the SecAgg bits q (each bit doubles s = (2^q - 1)/2c), or lower the SecAgg clip c, "
        "or lower n_min."));
  }
  FEDTL_ENFORCE(sigmaLocal <= kMaxDiscreteGaussianSigma, ConfigError,
                "differential privacy: each participant's noise would be σ_local = ", sigmaLocal,
                " quantisation levels, above the sampler's ", kMaxDiscreteGaussianSigma,
                ": the quantisation is far finer than the noise. Fix: lower the SecAgg bits q.");

  constexpr unsigned kRingBits = std::numeric_limits<Ring>::digits;
  const double n = static_cast<double>(fixedPoint.maxSummands);
  const double reach = n * maxLevel(fixedPoint) / 2 + noiseTailBound(sigmaLocal, fixedPoint.maxSummands);
  const double signedRange = std::ldexp(1.0, static_cast<int>(kRingBits) - 1);
  if (!(reach < signedRange)) {
    throw ConfigError(detail::concat(
        "differential privacy: the noisy sum could wrap the 2^", kRingBits, " ring: n_max·(2^q - 1)/2 + ",
        kNoiseTailStddevs, "·σ_local·√n_max = ", n, "·", maxLevel(fixedPoint), "/2 + ", kNoiseTailStddevs, "·",
        sigmaLocal, "·√", fixedPoint.maxSummands, " = ", reach, " >= 2^", kRingBits - 1,
        ". Fix: use fewer SecAgg bits q, fewer participants per round (n_max), a smaller noise multiplier",
        kRingBits == 32 ? ", or the 64-bit ring." : "."));
  }
}

template <typename Ring>
DpNoisePlan planDpNoise(const DpConfig& config, const FixedPointConfig& fixedPoint, std::size_t dimension) {
  checkDpConfig<Ring>(config, fixedPoint, dimension);
  DpNoisePlan plan;
  plan.integerScale = integerScale(fixedPoint);
  plan.sigmaTotal = config.noiseMultiplier * config.l2Clip * plan.integerScale;
  plan.sigmaPerParticipant = perParticipantSigma(plan.sigmaTotal, config.minSurvivors);
  plan.l2Sensitivity = integerL2Sensitivity(config.l2Clip, plan.integerScale, dimension);
  plan.dimension = dimension;
  return plan;
}

template <typename Ring>
void decodeNoisySum(const FixedPointCodec<Ring>& codec, Span<const Ring> sum, std::uint64_t count, double localSigma,
                    Span<float> out) {
  const FixedPointConfig& config = codec.config();
  FEDTL_ENFORCE(out.size() == sum.size(), ConfigError, "noisy fixed-point decode: ", sum.size(),
                " values but room for ", out.size());
  FEDTL_ENFORCE(count >= 1 && count <= config.maxSummands, ConfigError, "noisy fixed-point decode of a sum of ", count,
                " vectors; the configuration allows 1..", config.maxSummands);
  FEDTL_ENFORCE(std::isfinite(localSigma) && localSigma >= 0, ConfigError,
                "noisy fixed-point decode: σ_local must be a finite number >= 0, got ", localSigma);
  // count·(2^q − 1) < 2^m (checkFixedPointConfig), so its half fits Ring.
  const Ring largest = static_cast<Ring>(static_cast<Ring>(count) * static_cast<Ring>(maxLevel(config)));
  const Ring centre = largest / 2;
  const double reach = static_cast<double>(largest) / 2 + 1 + noiseTailBound(localSigma, count);
  const double offsetToFloat = static_cast<double>(centre) * codec.quantum() - static_cast<double>(count) * config.clip;
  for (std::size_t i = 0; i < sum.size(); ++i) {
    const Ring fromCentre = static_cast<Ring>(sum[i] - centre);
    // Two's complement reading of the ring element: the top half stands for negative offsets.
    const double offset = (fromCentre >> (std::numeric_limits<Ring>::digits - 1)) != 0
                              ? -static_cast<double>(static_cast<Ring>(0 - fromCentre))
                              : static_cast<double>(fromCentre);
    FEDTL_ENFORCE(std::abs(offset) <= reach, DataError, "noisy fixed-point decode: coordinate ", i, " lies ", offset,
                  " levels from the centre of ", count, " noisy encodings, beyond their reach of ", reach,
                  ": the masks did not cancel, or the count or σ is wrong");
    out[i] = static_cast<float>(offset * codec.quantum() + offsetToFloat);
  }
}

template void checkDpConfig<std::uint32_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
template void checkDpConfig<std::uint64_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
template DpNoisePlan planDpNoise<std::uint32_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
template DpNoisePlan planDpNoise<std::uint64_t>(const DpConfig&, const FixedPointConfig&, std::size_t);
template void decodeNoisySum<std::uint32_t>(const FixedPointCodec<std::uint32_t>&, Span<const std::uint32_t>,
                                            std::uint64_t, double, Span<float>);
template void decodeNoisySum<std::uint64_t>(const FixedPointCodec<std::uint64_t>&, Span<const std::uint64_t>,
                                            std::uint64_t, double, Span<float>);

}  // namespace fedtl::dp
