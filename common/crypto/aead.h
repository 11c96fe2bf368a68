// AES-256-GCM authenticated encryption over OpenSSL's EVP_CIPHER: SecAgg encrypts the Shamir
// shares it routes through the coordinator with it, so the coordinator can neither read nor
// alter them. Sealed form: ciphertext || 16-byte tag.
//
// Failure contract: a ciphertext that does not authenticate (any bit of ciphertext, tag, AAD,
// nonce or key changed, or too short to hold a tag) is an expected event caused by a peer or the
// network, so open() answers std::nullopt and never returns any of the unauthenticated
// plaintext. Misuse by the caller (a key or nonce of the wrong size) and OpenSSL failures throw
// CryptoError.
//
// A (key, nonce) pair must never seal two different messages: GCM loses confidentiality and
// authenticity if it does. Derive a fresh key per use (HKDF) or use a counter nonce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/crypto/secret_bytes.h"
#include "common/span.h"

namespace fedtl::crypto {

inline constexpr std::size_t kAesGcmKeySize = 32;
inline constexpr std::size_t kAesGcmNonceSize = 12;
inline constexpr std::size_t kAesGcmTagSize = 16;

// Encrypts and authenticates `plaintext`, and authenticates `aad`; returns ciphertext || tag.
std::vector<std::uint8_t> aesGcmSeal(Span<const std::uint8_t> key, Span<const std::uint8_t> nonce,
                                     Span<const std::uint8_t> aad, Span<const std::uint8_t> plaintext);

// The plaintext of `sealed` (ciphertext || tag), or std::nullopt if it does not authenticate.
[[nodiscard]] std::optional<SecretBytes> aesGcmOpen(Span<const std::uint8_t> key, Span<const std::uint8_t> nonce,
                                                    Span<const std::uint8_t> aad, Span<const std::uint8_t> sealed);

}  // namespace fedtl::crypto
