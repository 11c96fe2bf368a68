// Uniform integers and exact Bernoulli trials from a cryptographic keystream: the only source
// of randomness of the differential-privacy noise (common/dp/discrete_gaussian.h).
//
// The words come from a crypto::MaskPrg (AES-256-CTR), which the caller seeds from
// crypto::randomSecret(MaskPrg::kSeedSize) in production and from a fixed seed in tests. They
// are read ahead in blocks; the block is wiped (OPENSSL_cleanse) when the source is destroyed,
// because the noise it turns into must stay secret: whoever learns it can subtract it.
//
// Every draw is exact: a uniform integer in [0, n) is made by rejection, never by `word % n`
// (which favours small values whenever n does not divide 2^64), so Bernoulli(a/b) =
// [uniform in [0, b) < a] has probability exactly a/b.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/crypto/mask_prg.h"

namespace fedtl::dp {

using u128 = unsigned __int128;

class UniformSource {
 public:
  // Draws from `prg`, which must outlive the source. The source reads ahead: after it is
  // destroyed, `prg` continues past words the source fetched but did not use.
  explicit UniformSource(crypto::MaskPrg& prg);
  ~UniformSource();
  UniformSource(const UniformSource&) = delete;
  UniformSource& operator=(const UniformSource&) = delete;

  // The next 64 uniform bits.
  std::uint64_t word() {
    if (next_ == kBlockWords) refill();
    return block_[next_++];
  }
  // One uniform bit.
  bool bit() {
    if (bitsLeft_ == 0) {
      bits_ = word();
      bitsLeft_ = 64;
    }
    const bool b = bits_ & 1u;
    bits_ >>= 1;
    --bitsLeft_;
    return b;
  }

  // Uniform in [0, n), n >= 1. Lemire's multiply-and-reject ("Fast random integer generation
  // in an interval", ACM TOMACS 2019): exact, and a division only in the rare rejection case.
  std::uint64_t below(std::uint64_t n) {
    u128 product = u128{word()} * n;
    auto low = static_cast<std::uint64_t>(product);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the biased leftovers
      while (low < threshold) {
        product = u128{word()} * n;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }
  // Uniform in [0, n) for 128-bit n >= 1: draw as many bits as n - 1 has and reject values >= n
  // (accepts with probability > 1/2).
  u128 below(u128 n);

  // Bernoulli(numerator / denominator), exactly; numerator <= denominator, denominator >= 1.
  bool bernoulli(std::uint64_t numerator, std::uint64_t denominator) { return below(denominator) < numerator; }
  bool bernoulli(u128 numerator, u128 denominator) { return below(denominator) < numerator; }

 private:
  static constexpr std::size_t kBlockWords = 256;  // 2 KiB per keystream call
  void refill();

  crypto::MaskPrg& prg_;
  std::uint64_t block_[kBlockWords];
  std::size_t next_ = kBlockWords;
  std::uint64_t bits_ = 0;
  unsigned bitsLeft_ = 0;
};

}  // namespace fedtl::dp
