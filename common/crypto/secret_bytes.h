// Owners for secret bytes (private keys, seeds, shared secrets, Shamir shares): they never copy
// implicitly and wipe their memory with OPENSSL_cleanse before it is given back, so a secret
// does not linger in freed heap blocks.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "common/span.h"

namespace fedtl::crypto {

// A move-only heap buffer of secret bytes. Moving hands the buffer over, so the moved-from
// object is left empty with nothing of the secret in it; destruction and clear() wipe the bytes.
class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes, to be filled in place.
  explicit SecretBytes(std::size_t size) : bytes_(size ? new std::uint8_t[size]() : nullptr), size_(size) {}
  // A copy of `bytes`; explicit, so copying a secret is always visible at the call site.
  explicit SecretBytes(Span<const std::uint8_t> bytes) : SecretBytes(bytes.size()) {
    if (size_) std::memcpy(bytes_, bytes.data(), size_);
  }
  ~SecretBytes() { clear(); }

  SecretBytes(SecretBytes&& other) noexcept
      : bytes_(std::exchange(other.bytes_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      clear();
      bytes_ = std::exchange(other.bytes_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Wipes and frees the bytes; the object is then empty.
  void clear() noexcept {
    if (bytes_) {
      OPENSSL_cleanse(bytes_, size_);
      delete[] bytes_;
    }
    bytes_ = nullptr;
    size_ = 0;
  }

  std::uint8_t* data() noexcept { return bytes_; }
  const std::uint8_t* data() const noexcept { return bytes_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::uint8_t* begin() noexcept { return bytes_; }
  std::uint8_t* end() noexcept { return bytes_ + size_; }
  const std::uint8_t* begin() const noexcept { return bytes_; }
  const std::uint8_t* end() const noexcept { return bytes_ + size_; }
  Span<const std::uint8_t> span() const noexcept { return {bytes_, size_}; }
  Span<std::uint8_t> mutableSpan() noexcept { return {bytes_, size_}; }

 private:
  std::uint8_t* bytes_ = nullptr;
  std::size_t size_ = 0;
};

// An allocator that wipes every block before freeing it, for containers of secret values
// (a vector's old buffer is wiped when it grows, too).
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    OPENSSL_cleanse(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using SecretVector = std::vector<T, WipingAllocator<T>>;

// The bytes of a string, for the span-taking functions of this folder.
inline Span<const std::uint8_t> asBytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace fedtl::crypto
