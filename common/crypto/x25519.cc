#include "common/crypto/x25519.h"

#include <openssl/crypto.h>

#include "common/crypto/openssl_handles.h"

namespace fedtl::crypto {
namespace {

// Every u-coordinate of small order, as libsodium lists them (x25519_ref10.c): 0 and 1, the two
// points of order 8, and p-1, p and p+1 (p = 2^255 - 19; p and p+1 are non-canonical 0 and 1).
// Compared with the top bit of byte 31 cleared, because X25519 ignores that bit.
constexpr std::uint8_t kSmallOrderPoints[][kX25519KeySize] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
     0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
     0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

detail::PkeyPtr importPrivateKey(Span<const std::uint8_t> privateKey) {
  FEDTL_ENFORCE(privateKey.size() == kX25519KeySize, CryptoError, "an X25519 private key is ", kX25519KeySize,
                " bytes, got ", privateKey.size());
  detail::PkeyPtr key(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, privateKey.data(), privateKey.size()));
  detail::checkOpenSsl(key != nullptr, "X25519 private key import");
  return key;
}

X25519PublicKey rawPublicKey(EVP_PKEY* key) {
  X25519PublicKey out{};
  std::size_t size = out.size();
  detail::checkOpenSsl(EVP_PKEY_get_raw_public_key(key, out.data(), &size) == 1 && size == out.size(),
                       "X25519 public key export");
  return out;
}

}  // namespace

X25519KeyPair generateX25519KeyPair() {
  detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr));
  detail::checkOpenSsl(ctx && EVP_PKEY_keygen_init(ctx.get()) == 1, "X25519 key generation setup");
  EVP_PKEY* generated = nullptr;
  detail::checkOpenSsl(EVP_PKEY_generate(ctx.get(), &generated) == 1, "X25519 key generation");
  detail::PkeyPtr key(generated);

  X25519KeyPair pair;
  pair.publicKey = rawPublicKey(key.get());
  pair.privateKey = SecretBytes(kX25519KeySize);
  std::size_t size = kX25519KeySize;
  detail::checkOpenSsl(
      EVP_PKEY_get_raw_private_key(key.get(), pair.privateKey.data(), &size) == 1 && size == kX25519KeySize,
      "X25519 private key export");
  return pair;
}

X25519KeyPair x25519KeyPairFromPrivate(Span<const std::uint8_t> privateKey) {
  detail::PkeyPtr key = importPrivateKey(privateKey);
  return {rawPublicKey(key.get()), SecretBytes(privateKey)};
}

bool isSmallOrderX25519PublicKey(const X25519PublicKey& publicKey) {
  X25519PublicKey masked = publicKey;
  masked[31] &= 0x7f;
  bool found = false;
  for (const auto& point : kSmallOrderPoints) {
    found |= CRYPTO_memcmp(masked.data(), point, kX25519KeySize) == 0;  // no early exit: constant time
  }
  return found;
}

SecretBytes x25519SharedSecret(Span<const std::uint8_t> privateKey, const X25519PublicKey& peerPublicKey) {
  FEDTL_ENFORCE(!isSmallOrderX25519PublicKey(peerPublicKey), CryptoError,
                "refusing an X25519 public key of small order: it would make the shared secret predictable "
                "(a peer sent an invalid or malicious key)");
  detail::PkeyPtr own = importPrivateKey(privateKey);
  detail::PkeyPtr peer(
      EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", nullptr, peerPublicKey.data(), peerPublicKey.size()));
  detail::checkOpenSsl(peer != nullptr, "X25519 peer public key import");

  detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own.get(), nullptr));
  detail::checkOpenSsl(ctx && EVP_PKEY_derive_init(ctx.get()) == 1, "X25519 derivation setup");
  detail::checkOpenSsl(EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) == 1, "X25519 peer key");
  SecretBytes shared(kX25519KeySize);
  std::size_t size = shared.size();
  detail::checkOpenSsl(EVP_PKEY_derive(ctx.get(), shared.data(), &size) == 1 && size == kX25519KeySize,
                       "X25519 shared secret derivation");

  // RFC 7748 §6.1: an all-zero output means the peer's point had small order. OpenSSL checks it
  // too; this check keeps the guarantee independent of the library's version.
  static constexpr std::uint8_t kZeros[kX25519KeySize] = {};
  FEDTL_ENFORCE(CRYPTO_memcmp(shared.data(), kZeros, kX25519KeySize) != 0, CryptoError,
                "X25519 shared secret is all zeros: the peer's public key has small order");
  return shared;
}

}  // namespace fedtl::crypto
