#include "common/file_io.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/error.h"

namespace fedtl {
namespace {

struct FdCloser {
  void operator()(int* fd) const {
    if (fd && *fd >= 0) ::close(*fd);
    delete fd;
  }
};
using UniqueFd = std::unique_ptr<int, FdCloser>;

UniqueFd openOrThrow(const std::string& path, int flags, mode_t mode = 0) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  FEDTL_ENFORCE(fd >= 0, IoError, "cannot open '", path, "': ", std::strerror(errno));
  return UniqueFd(new int(fd));
}

struct GzCloser {
  void operator()(gzFile f) const {
    if (f) gzclose(f);
  }
};

}  // namespace

std::vector<std::uint8_t> readFile(const std::string& path, std::size_t maxBytes) {
  auto fd = openOrThrow(path, O_RDONLY);
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  FEDTL_ENFORCE(!ec, IoError, "cannot stat '", path, "': ", ec.message());
  FEDTL_ENFORCE(size <= maxBytes, IoError, "'", path, "' is ", size, " bytes, above the limit of ", maxBytes);
  std::vector<std::uint8_t> bytes(size);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(*fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    FEDTL_ENFORCE(n > 0, IoError, "cannot read '", path, "': ", n < 0 ? std::strerror(errno) : "file shrank while reading");
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

std::vector<std::uint8_t> readMaybeGzipFile(const std::string& path, std::size_t maxBytes) {
  std::unique_ptr<gzFile_s, GzCloser> gz(gzopen(path.c_str(), "rb"));
  FEDTL_ENFORCE(gz != nullptr, IoError, "cannot open '", path, "': ", std::strerror(errno));
  gzbuffer(gz.get(), 1 << 17);
  std::vector<std::uint8_t> bytes;
  constexpr std::size_t kChunk = 1 << 20;
  for (;;) {
    std::size_t old = bytes.size();
    FEDTL_ENFORCE(old <= maxBytes, DataError, "'", path, "' decompresses to more than ", maxBytes, " bytes");
    bytes.resize(old + kChunk);
    int n = gzread(gz.get(), bytes.data() + old, static_cast<unsigned>(kChunk));
    if (n < 0) {
      int code = 0;
      const char* msg = gzerror(gz.get(), &code);
      throw DataError(detail::concat("'", path, "' is not a valid gzip file: ", msg));
    }
    bytes.resize(old + static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  int code = 0;
  gzerror(gz.get(), &code);
  FEDTL_ENFORCE(code == Z_OK, DataError, "'", path, "' is a truncated or corrupt gzip file");
  FEDTL_ENFORCE(bytes.size() <= maxBytes, DataError, "'", path, "' decompresses to more than ", maxBytes, " bytes");
  return bytes;
}

void writeFileAtomic(const std::string& path, const void* data, std::size_t size) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    FEDTL_ENFORCE(!ec, IoError, "cannot create folder '", target.parent_path().string(), "': ", ec.message());
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    auto fd = openOrThrow(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(*fd, bytes + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw IoError(detail::concat("cannot write '", tmp, "': ", std::strerror(err)));
      }
      done += static_cast<std::size_t>(n);
    }
    FEDTL_ENFORCE(::fsync(*fd) == 0, IoError, "cannot sync '", tmp, "': ", std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(detail::concat("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err)));
  }
}

}  // namespace fedtl
