// SHA-256 over OpenSSL 3's EVP interface, incremental and one-shot.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace fedtl::crypto {

using Sha256Digest = std::array<std::uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Returns the digest; the object is then reset for a new message.
  Sha256Digest finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

Sha256Digest sha256(const void* data, std::size_t size);
std::string toHex(const std::uint8_t* data, std::size_t size);
inline std::string toHex(const Sha256Digest& d) { return toHex(d.data(), d.size()); }

}  // namespace fedtl::crypto
