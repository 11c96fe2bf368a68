// The error contract of fedtl's API: every failure a user can cause or fix is a fedtl::Error
// subclass whose message says what was wrong and what to do about it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace fedtl {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A flag, option or configuration value is invalid.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Input data is missing, truncated or malformed.
class DataError : public Error {
 public:
  using Error::Error;
};

// A checkpoint is missing, corrupt, or does not match what it is used with.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

// A file could not be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// A cryptographic primitive failed.
class CryptoError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

}  // namespace fedtl

// FEDTL_ENFORCE(cond, ErrorType, message parts...): throw ErrorType with the parts streamed
// together when cond is false.
#define FEDTL_ENFORCE(cond, ErrorType, ...)                        \
  do {                                                             \
    if (!(cond)) {                                                 \
      throw ErrorType(::fedtl::detail::concat(__VA_ARGS__));       \
    }                                                              \
  } while (false)
