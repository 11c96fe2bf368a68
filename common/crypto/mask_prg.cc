#include "common/crypto/mask_prg.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "common/crypto/hkdf.h"
#include "common/crypto/openssl_handles.h"
#include "common/crypto/secret_bytes.h"

namespace fedtl::crypto {
namespace {

// Words are the keystream bytes in little-endian order; on such hosts that is a plain copy.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "MaskPrg reads keystream words in native order; add a byte swap for big-endian hosts");

constexpr std::size_t kAesKeySize = 32;
constexpr std::size_t kAesBlockSize = 16;
constexpr char kKeyInfo[] = "fedtl/secagg/mask-prg/v1/aes-256-ctr";
// Keystream = AES-CTR encryption of zeros. The zeros are read from this static block (it stays
// in L1) and the keystream is written straight into the destination: one pass over the output.
// Measured on a 64 MB vector, that is ~7.2 GB/s against ~5.7 GB/s for zeroing the output first
// and encrypting it in place, and close to AES-CTR on cache-resident data (~8 GB/s).
constexpr std::size_t kZeroBlockSize = 16 * 1024;
const std::uint8_t kZeroBlock[kZeroBlockSize] = {};
// The stack block that addTo/subtractFrom draw keystream into before adding it to `values`:
// small enough to stay in L1 between the two steps.
constexpr std::size_t kCombineBlockBytes = 8 * 1024;

}  // namespace

struct MaskPrg::Cipher {
  detail::CipherCtxPtr ctx;
};

MaskPrg::MaskPrg(std::unique_ptr<Cipher> cipher) : cipher_(std::move(cipher)) {}

MaskPrg MaskPrg::fromAesKeyAndIv(Span<const std::uint8_t> key, Span<const std::uint8_t> iv) {
  FEDTL_ENFORCE(key.size() == kAesKeySize, CryptoError, "an AES-256-CTR key is ", kAesKeySize, " bytes, got ",
                key.size());
  FEDTL_ENFORCE(iv.size() == kAesBlockSize, CryptoError, "an AES-CTR initial counter block is ", kAesBlockSize,
                " bytes, got ", iv.size());
  detail::CipherPtr aes(EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr));
  detail::checkOpenSsl(aes != nullptr, "AES-256-CTR lookup");
  auto cipher = std::make_unique<Cipher>();
  cipher->ctx.reset(EVP_CIPHER_CTX_new());
  detail::checkOpenSsl(cipher->ctx != nullptr, "AES-256-CTR context creation");
  detail::checkOpenSsl(EVP_EncryptInit_ex2(cipher->ctx.get(), aes.get(), key.data(), iv.data(), nullptr) == 1,
                       "AES-256-CTR initialisation");
  return MaskPrg(std::move(cipher));
}

MaskPrg::MaskPrg(Span<const std::uint8_t> seed) {
  FEDTL_ENFORCE(seed.size() == kSeedSize, CryptoError, "a mask seed is ", kSeedSize, " bytes, got ", seed.size());
  const SecretBytes key = hkdfSha256(seed, {}, asBytes(kKeyInfo), kAesKeySize);
  static constexpr std::uint8_t kZeroIv[kAesBlockSize] = {};
  *this = fromAesKeyAndIv(key.span(), kZeroIv);
}

MaskPrg::~MaskPrg() = default;
MaskPrg::MaskPrg(MaskPrg&&) noexcept = default;
MaskPrg& MaskPrg::operator=(MaskPrg&&) noexcept = default;

void MaskPrg::keystream(std::uint8_t* out, std::size_t size) {
  while (size > 0) {
    const std::size_t chunk = std::min(size, kZeroBlockSize);
    int written = 0;
    detail::checkOpenSsl(
        EVP_EncryptUpdate(cipher_->ctx.get(), out, &written, kZeroBlock, static_cast<int>(chunk)) == 1 &&
            written == static_cast<int>(chunk),
        "AES-256-CTR keystream");
    out += chunk;
    size -= chunk;
  }
}

void MaskPrg::fill(Span<std::uint8_t> out) { keystream(out.data(), out.size()); }
void MaskPrg::fill(Span<std::uint32_t> out) {
  keystream(reinterpret_cast<std::uint8_t*>(out.data()), out.size_bytes());
}
void MaskPrg::fill(Span<std::uint64_t> out) {
  keystream(reinterpret_cast<std::uint8_t*>(out.data()), out.size_bytes());
}

namespace {

// out[i] += / -= block[i] for i < n. Unsigned arithmetic wraps: exactly mod 2^32 / 2^64.
// __restrict and a fixed trip count for whole blocks let the compiler vectorise it at -O2.
template <typename Word, bool kAdd, std::size_t kCount>
void combineBlock(Word* __restrict out, const Word* __restrict block, std::size_t n) {
  auto apply = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      if constexpr (kAdd) {
        out[i] += block[i];
      } else {
        out[i] -= block[i];
      }
    }
  };
  if (n == kCount) {
    apply(kCount);
  } else {
    apply(n);
  }
}

}  // namespace

template <typename Word, bool kAdd>
void MaskPrg::combine(Span<Word> values) {
  constexpr std::size_t kBlockWords = kCombineBlockBytes / sizeof(Word);
  alignas(64) Word block[kBlockWords];
  Word* out = values.data();
  for (std::size_t left = values.size(); left > 0;) {
    const std::size_t n = std::min(left, kBlockWords);
    keystream(reinterpret_cast<std::uint8_t*>(block), n * sizeof(Word));
    combineBlock<Word, kAdd, kBlockWords>(out, block, n);
    out += n;
    left -= n;
  }
  OPENSSL_cleanse(block, sizeof block);
}

void MaskPrg::addTo(Span<std::uint32_t> values) { combine<std::uint32_t, true>(values); }
void MaskPrg::addTo(Span<std::uint64_t> values) { combine<std::uint64_t, true>(values); }
void MaskPrg::subtractFrom(Span<std::uint32_t> values) { combine<std::uint32_t, false>(values); }
void MaskPrg::subtractFrom(Span<std::uint64_t> values) { combine<std::uint64_t, false>(values); }

void addMask(Span<std::uint32_t> values, Span<const std::uint8_t> seed) { MaskPrg(seed).addTo(values); }
void addMask(Span<std::uint64_t> values, Span<const std::uint8_t> seed) { MaskPrg(seed).addTo(values); }
void subtractMask(Span<std::uint32_t> values, Span<const std::uint8_t> seed) { MaskPrg(seed).subtractFrom(values); }
void subtractMask(Span<std::uint64_t> values, Span<const std::uint8_t> seed) { MaskPrg(seed).subtractFrom(values); }

}  // namespace fedtl::crypto
