// The raw 32-byte keys that X25519 and Ed25519 share in OpenSSL 3: generation, import and
// export, written once for both algorithms (`algorithm` is OpenSSL's name for it, `label` the
// name used in error messages).
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "common/crypto/openssl_handles.h"
#include "common/crypto/secret_bytes.h"
#include "common/span.h"

namespace fedtl::crypto::detail {

inline constexpr std::size_t kRawKeySize = 32;
using RawPublicKey = std::array<std::uint8_t, kRawKeySize>;

inline PkeyPtr importRawPrivateKey(const char* algorithm, const char* label, Span<const std::uint8_t> privateKey) {
  FEDTL_ENFORCE(privateKey.size() == kRawKeySize, CryptoError, "an ", label, " private key is ", kRawKeySize,
                " bytes, got ", privateKey.size());
  PkeyPtr key(EVP_PKEY_new_raw_private_key_ex(nullptr, algorithm, nullptr, privateKey.data(), privateKey.size()));
  checkOpenSsl(key != nullptr, (std::string(label) + " private key import").c_str());
  return key;
}

inline RawPublicKey exportRawPublicKey(EVP_PKEY* key, const char* label) {
  RawPublicKey out{};
  std::size_t size = out.size();
  checkOpenSsl(EVP_PKEY_get_raw_public_key(key, out.data(), &size) == 1 && size == out.size(),
               (std::string(label) + " public key export").c_str());
  return out;
}

// A fresh pair from OpenSSL's key generator: the raw public key and the raw private key.
inline std::pair<RawPublicKey, SecretBytes> generateRawKeyPair(const char* algorithm, const char* label) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  checkOpenSsl(ctx && EVP_PKEY_keygen_init(ctx.get()) == 1, (std::string(label) + " key generation setup").c_str());
  EVP_PKEY* generated = nullptr;
  checkOpenSsl(EVP_PKEY_generate(ctx.get(), &generated) == 1, (std::string(label) + " key generation").c_str());
  PkeyPtr key(generated);
  SecretBytes privateKey(kRawKeySize);
  std::size_t size = kRawKeySize;
  checkOpenSsl(EVP_PKEY_get_raw_private_key(key.get(), privateKey.data(), &size) == 1 && size == kRawKeySize,
               (std::string(label) + " private key export").c_str());
  return {exportRawPublicKey(key.get(), label), std::move(privateKey)};
}

}  // namespace fedtl::crypto::detail
