// Span<T>: a non-owning view of contiguous elements, the subset of C++20's std::span that
// fedtl's interfaces use, while the project builds as C++17 (swap for std::span when it
// moves to C++20). Builds implicitly from a pointer and size, a C array, or any container with
// data() and size() (std::vector, std::array, SecretBytes, ...).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace fedtl {

namespace detail {
// Whether a C's data() points at Elements (with C's constness allowed to add const only).
template <typename C, typename Element, typename = void>
struct IsViewableAs : std::false_type {};
template <typename C, typename Element>
struct IsViewableAs<C, Element, std::void_t<decltype(std::declval<C&>().data()), decltype(std::declval<C&>().size())>>
    : std::bool_constant<std::is_convertible_v<decltype(std::declval<C&>().data()), Element*> &&
                         std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(std::declval<C&>().data())>>,
                                        std::remove_cv_t<Element>>> {};
}  // namespace detail

template <typename T>
class Span {
  template <typename C>
  static constexpr bool kViewable = detail::IsViewableAs<C, T>::value;

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;

  constexpr Span() noexcept = default;
  constexpr Span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <std::size_t N>
  constexpr Span(T (&array)[N]) noexcept : data_(array), size_(N) {}
  template <typename C, typename = std::enable_if_t<!std::is_same_v<std::remove_cv_t<C>, Span> && kViewable<C>>>
  constexpr Span(C& container) noexcept : data_(container.data()), size_(container.size()) {}
  // Read-only views also bind to const and temporary containers, as std::span<const T> does.
  template <typename C, typename U = T,
            typename = std::enable_if_t<std::is_const_v<U> && !std::is_same_v<std::remove_cv_t<C>, Span> &&
                                        kViewable<const C>>>
  constexpr Span(const C& container) noexcept : data_(container.data()), size_(container.size()) {}
  // Span<T> converts to Span<const T>.
  template <typename U, typename = std::enable_if_t<std::is_convertible_v<U (*)[], T (*)[]>>>
  constexpr Span(Span<U> other) noexcept : data_(other.data()), size_(other.size()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr T* begin() const noexcept { return data_; }
  constexpr T* end() const noexcept { return data_ + size_; }
  constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
  // Unchecked, like std::span: the caller keeps offset + count within size().
  constexpr Span first(std::size_t count) const noexcept { return {data_, count}; }
  constexpr Span last(std::size_t count) const noexcept { return {data_ + size_ - count, count}; }
  constexpr Span subspan(std::size_t offset, std::size_t count) const noexcept { return {data_ + offset, count}; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace fedtl
