// RAII owners for the OpenSSL objects of the crypto wrappers, and the one way they report an
// OpenSSL failure (a CryptoError carrying OpenSSL's own reason). OpenSSL wipes key material
// held by these objects (keys, cipher and KDF contexts) when they are freed.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>
#include <string>

#include "common/error.h"

namespace fedtl::crypto::detail {

template <typename T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* object) const noexcept { Free(object); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslFree<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslFree<EVP_MD_CTX, EVP_MD_CTX_free>>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, OpenSslFree<EVP_CIPHER, EVP_CIPHER_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, OpenSslFree<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using KdfPtr = std::unique_ptr<EVP_KDF, OpenSslFree<EVP_KDF, EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, OpenSslFree<EVP_KDF_CTX, EVP_KDF_CTX_free>>;

// Throws CryptoError("<what> failed in OpenSSL: <OpenSSL's reason>") and empties OpenSSL's
// error queue, so a later failure is not reported with this one's reason.
[[noreturn]] inline void throwOpenSslError(const char* what) {
  std::string reason;
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    reason = text;
  }
  ERR_clear_error();
  throw CryptoError(std::string(what) + " failed in OpenSSL" + (reason.empty() ? "" : ": " + reason));
}

// For calls that return 1 on success (most of EVP) or a non-null pointer.
inline void checkOpenSsl(bool ok, const char* what) {
  if (!ok) throwOpenSslError(what);
}

}  // namespace fedtl::crypto::detail
