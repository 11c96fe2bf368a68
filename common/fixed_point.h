// Fixed-point codec for secure aggregation: turns a float update into ring elements (integers
// mod 2^32 or 2^64) that can be masked and summed, and turns the ring sum of n encoded
// updates back into the float sum.
//
// Encoding: clip each value to [-c, c], shift it by +c (offset encoding, so every encoded value
// is a non-negative integer) and scale [0, 2c] onto the integers [0, 2^q - 1] with stochastic
// rounding: v lands on one of its two neighbouring grid points with probabilities that make the
// rounding unbiased (E[decode(encode(v))] = v). One quantum is 2c / (2^q - 1).
// The sum of n encodings is at most n·(2^q - 1); it must stay below 2^m to avoid wrapping the
// ring, which checkFixedPointConfig enforces for the largest n (n_max) a round can have.
// Decoding the sum of `count` encodings: sum · quantum - count · c.
//
// The rounding randomness comes from the caller's generator, a MaskPrg: seed it from
// crypto::randomSecret(MaskPrg::kSeedSize) in production, from a fixed seed in tests.
#pragma once

#include <cstdint>

#include "common/crypto/mask_prg.h"
#include "common/span.h"

namespace fedtl {

struct FixedPointConfig {
  double clip = 1.0;              // c: values are clipped to [-c, c]
  unsigned bits = 16;             // q: each value is encoded as an integer in [0, 2^q - 1]
  std::uint64_t maxSummands = 1;  // n_max: the most encoded vectors ever summed (participants)
};

// More bits than this buy nothing (a float has 24) and would cost the stochastic rounding
// precision, which is computed in double.
inline constexpr unsigned kMaxFixedPointBits = 40;

// Throws ConfigError unless the configuration is usable with ring Ring (std::uint32_t or
// std::uint64_t): c finite and > 0, 1 <= q <= kMaxFixedPointBits, n_max >= 1, and
// n_max·(2^q - 1) < 2^m so that no sum can wrap. The message names the values and the ways out.
template <typename Ring>
void checkFixedPointConfig(const FixedPointConfig& config);

template <typename Ring>
class FixedPointCodec {
 public:
  // Checks `config` (checkFixedPointConfig).
  explicit FixedPointCodec(const FixedPointConfig& config);

  // out[i] = the encoding of values[i]; draws one 32-bit word per value from `rounding`.
  // Throws DataError on a NaN (the update is broken; clipping cannot give it a meaning).
  void encode(Span<const float> values, Span<Ring> out, crypto::MaskPrg& rounding) const;

  // out[i] = the float sum that sum[i], the ring sum of `count` encodings, stands for.
  // Throws ConfigError unless 1 <= count <= n_max, and DataError when a coordinate is larger
  // than `count` encodings can be (masks that did not cancel, or a wrong count).
  void decodeSum(Span<const Ring> sum, std::uint64_t count, Span<float> out) const;

  const FixedPointConfig& config() const { return config_; }
  double quantum() const { return quantum_; }  // 2c / (2^q - 1): the grid step in float units

 private:
  FixedPointConfig config_;
  Ring maxLevel_;  // 2^q - 1
  double scale_;   // (2^q - 1) / 2c
  double quantum_;
};

extern template void checkFixedPointConfig<std::uint32_t>(const FixedPointConfig&);
extern template void checkFixedPointConfig<std::uint64_t>(const FixedPointConfig&);
extern template class FixedPointCodec<std::uint32_t>;
extern template class FixedPointCodec<std::uint64_t>;

}  // namespace fedtl
