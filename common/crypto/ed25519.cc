#include "common/crypto/ed25519.h"

#include <openssl/err.h>

#include "common/crypto/openssl_handles.h"

namespace fedtl::crypto {
namespace {

detail::PkeyPtr importPrivateKey(Span<const std::uint8_t> privateKey) {
  FEDTL_ENFORCE(privateKey.size() == kEd25519KeySize, CryptoError, "an Ed25519 private key is ", kEd25519KeySize,
                " bytes, got ", privateKey.size());
  detail::PkeyPtr key(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, privateKey.data(), privateKey.size()));
  detail::checkOpenSsl(key != nullptr, "Ed25519 private key import");
  return key;
}

Ed25519PublicKey rawPublicKey(EVP_PKEY* key) {
  Ed25519PublicKey out{};
  std::size_t size = out.size();
  detail::checkOpenSsl(EVP_PKEY_get_raw_public_key(key, out.data(), &size) == 1 && size == out.size(),
                       "Ed25519 public key export");
  return out;
}

}  // namespace

Ed25519KeyPair generateEd25519KeyPair() {
  detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "ED25519", nullptr));
  detail::checkOpenSsl(ctx && EVP_PKEY_keygen_init(ctx.get()) == 1, "Ed25519 key generation setup");
  EVP_PKEY* generated = nullptr;
  detail::checkOpenSsl(EVP_PKEY_generate(ctx.get(), &generated) == 1, "Ed25519 key generation");
  detail::PkeyPtr key(generated);

  Ed25519KeyPair pair;
  pair.publicKey = rawPublicKey(key.get());
  pair.privateKey = SecretBytes(kEd25519KeySize);
  std::size_t size = kEd25519KeySize;
  detail::checkOpenSsl(
      EVP_PKEY_get_raw_private_key(key.get(), pair.privateKey.data(), &size) == 1 && size == kEd25519KeySize,
      "Ed25519 private key export");
  return pair;
}

Ed25519KeyPair ed25519KeyPairFromPrivate(Span<const std::uint8_t> privateKey) {
  detail::PkeyPtr key = importPrivateKey(privateKey);
  return {rawPublicKey(key.get()), SecretBytes(privateKey)};
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
