#include "common/fixed_point.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"

namespace fedtl {
namespace {

using u128 = unsigned __int128;

std::string toString(u128 v) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  return digits;
}

u128 levels(unsigned bits) { return (u128{1} << bits) - 1; }

// Values per block of rounding randomness drawn from the generator at once.
constexpr std::size_t kRoundingBlock = 1024;

}  // namespace

template <typename Ring>
void checkFixedPointConfig(const FixedPointConfig& config) {
  constexpr unsigned kRingBits = std::numeric_limits<Ring>::digits;
  FEDTL_ENFORCE(std::isfinite(config.clip) && config.clip > 0, ConfigError,
                "fixed-point clip bound c must be a positive number, got ", config.clip);
  FEDTL_ENFORCE(config.bits >= 1 && config.bits <= kMaxFixedPointBits, ConfigError,
                "fixed-point quantization bits q must be 1..", kMaxFixedPointBits, ", got ", config.bits);
  FEDTL_ENFORCE(config.maxSummands >= 1, ConfigError, "fixed-point n_max (participants summed) must be >= 1");

  const u128 ring = u128{1} << kRingBits;
  const u128 largestSum = u128{config.maxSummands} * levels(config.bits);
  if (largestSum < ring) return;

  // The ways out: the most bits for this n_max, the most participants for these bits.
  unsigned maxBits = config.bits;
  while (maxBits > 0 && u128{config.maxSummands} * levels(maxBits) >= ring) --maxBits;
  const u128 maxSummands = (ring - 1) / levels(config.bits);
  std::string fixes;
  if (maxBits >= 1) fixes += "use at most " + std::to_string(maxBits) + " quantization bits, ";
  fixes += "sum at most " + toString(maxSummands) + " participants per round";
  fixes += kRingBits == 32 ? ", or use the 64-bit ring" : "";
  throw ConfigError(detail::concat("fixed-point secure aggregation would overflow the 2^", kRingBits,
                                   " ring: n_max = ", config.maxSummands, " participants x (2^", config.bits,
                                   " - 1) = ", toString(largestSum), " >= 2^", kRingBits, " = ", toString(ring),
                                   ", so the sum would wrap around and decode to garbage. Fix: ", fixes, "."));
}

template <typename Ring>
FixedPointCodec<Ring>::FixedPointCodec(const FixedPointConfig& config) : config_(config) {
  checkFixedPointConfig<Ring>(config);
  maxLevel_ = static_cast<Ring>(levels(config.bits));
  scale_ = static_cast<double>(maxLevel_) / (2 * config.clip);
  quantum_ = (2 * config.clip) / static_cast<double>(maxLevel_);
}

template <typename Ring>
void FixedPointCodec<Ring>::encode(Span<const float> values, Span<Ring> out, crypto::MaskPrg& rounding) const {
  FEDTL_ENFORCE(out.size() == values.size(), ConfigError, "fixed-point encode: ", values.size(),
                " values but room for ", out.size());
  const double clip = config_.clip;
  const double maxLevel = static_cast<double>(maxLevel_);
  std::uint32_t random[kRoundingBlock];
  for (std::size_t begin = 0; begin < values.size(); begin += kRoundingBlock) {
    const std::size_t n = std::min(kRoundingBlock, values.size() - begin);
    rounding.fill(Span<std::uint32_t>(random, n));
    for (std::size_t i = 0; i < n; ++i) {
      const float v = values[begin + i];
      FEDTL_ENFORCE(!std::isnan(v), DataError, "fixed-point encode: value ", begin + i,
                    " is NaN (the update diverged)");
      const double x = (std::clamp<double>(v, -clip, clip) + clip) * scale_;  // in [0, 2^q - 1]
      const double below = std::floor(x);
      // Round up with probability x - below: uniform u in [0, 1) falls below the fraction.
      const double up = std::ldexp(static_cast<double>(random[i]), -32) < x - below ? 1.0 : 0.0;
      out[begin + i] = static_cast<Ring>(std::min(below + up, maxLevel));
    }
  }
}

template <typename Ring>
void FixedPointCodec<Ring>::decodeSum(Span<const Ring> sum, std::uint64_t count, Span<float> out) const {
  FEDTL_ENFORCE(out.size() == sum.size(), ConfigError, "fixed-point decode: ", sum.size(), " values but room for ",
                out.size());
  FEDTL_ENFORCE(count >= 1 && count <= config_.maxSummands, ConfigError, "fixed-point decode of a sum of ", count,
                " vectors; the configuration allows 1..", config_.maxSummands);
  const Ring largest = static_cast<Ring>(count * maxLevel_);  // < 2^m by the configuration check
  const double offset = static_cast<double>(count) * config_.clip;
  for (std::size_t i = 0; i < sum.size(); ++i) {
    FEDTL_ENFORCE(sum[i] <= largest, DataError, "fixed-point decode: coordinate ", i, " is ",
                  static_cast<std::uint64_t>(sum[i]), ", more than ", count, " encodings can sum to (",
                  static_cast<std::uint64_t>(largest), "): the masks did not cancel or the count is wrong");
    out[i] = static_cast<float>(static_cast<double>(sum[i]) * quantum_ - offset);
  }
}

template void checkFixedPointConfig<std::uint32_t>(const FixedPointConfig&);
template void checkFixedPointConfig<std::uint64_t>(const FixedPointConfig&);
template class FixedPointCodec<std::uint32_t>;
template class FixedPointCodec<std::uint64_t>;

}  // namespace fedtl
