// Shamir t-of-n secret sharing of a short byte string (SecAgg's 32-byte mask seeds and private
// keys) over the prime field GF(p), p = 2^61 - 1. The secret is cut into 7-byte little-endian
// limbs (each < 2^56 < p); every limb gets its own random polynomial of degree t-1 whose
// constant term is the limb, and a share holds the polynomials' values at the share's x.
// Any t shares give the secret back; fewer reveal nothing about it.
#pragma once

#include <cstdint>
#include <vector>

#include "common/crypto/secret_bytes.h"
#include "common/span.h"

namespace fedtl::crypto::shamir {

inline constexpr std::uint64_t kPrime = (std::uint64_t{1} << 61) - 1;
inline constexpr std::size_t kLimbBytes = 7;

struct Share {
  std::uint32_t x = 0;            // evaluation point: the holder's id, never 0
  std::uint32_t threshold = 0;    // t: how many shares the secret needs
  std::uint32_t secretSize = 0;   // bytes in the secret
  SecretVector<std::uint64_t> y;  // one field element per limb of the secret
};

// The shares of `secret`, one per x in `xs` (non-zero and distinct), any `threshold` of which
// reconstruct it. Coefficients come from the secure random generator. Throws ConfigError for
// threshold < 1 or > xs.size(), a zero or repeated x, or an empty or oversized secret.
std::vector<Share> split(Span<const std::uint8_t> secret, std::uint32_t threshold, Span<const std::uint32_t> xs);

// The secret from at least `threshold` shares (the first `threshold` are used). Throws
// CryptoError when there are fewer than `threshold` shares, when shares disagree on threshold
// or size, when an x is zero or repeated, or when a value is not a field element or the result
// is not a byte string of the recorded size (shares of different secrets or altered shares).
// Shares can be altered without detection; check the secret against its public key or
// commitment before trusting it.
SecretBytes reconstruct(Span<const Share> shares);

}  // namespace fedtl::crypto::shamir
