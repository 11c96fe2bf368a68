#include "common/crypto/random.h"

#include <openssl/rand.h>

#include <algorithm>

#include "common/crypto/openssl_handles.h"

namespace fedtl::crypto {

void secureRandom(void* out, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {  // RAND_priv_bytes takes an int count
    const std::size_t chunk = std::min<std::size_t>(size, 1u << 30);
    detail::checkOpenSsl(RAND_priv_bytes(bytes, static_cast<int>(chunk)) == 1, "secure random generation");
    bytes += chunk;
    size -= chunk;
  }
}

SecretBytes randomSecret(std::size_t size) {
  SecretBytes secret(size);
  secureRandom(secret.data(), size);
  return secret;
}

}  // namespace fedtl::crypto
