// Ed25519 signatures (RFC 8032, pure Ed25519) over OpenSSL's EVP_PKEY: fedtl's long-term
// identities sign backbone and round digests and SecAgg key advertisements. Keys travel as raw
// 32-byte strings (the private key is RFC 8032's 32-byte seed).
#pragma once

#include <array>
#include <cstdint>

#include "common/crypto/secret_bytes.h"
#include "common/span.h"

namespace fedtl::crypto {

inline constexpr std::size_t kEd25519KeySize = 32;
inline constexpr std::size_t kEd25519SignatureSize = 64;
using Ed25519PublicKey = std::array<std::uint8_t, kEd25519KeySize>;
using Ed25519Signature = std::array<std::uint8_t, kEd25519SignatureSize>;

struct Ed25519KeyPair {
  Ed25519PublicKey publicKey{};
  SecretBytes privateKey;  // the raw 32-byte seed
};

// A fresh key pair from OpenSSL's key generator.
Ed25519KeyPair generateEd25519KeyPair();

// The pair of an existing raw private key (32 bytes); the public key is derived from it.
Ed25519KeyPair ed25519KeyPairFromPrivate(Span<const std::uint8_t> privateKey);

// The deterministic signature of `message` under the raw private key.
Ed25519Signature ed25519Sign(Span<const std::uint8_t> privateKey, Span<const std::uint8_t> message);

// True only for a valid signature of `message` by `publicKey`; a malformed key or signature is
// simply invalid (false), never an exception.
[[nodiscard]] bool ed25519Verify(const Ed25519PublicKey& publicKey, Span<const std::uint8_t> message,
                                 const Ed25519Signature& signature);

}  // namespace fedtl::crypto
