// X25519 Diffie-Hellman (RFC 7748) over OpenSSL's EVP_PKEY: the key agreement behind SecAgg's
// pairwise mask seeds and share-encryption keys. Keys travel as raw 32-byte strings; a peer's
// public key of small order is refused, so no peer can force a predictable shared secret.
#pragma once

#include <array>
#include <cstdint>

#include "common/crypto/secret_bytes.h"
#include "common/span.h"

namespace fedtl::crypto {

inline constexpr std::size_t kX25519KeySize = 32;
using X25519PublicKey = std::array<std::uint8_t, kX25519KeySize>;

struct X25519KeyPair {
  X25519PublicKey publicKey{};
  SecretBytes privateKey;  // the raw 32-byte scalar (clamped by X25519 itself when used)
};

// A fresh key pair from OpenSSL's key generator.
X25519KeyPair generateX25519KeyPair();

// The pair of an existing raw private key (32 bytes), e.g. one reconstructed from shares.
X25519KeyPair x25519KeyPairFromPrivate(Span<const std::uint8_t> privateKey);

// True when `publicKey` is one of the points of order 1, 2, 4 or 8 (or a non-canonical
// encoding of one), with the unused top bit ignored as RFC 7748 asks. Such a key makes the
// shared secret all zeros whatever the other side's private key is.
bool isSmallOrderX25519PublicKey(const X25519PublicKey& publicKey);

// The 32-byte raw shared secret X25519(privateKey, peerPublicKey). Throws CryptoError if the
// peer's key has small order or the result is all zeros (RFC 7748 §6.1 check). Feed the result
// through HKDF before using it as a key.
SecretBytes x25519SharedSecret(Span<const std::uint8_t> privateKey, const X25519PublicKey& peerPublicKey);

}  // namespace fedtl::crypto
