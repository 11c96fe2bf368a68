#include "common/crypto/aead.h"

#include <openssl/err.h>

#include <algorithm>

#include "common/crypto/openssl_handles.h"

namespace fedtl::crypto {
namespace {

constexpr std::size_t kMaxUpdate = std::size_t{1} << 30;  // EVP updates take an int length

void checkSizes(Span<const std::uint8_t> key, Span<const std::uint8_t> nonce) {
  FEDTL_ENFORCE(key.size() == kAesGcmKeySize, CryptoError, "an AES-256-GCM key is ", kAesGcmKeySize, " bytes, got ",
                key.size());
  FEDTL_ENFORCE(nonce.size() == kAesGcmNonceSize, CryptoError, "an AES-256-GCM nonce is ", kAesGcmNonceSize,
                " bytes, got ", nonce.size());
}

// A context keyed for AES-256-GCM in the given direction (12-byte nonce: GCM's default).
detail::CipherCtxPtr keyedContext(Span<const std::uint8_t> key, Span<const std::uint8_t> nonce, bool encrypt) {
  checkSizes(key, nonce);
  detail::CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  detail::checkOpenSsl(cipher != nullptr, "AES-256-GCM lookup");
  detail::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  detail::checkOpenSsl(ctx != nullptr, "AES-256-GCM context creation");
  detail::checkOpenSsl(
      EVP_CipherInit_ex2(ctx.get(), cipher.get(), key.data(), nonce.data(), encrypt ? 1 : 0, nullptr) == 1,
      "AES-256-GCM initialisation");
  return ctx;
}

// Runs `in` through the context into `out` (same length for GCM); an empty `out` feeds AAD.
void update(EVP_CIPHER_CTX* ctx, Span<const std::uint8_t> in, std::uint8_t* out) {
  for (std::size_t done = 0; done < in.size();) {
    const std::size_t chunk = std::min(in.size() - done, kMaxUpdate);
    int written = 0;
    detail::checkOpenSsl(
        EVP_CipherUpdate(ctx, out ? out + done : nullptr, &written, in.data() + done, static_cast<int>(chunk)) == 1,
        "AES-256-GCM update");
    done += chunk;
  }
}

}  // namespace

std::vector<std::uint8_t> aesGcmSeal(Span<const std::uint8_t> key, Span<const std::uint8_t> nonce,
                                     Span<const std::uint8_t> aad, Span<const std::uint8_t> plaintext) {
  detail::CipherCtxPtr ctx = keyedContext(key, nonce, /*encrypt=*/true);
  std::vector<std::uint8_t> sealed(plaintext.size() + kAesGcmTagSize);
  update(ctx.get(), aad, nullptr);
  update(ctx.get(), plaintext, sealed.data());
  int written = 0;
  detail::checkOpenSsl(EVP_EncryptFinal_ex(ctx.get(), sealed.data() + plaintext.size(), &written) == 1,
                       "AES-256-GCM finalisation");
  detail::checkOpenSsl(
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kAesGcmTagSize, sealed.data() + plaintext.size()) == 1,
      "AES-256-GCM tag");
  return sealed;
}

std::optional<SecretBytes> aesGcmOpen(Span<const std::uint8_t> key, Span<const std::uint8_t> nonce,
                                      Span<const std::uint8_t> aad, Span<const std::uint8_t> sealed) {
  checkSizes(key, nonce);
  if (sealed.size() < kAesGcmTagSize) return std::nullopt;  // cannot even hold a tag
  const auto ciphertext = sealed.first(sealed.size() - kAesGcmTagSize);
  const auto tag = sealed.last(kAesGcmTagSize);

  detail::CipherCtxPtr ctx = keyedContext(key, nonce, /*encrypt=*/false);
  // OpenSSL only reads the tag; the ctrl interface just takes a non-const pointer.
  detail::checkOpenSsl(
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kAesGcmTagSize, const_cast<std::uint8_t*>(tag.data())) == 1,
      "AES-256-GCM tag");
  SecretBytes plaintext(ciphertext.size());
  update(ctx.get(), aad, nullptr);
  update(ctx.get(), ciphertext, plaintext.data());
  std::uint8_t noOutput[kAesGcmTagSize];  // GCM's final step writes nothing, but wants a buffer
  int written = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), noOutput, &written) != 1) {
    ERR_clear_error();
    return std::nullopt;  // `plaintext` is wiped as it goes out of scope
  }
  return plaintext;
}

}  // namespace fedtl::crypto
