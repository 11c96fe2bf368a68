#include "common/crypto/sha256.h"

#include <openssl/evp.h>

#include "common/error.h"

namespace fedtl::crypto {

struct Sha256::Ctx {
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> md{EVP_MD_CTX_new()};
  void init() {
    FEDTL_ENFORCE(md && EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) == 1, CryptoError,
                  "SHA-256 initialisation failed in OpenSSL");
  }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) { ctx_->init(); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, std::size_t size) {
  FEDTL_ENFORCE(EVP_DigestUpdate(ctx_->md.get(), data, size) == 1, CryptoError, "SHA-256 update failed");
}

Sha256Digest Sha256::finish() {
  Sha256Digest out{};
  unsigned len = 0;
  FEDTL_ENFORCE(EVP_DigestFinal_ex(ctx_->md.get(), out.data(), &len) == 1 && len == out.size(), CryptoError,
                "SHA-256 finalisation failed");
  ctx_->init();
  return out;
}

Sha256Digest sha256(const void* data, std::size_t size) {
  Sha256 h;
  h.update(data, size);
  return h.finish();
}

std::string toHex(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace fedtl::crypto
