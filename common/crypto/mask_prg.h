// The SecAgg mask generator: expands a 32-byte seed into a keystream of ring elements that a
// participant adds to (or subtracts from) its encoded update modulo 2^32 or 2^64.
//
// Construction: key = HKDF-SHA256(seed, no salt, info "fedtl/secagg/mask-prg/v1/aes-256-ctr"),
// keystream = AES-256-CTR under that key with an all-zero initial counter block. The zero IV is
// safe because each derived key drives exactly one keystream: a seed is fresh per round and
// purpose, and the HKDF step separates this use from every other key derived from the same
// secret. Words are read little-endian from the keystream bytes, so every host gets the same
// mask.
//
// A MaskPrg is a stream: successive calls continue where the previous one stopped. The
// mask of a d-vector is therefore the first d words of the stream from a fresh MaskPrg, which
// is what addMask / subtractMask compute. One MaskPrg per thread; a moved-from one is empty and
// must not be used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/span.h"

namespace fedtl::crypto {

class MaskPrg {
 public:
  static constexpr std::size_t kSeedSize = 32;

  // The keystream of a 32-byte seed (CryptoError for any other size).
  explicit MaskPrg(Span<const std::uint8_t> seed);
  // The raw AES-256-CTR keystream under `key` (32 bytes) from counter block `iv` (16 bytes),
  // skipping the HKDF step: for known-answer tests against NIST SP 800-38A.
  static MaskPrg fromAesKeyAndIv(Span<const std::uint8_t> key, Span<const std::uint8_t> iv);

  ~MaskPrg();
  MaskPrg(MaskPrg&&) noexcept;
  MaskPrg& operator=(MaskPrg&&) noexcept;
  MaskPrg(const MaskPrg&) = delete;
  MaskPrg& operator=(const MaskPrg&) = delete;

  // Overwrite `out` with the next keystream bytes / words.
  void fill(Span<std::uint8_t> out);
  void fill(Span<std::uint32_t> out);
  void fill(Span<std::uint64_t> out);

  // values[i] += / -= the next keystream words, modulo 2^32 or 2^64, in one pass through
  // `values` and with no buffer the size of `values`.
  void addTo(Span<std::uint32_t> values);
  void addTo(Span<std::uint64_t> values);
  void subtractFrom(Span<std::uint32_t> values);
  void subtractFrom(Span<std::uint64_t> values);

 private:
  struct Cipher;
  explicit MaskPrg(std::unique_ptr<Cipher> cipher);
  template <typename Word, bool kAdd>
  void combine(Span<Word> values);
  void keystream(std::uint8_t* out, std::size_t size);

  std::unique_ptr<Cipher> cipher_;
};

// values += / -= the mask of `seed` (the first values.size() words of MaskPrg(seed)).
void addMask(Span<std::uint32_t> values, Span<const std::uint8_t> seed);
void addMask(Span<std::uint64_t> values, Span<const std::uint8_t> seed);
void subtractMask(Span<std::uint32_t> values, Span<const std::uint8_t> seed);
void subtractMask(Span<std::uint64_t> values, Span<const std::uint8_t> seed);

}  // namespace fedtl::crypto
