#include "common/dp/uniform_source.h"

#include <openssl/crypto.h>

#include "common/span.h"

namespace fedtl::dp {

UniformSource::UniformSource(crypto::MaskPrg& prg) : prg_(prg) {}

UniformSource::~UniformSource() {
  OPENSSL_cleanse(block_, sizeof block_);
  OPENSSL_cleanse(&bits_, sizeof bits_);
}

void UniformSource::refill() {
  prg_.fill(Span<std::uint64_t>(block_, kBlockWords));
  next_ = 0;
}

u128 UniformSource::below(u128 n) {
  if (n <= UINT64_MAX) return below(static_cast<std::uint64_t>(n));
  // n > 2^64: n - 1 has 65..128 bits; keep that many of two fresh words.
  const u128 largest = n - 1;
  const unsigned highBits = 64 - static_cast<unsigned>(__builtin_clzll(static_cast<std::uint64_t>(largest >> 64)));
  const std::uint64_t highMask = highBits == 64 ? UINT64_MAX : (std::uint64_t{1} << highBits) - 1;
  for (;;) {
    const u128 candidate = (u128{word() & highMask} << 64) | word();
    if (candidate <= largest) return candidate;
  }
}

}  // namespace fedtl::dp
