// cereal archives for everything fedtl writes to disk or the wire: little-endian binary, no
// type names, and an input side that bounds every length by the bytes actually left, so a
// hostile size prefix can never make the decoder allocate more than the input it was given.
#pragma once

#include <cereal/cereal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fedtl's wire format assumes a little-endian host");

namespace fedtl::protocols {

// Thrown for any input that does not decode: truncated, oversized, or inconsistent.
class DecodeError : public Error {
 public:
  using Error::Error;
};

class WireOutputArchive : public cereal::OutputArchive<WireOutputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit WireOutputArchive(std::string& out) : OutputArchive(this), out_(out) {}
  void saveBinary(const void* data, std::size_t size) { out_.append(static_cast<const char*>(data), size); }

 private:
  std::string& out_;
};

// Counts the bytes WireOutputArchive would write, so an encoder can reserve the exact size
// and never reallocate (a doubling string holds up to three copies of a large message).
class WireSizeArchive : public cereal::OutputArchive<WireSizeArchive, cereal::AllowEmptyClassElision> {
 public:
  WireSizeArchive() : OutputArchive(this) {}
  void saveBinary(const void*, std::size_t size) { size_ += size; }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_ = 0;
};

class WireInputArchive : public cereal::InputArchive<WireInputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit WireInputArchive(std::string_view in) : InputArchive(this), in_(in) {}
  void loadBinary(void* data, std::size_t size) {
    FEDTL_ENFORCE(size <= remaining(), DecodeError, "truncated input: need ", size, " bytes, ", remaining(), " left");
    if (size == 0) return;  // an empty container's data() may be null: memcpy must not see it
    std::memcpy(data, in_.data() + at_, size);
    at_ += size;
  }
  std::size_t remaining() const { return in_.size() - at_; }

 private:
  std::string_view in_;
  std::size_t at_ = 0;
};

template <class A>
inline constexpr bool kWireOutput = std::is_same_v<A, WireOutputArchive> || std::is_same_v<A, WireSizeArchive>;

template <class A, class T>
std::enable_if_t<kWireOutput<A> && std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(A& ar, const T& t) {
  ar.saveBinary(&t, sizeof(t));
}
template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, T& t) {
  ar.loadBinary(&t, sizeof(t));
}
template <class A, class T>
std::enable_if_t<kWireOutput<A> || std::is_same_v<A, WireInputArchive>> CEREAL_SERIALIZE_FUNCTION_NAME(
    A& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}
template <class A, class T>
std::enable_if_t<kWireOutput<A>> CEREAL_SAVE_FUNCTION_NAME(A& ar, const cereal::SizeTag<T>& t) {
  std::uint64_t size = static_cast<std::uint64_t>(t.size);
  ar.saveBinary(&size, sizeof(size));
}
// Every container element takes at least one byte of input, so a size above the bytes left
// is a lie: refuse it before the container is resized.
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, cereal::SizeTag<T>& t) {
  std::uint64_t size = 0;
  ar.loadBinary(&size, sizeof(size));
  FEDTL_ENFORCE(size <= ar.remaining(), DecodeError, "length ", size, " exceeds the ", ar.remaining(), " bytes left");
  t.size = static_cast<std::remove_reference_t<T>>(size);
}
template <class A, class T>
std::enable_if_t<kWireOutput<A>> CEREAL_SAVE_FUNCTION_NAME(A& ar, const cereal::BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::size_t>(bd.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, cereal::BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::size_t>(bd.size));
}

// The encoded size of one value.
template <class T>
std::size_t encodedSize(const T& value) {
  WireSizeArchive ar;
  ar(value);
  return ar.size();
}

// Appends one serialised value to `out`, which must have room reserved by the caller.
template <class T>
void encodeInto(std::string& out, const T& value) {
  WireOutputArchive ar(out);
  ar(value);
}

// Serialises one value into a string of exactly its size.
template <class T>
std::string encode(const T& value) {
  std::string out;
  out.reserve(encodedSize(value));
  encodeInto(out, value);
  return out;
}

// Decodes one value that must fill `bytes` exactly.
template <class T>
T decode(std::string_view bytes) {
  T value{};
  WireInputArchive ar(bytes);
  try {
    ar(value);
  } catch (const cereal::Exception& e) {
    throw DecodeError(std::string("malformed input: ") + e.what());
  }
  FEDTL_ENFORCE(ar.remaining() == 0, DecodeError, ar.remaining(), " unexpected trailing bytes");
  return value;
}

}  // namespace fedtl::protocols

CEREAL_REGISTER_ARCHIVE(fedtl::protocols::WireOutputArchive)
CEREAL_REGISTER_ARCHIVE(fedtl::protocols::WireSizeArchive)
CEREAL_REGISTER_ARCHIVE(fedtl::protocols::WireInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(fedtl::protocols::WireInputArchive, fedtl::protocols::WireOutputArchive)
