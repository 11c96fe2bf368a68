// Images with integer class labels as loaded from disk, before any tensor exists: the
// torch-free currency of fedtl's loaders and partitioners.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedtl::data {

struct ImageShape {
  std::int64_t channels = 1;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t pixels() const { return channels * height * width; }
  bool operator==(const ImageShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
};

// count images of one shape, stored sample-major (CHW inside a sample), 0..255 per pixel.
struct LabeledImages {
  ImageShape shape;
  std::vector<std::uint8_t> pixels;
  std::vector<std::int32_t> labels;
  std::vector<std::string> classNames;  // index = label; may be empty for numeric classes

  std::int64_t count() const { return static_cast<std::int64_t>(labels.size()); }
  std::int32_t numClasses() const;
  // Throws DataError if sizes disagree or a label is out of range.
  void validate(const std::string& origin) const;
};

// Label histogram: counts[c] = number of samples with label c.
std::vector<std::int64_t> labelHistogram(const std::vector<std::int32_t>& labels, std::int32_t numClasses);

// Selects samples by index (order kept).
LabeledImages select(const LabeledImages& set, const std::vector<std::int64_t>& indices);

// A deterministic split for sets that come without one: a seeded permutation, the first
// round(trainFraction * count) samples to train.
struct Split {
  LabeledImages train;
  LabeledImages test;
};
Split splitTrainTest(const LabeledImages& set, double trainFraction, std::uint64_t seed);

}  // namespace fedtl::data
