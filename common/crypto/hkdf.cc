#include "common/crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "common/crypto/openssl_handles.h"

namespace fedtl::crypto {

SecretBytes hkdfSha256(Span<const std::uint8_t> inputKey, Span<const std::uint8_t> salt, Span<const std::uint8_t> info,
                       std::size_t length) {
  FEDTL_ENFORCE(!inputKey.empty(), CryptoError, "HKDF needs a non-empty input key");
  FEDTL_ENFORCE(length >= 1 && length <= kHkdfSha256MaxLength, CryptoError, "HKDF-SHA256 output length must be 1..",
                kHkdfSha256MaxLength, " bytes, got ", length);

  detail::KdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  detail::checkOpenSsl(kdf != nullptr, "HKDF lookup");
  detail::KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  detail::checkOpenSsl(ctx != nullptr, "HKDF context creation");

  // OSSL_PARAM takes non-const pointers but only reads through them.
  auto octets = [](const char* name, Span<const std::uint8_t> bytes) {
    return OSSL_PARAM_construct_octet_string(name, const_cast<std::uint8_t*>(bytes.data()), bytes.size());
  };
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = octets(OSSL_KDF_PARAM_KEY, inputKey);
  if (!salt.empty()) params[n++] = octets(OSSL_KDF_PARAM_SALT, salt);
  if (!info.empty()) params[n++] = octets(OSSL_KDF_PARAM_INFO, info);
  params[n] = OSSL_PARAM_construct_end();

  SecretBytes out(length);
  detail::checkOpenSsl(EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) == 1, "HKDF-SHA256 derivation");
  return out;
}

}  // namespace fedtl::crypto
