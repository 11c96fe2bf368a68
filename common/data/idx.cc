#include "common/data/idx.h"

#include <filesystem>

#include "common/error.h"
#include "common/file_io.h"

namespace fedtl::data {
namespace {

constexpr std::size_t kMaxIdxBytes = std::size_t{4} << 30;  // 4 GiB decompressed
constexpr std::uint8_t kUnsignedByte = 0x08;

std::uint32_t bigEndian32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::string findIdx(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  for (const char* suffix : {".gz", ""}) {
    fs::path p = fs::path(dir) / (stem + suffix);
    if (fs::exists(p)) return p.string();
  }
  throw DataError(detail::concat("folder '", dir, "' has no ", stem, " or ", stem,
                                 ".gz: an IDX folder needs train-/t10k- images and labels files"));
}

}  // namespace

IdxArray parseIdx(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  FEDTL_ENFORCE(bytes.size() >= 4, DataError, origin, ": too short for an IDX header (", bytes.size(), " bytes)");
  FEDTL_ENFORCE(bytes[0] == 0 && bytes[1] == 0, DataError, origin,
                ": not an IDX file (magic must start with two zero bytes)");
  FEDTL_ENFORCE(bytes[2] == kUnsignedByte, DataError, origin, ": IDX element type 0x", std::hex, int{bytes[2]},
                " is not supported (only unsigned bytes, 0x08)");
  const std::size_t ndims = bytes[3];
  FEDTL_ENFORCE(ndims >= 1 && ndims <= 4, DataError, origin, ": IDX rank ", ndims, " is outside 1..4");
  const std::size_t header = 4 + 4 * ndims;
  FEDTL_ENFORCE(bytes.size() >= header, DataError, origin, ": truncated IDX header");
  IdxArray out;
  std::uint64_t total = 1;
  for (std::size_t i = 0; i < ndims; ++i) {
    out.dims.push_back(bigEndian32(bytes.data() + 4 + 4 * i));
    total *= out.dims.back();
    FEDTL_ENFORCE(total <= kMaxIdxBytes, DataError, origin, ": IDX dimensions describe more than ", kMaxIdxBytes, " bytes");
  }
  FEDTL_ENFORCE(bytes.size() - header == total, DataError, origin, ": header promises ", total, " bytes of data but the file has ",
                bytes.size() - header, bytes.size() - header < total ? " (truncated file)" : " (trailing bytes)");
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

IdxArray readIdxFile(const std::string& path) { return parseIdx(readMaybeGzipFile(path, kMaxIdxBytes), path); }

LabeledImages loadIdxPair(const std::string& imagesPath, const std::string& labelsPath) {
  IdxArray images = readIdxFile(imagesPath);
  IdxArray labels = readIdxFile(labelsPath);
  FEDTL_ENFORCE(images.dims.size() == 3, DataError, imagesPath, ": images must be an N x H x W array, got rank ",
                images.dims.size());
  FEDTL_ENFORCE(labels.dims.size() == 1, DataError, labelsPath, ": labels must be a vector, got rank ", labels.dims.size());
  FEDTL_ENFORCE(images.dims[0] == labels.dims[0], DataError, imagesPath, " holds ", images.dims[0], " images but ",
                labelsPath, " holds ", labels.dims[0], " labels");
  LabeledImages set;
  set.shape = {1, images.dims[1], images.dims[2]};
  set.pixels = std::move(images.data);
  set.labels.assign(labels.data.begin(), labels.data.end());
  set.validate(imagesPath);
  return set;
}

IdxFolder loadIdxFolder(const std::string& dir) {
  FEDTL_ENFORCE(std::filesystem::is_directory(dir), DataError, "IDX folder '", dir, "' does not exist");
  IdxFolder f;
  f.train = loadIdxPair(findIdx(dir, "train-images-idx3-ubyte"), findIdx(dir, "train-labels-idx1-ubyte"));
  f.test = loadIdxPair(findIdx(dir, "t10k-images-idx3-ubyte"), findIdx(dir, "t10k-labels-idx1-ubyte"));
  FEDTL_ENFORCE(f.train.shape == f.test.shape, DataError, "IDX folder '", dir, "': train and test images differ in size");
  return f;
}

}  // namespace fedtl::data
