// The IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/data/labeled_images.h"

namespace fedtl::data {

// An unsigned-byte IDX array: dims[0] items of dims[1..] each.
struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;
};

// Parses an IDX byte buffer; throws DataError naming `origin` on a wrong magic number, a
// non-ubyte element type, or a size that disagrees with the header (truncated files).
IdxArray parseIdx(const std::vector<std::uint8_t>& bytes, const std::string& origin);
IdxArray readIdxFile(const std::string& path);

// Images file (N x H x W) plus labels file (N): a labeled set with one channel.
LabeledImages loadIdxPair(const std::string& imagesPath, const std::string& labelsPath);

// A folder holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz].
struct IdxFolder {
  LabeledImages train;
  LabeledImages test;
};
IdxFolder loadIdxFolder(const std::string& dir);

}  // namespace fedtl::data
