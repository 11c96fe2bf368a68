// Cryptographically secure random bytes from OpenSSL's private DRBG (RAND_priv_bytes): the
// source for keys, seeds, Shamir coefficients and stochastic-rounding seeds.
#pragma once

#include <cstddef>

#include "common/crypto/secret_bytes.h"

namespace fedtl::crypto {

// Fills `size` bytes at `out`; throws CryptoError if OpenSSL cannot produce them.
void secureRandom(void* out, std::size_t size);

// `size` fresh random bytes, owned as a secret.
SecretBytes randomSecret(std::size_t size);

}  // namespace fedtl::crypto
