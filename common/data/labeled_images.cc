#include "common/data/labeled_images.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "common/error.h"

namespace fedtl::data {

std::int32_t LabeledImages::numClasses() const {
  if (!classNames.empty()) return static_cast<std::int32_t>(classNames.size());
  std::int32_t top = -1;
  for (auto l : labels) top = std::max(top, l);
  return top + 1;
}

void LabeledImages::validate(const std::string& origin) const {
  FEDTL_ENFORCE(shape.channels > 0 && shape.height > 0 && shape.width > 0, DataError, origin,
                ": image shape must be positive, got ", shape.channels, "x", shape.height, "x", shape.width);
  FEDTL_ENFORCE(static_cast<std::int64_t>(pixels.size()) == count() * shape.pixels(), DataError, origin, ": ",
                pixels.size(), " pixel bytes do not match ", count(), " images of ", shape.pixels(), " pixels");
  std::int32_t n = numClasses();
  for (auto l : labels)
    FEDTL_ENFORCE(l >= 0 && l < n, DataError, origin, ": label ", l, " is outside 0..", n - 1);
}

std::vector<std::int64_t> labelHistogram(const std::vector<std::int32_t>& labels, std::int32_t numClasses) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(std::max(numClasses, 0)), 0);
  for (auto l : labels) {
    FEDTL_ENFORCE(l >= 0 && l < numClasses, DataError, "label ", l, " is outside 0..", numClasses - 1);
    ++counts[static_cast<std::size_t>(l)];
  }
  return counts;
}

LabeledImages select(const LabeledImages& set, const std::vector<std::int64_t>& indices) {
  LabeledImages out;
  out.shape = set.shape;
  out.classNames = set.classNames;
  const auto stride = static_cast<std::size_t>(set.shape.pixels());
  out.pixels.resize(indices.size() * stride);
  out.labels.reserve(indices.size());
  std::size_t k = 0;
  for (auto i : indices) {
    FEDTL_ENFORCE(i >= 0 && i < set.count(), DataError, "sample index ", i, " is outside 0..", set.count() - 1);
    std::memcpy(out.pixels.data() + k * stride, set.pixels.data() + static_cast<std::size_t>(i) * stride, stride);
    out.labels.push_back(set.labels[static_cast<std::size_t>(i)]);
    ++k;
  }
  return out;
}

Split splitTrainTest(const LabeledImages& set, double trainFraction, std::uint64_t seed) {
  FEDTL_ENFORCE(trainFraction > 0.0 && trainFraction < 1.0, ConfigError,
                "train fraction must be strictly between 0 and 1, got ", trainFraction);
  std::vector<std::int64_t> order(static_cast<std::size_t>(set.count()));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  auto cut = static_cast<std::size_t>(std::llround(trainFraction * static_cast<double>(order.size())));
  std::vector<std::int64_t> trainIdx(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(cut));
  std::vector<std::int64_t> testIdx(order.begin() + static_cast<std::ptrdiff_t>(cut), order.end());
  return {select(set, trainIdx), select(set, testIdx)};
}

}  // namespace fedtl::data
