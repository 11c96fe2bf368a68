// HKDF-SHA256 (RFC 5869, extract then expand) over OpenSSL's EVP_KDF: every key fedtl derives
// from a shared secret or seed (share-encryption keys, mask seeds, the mask PRG's AES key) goes
// through it, with an `info` string that names the key's purpose.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/crypto/secret_bytes.h"
#include "common/span.h"

namespace fedtl::crypto {

// The largest output RFC 5869 allows for SHA-256: 255 blocks of 32 bytes.
inline constexpr std::size_t kHkdfSha256MaxLength = 255 * 32;

// `length` bytes of HKDF-SHA256(inputKey, salt, info). An empty salt means RFC 5869's default
// (32 zero bytes). Throws CryptoError for an empty input key or a length outside
// [1, kHkdfSha256MaxLength].
SecretBytes hkdfSha256(Span<const std::uint8_t> inputKey, Span<const std::uint8_t> salt, Span<const std::uint8_t> info,
                       std::size_t length);

}  // namespace fedtl::crypto
