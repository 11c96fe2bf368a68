#include "common/crypto/shamir.h"

#include <algorithm>
#include <string>

#include "common/crypto/random.h"
#include "common/error.h"

namespace fedtl::crypto::shamir {
namespace {

// Bounds the work and memory a share can ask for; seeds and keys are 32 bytes.
constexpr std::size_t kMaxSecretSize = 1 << 16;

std::size_t limbCount(std::size_t secretSize) { return (secretSize + kLimbBytes - 1) / kLimbBytes; }

// Field arithmetic mod p = 2^61 - 1. Inputs are < p; branch-free so timing does not depend on
// secret values.
std::uint64_t reduceOnce(std::uint64_t v) {  // v < 2p  ->  v mod p
  const std::uint64_t minusP = v - kPrime;
  const std::uint64_t keep = 0 - (minusP >> 63);  // all ones when v < p (v - p wrapped)
  return (v & keep) | (minusP & ~keep);
}
std::uint64_t add(std::uint64_t a, std::uint64_t b) { return reduceOnce(a + b); }
std::uint64_t sub(std::uint64_t a, std::uint64_t b) { return reduceOnce(a + kPrime - b); }
std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;  // < 2^122
  // 2^61 = 1 (mod p): fold the high bits onto the low ones.
  const std::uint64_t low = static_cast<std::uint64_t>(product) & kPrime;
  const std::uint64_t high = static_cast<std::uint64_t>(product >> 61);
  return reduceOnce(low + high);
}
std::uint64_t inverse(std::uint64_t a) {  // a^(p-2), a != 0 (Fermat); a is public here
  std::uint64_t result = 1;
  for (std::uint64_t e = kPrime - 2; e != 0; e >>= 1) {
    if (e & 1) result = mul(result, a);
    a = mul(a, a);
  }
  return result;
}

// Uniform field elements from the secure generator: 61 random bits, redrawn when they equal p
// (the only 61-bit value outside the field).
void randomFieldElements(Span<std::uint64_t> out) {
  secureRandom(out.data(), out.size_bytes());
  for (auto& v : out) {
    v &= kPrime;
    while (v == kPrime) {
      secureRandom(&v, sizeof v);
      v &= kPrime;
    }
  }
}

template <typename Fail>
void requireDistinctNonZero(std::vector<std::uint32_t> xs, const char* what, Fail fail) {
  std::sort(xs.begin(), xs.end());
  if (!xs.empty() && xs.front() == 0) fail(std::string(what) + ": x = 0 would be the secret itself");
  if (std::adjacent_find(xs.begin(), xs.end()) != xs.end()) fail(std::string(what) + ": repeated x-coordinate");
}

}  // namespace

std::vector<Share> split(Span<const std::uint8_t> secret, std::uint32_t threshold, Span<const std::uint32_t> xs) {
  FEDTL_ENFORCE(!secret.empty() && secret.size() <= kMaxSecretSize, ConfigError, "Shamir sharing needs a secret of 1..",
                kMaxSecretSize, " bytes, got ", secret.size());
  FEDTL_ENFORCE(threshold >= 1 && threshold <= xs.size(), ConfigError, "Shamir threshold must be between 1 and ",
                "the number of shares (", xs.size(), "), got ", threshold);
  requireDistinctNonZero({xs.begin(), xs.end()}, "Shamir split",
                         [](const std::string& why) { throw ConfigError(why); });

  const std::size_t limbs = limbCount(secret.size());
  // coefficients[limb * threshold + k]: coefficient of x^k; k = 0 is the secret limb.
  SecretVector<std::uint64_t> coefficients(limbs * threshold);
  for (std::size_t limb = 0; limb < limbs; ++limb) {
    std::uint64_t value = 0;
    const std::size_t begin = limb * kLimbBytes;
    const std::size_t end = std::min(begin + kLimbBytes, secret.size());
    for (std::size_t i = end; i-- > begin;) value = (value << 8) | secret[i];
    coefficients[limb * threshold] = value;
    randomFieldElements(Span<std::uint64_t>(coefficients).subspan(limb * threshold + 1, threshold - 1));
  }

  std::vector<Share> shares(xs.size());
  for (std::size_t s = 0; s < xs.size(); ++s) {
    Share& share = shares[s];
    share.x = xs[s];
    share.threshold = threshold;
    share.secretSize = static_cast<std::uint32_t>(secret.size());
    share.y.resize(limbs);
    for (std::size_t limb = 0; limb < limbs; ++limb) {  // Horner from the top coefficient
      const std::uint64_t* c = coefficients.data() + limb * threshold;
      std::uint64_t y = 0;
      for (std::size_t k = threshold; k-- > 0;) y = add(mul(y, xs[s]), c[k]);
      share.y[limb] = y;
    }
  }
  return shares;
}

SecretBytes reconstruct(Span<const Share> shares) {
  auto fail = [](const std::string& why) { throw CryptoError(why); };
  if (shares.empty()) fail("Shamir reconstruction got no shares");
  const Share& first = shares[0];
  const std::size_t threshold = first.threshold;
  FEDTL_ENFORCE(threshold >= 1, CryptoError, "Shamir share with threshold 0");
  FEDTL_ENFORCE(shares.size() >= threshold, CryptoError, "Shamir reconstruction needs ", threshold,
                " shares, got only ", shares.size());
  FEDTL_ENFORCE(first.secretSize >= 1 && first.secretSize <= kMaxSecretSize, CryptoError,
                "Shamir share claims a secret of ", first.secretSize, " bytes");
  const std::size_t limbs = limbCount(first.secretSize);
  std::vector<std::uint32_t> xs;
  for (const Share& share : shares) {
    FEDTL_ENFORCE(share.threshold == first.threshold && share.secretSize == first.secretSize, CryptoError,
                  "Shamir shares disagree on threshold or secret size (shares of different secrets?)");
    FEDTL_ENFORCE(share.y.size() == limbs, CryptoError, "Shamir share of x = ", share.x, " holds ", share.y.size(),
                  " values, expected ", limbs);
    for (std::uint64_t y : share.y) FEDTL_ENFORCE(y < kPrime, CryptoError, "Shamir share value out of the field");
    xs.push_back(share.x);
  }
  requireDistinctNonZero(xs, "Shamir reconstruction", fail);

  // Lagrange basis at 0 over the first t points: l_i = prod_{j != i} x_j / (x_j - x_i).
  std::vector<std::uint64_t> basis(threshold);
  for (std::size_t i = 0; i < threshold; ++i) {
    std::uint64_t numerator = 1, denominator = 1;
    for (std::size_t j = 0; j < threshold; ++j) {
      if (j == i) continue;
      numerator = mul(numerator, shares[j].x);
      denominator = mul(denominator, sub(shares[j].x, shares[i].x));
    }
    basis[i] = mul(numerator, inverse(denominator));
  }

  SecretBytes secret(first.secretSize);
  bool wellFormed = true;
  for (std::size_t limb = 0; limb < limbs; ++limb) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < threshold; ++i) value = add(value, mul(basis[i], shares[i].y[limb]));
    const std::size_t begin = limb * kLimbBytes;
    const std::size_t end = std::min<std::size_t>(begin + kLimbBytes, first.secretSize);
    for (std::size_t i = begin; i < end; ++i, value >>= 8) secret.data()[i] = static_cast<std::uint8_t>(value);
    wellFormed &= value == 0;  // bits beyond the limb: the shares do not belong together
  }
  FEDTL_ENFORCE(wellFormed, CryptoError, "Shamir shares are inconsistent: they do not interpolate to a secret of ",
                first.secretSize, " bytes (altered shares, or shares of different secrets)");
  return secret;
}

}  // namespace fedtl::crypto::shamir
