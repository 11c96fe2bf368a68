#include "common/crypto/ed25519.h"

#include <openssl/err.h>

#include "common/crypto/openssl_handles.h"
#include "common/crypto/raw_key.h"

namespace fedtl::crypto {
namespace {

static_assert(kEd25519KeySize == detail::kRawKeySize);

detail::PkeyPtr importPrivateKey(Span<const std::uint8_t> privateKey) {
  return detail::importRawPrivateKey("ED25519", "Ed25519", privateKey);
}

}  // namespace

Ed25519KeyPair generateEd25519KeyPair() {
  auto [publicKey, privateKey] = detail::generateRawKeyPair("ED25519", "Ed25519");
  return {publicKey, std::move(privateKey)};
}

Ed25519KeyPair ed25519KeyPairFromPrivate(Span<const std::uint8_t> privateKey) {
  detail::PkeyPtr key = importPrivateKey(privateKey);
  return {detail::exportRawPublicKey(key.get(), "Ed25519"), SecretBytes(privateKey)};
}

Ed25519Signature ed25519Sign(Span<const std::uint8_t> privateKey, Span<const std::uint8_t> message) {
  detail::PkeyPtr key = importPrivateKey(privateKey);
  detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  // Pure Ed25519 takes no separate digest: the digest name is null.
  detail::checkOpenSsl(
      ctx && EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(), nullptr) == 1,
      "Ed25519 signing setup");
  Ed25519Signature signature{};
  std::size_t size = signature.size();
  detail::checkOpenSsl(EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) == 1 &&
                           size == signature.size(),
                       "Ed25519 signing");
  return signature;
}

bool ed25519Verify(const Ed25519PublicKey& publicKey, Span<const std::uint8_t> message,
                   const Ed25519Signature& signature) {
  detail::PkeyPtr key(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, publicKey.data(), publicKey.size()));
  detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  detail::checkOpenSsl(ctx != nullptr, "Ed25519 verification setup");
  const bool valid =
      key && EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(), nullptr) == 1 &&
      EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
  ERR_clear_error();  // an invalid signature leaves a reason queued; it is answered by `false`
  return valid;
}

}  // namespace fedtl::crypto
