#include "common/ml/tensor_set.h"

#include "common/error.h"

namespace fedtl::ml {

TensorSet TensorSet::subset(const torch::Tensor& indices) const {
  return {images.index_select(0, indices), labels.index_select(0, indices), numClasses, classNames};
}

TensorSet toTensorSet(const data::LabeledImages& set) {
  set.validate("data set");
  const auto& s = set.shape;
  TensorSet out;
  // from_blob borrows the bytes; the float conversion makes the one copy we keep.
  auto bytes = torch::from_blob(const_cast<std::uint8_t*>(set.pixels.data()), {set.count(), s.channels, s.height, s.width},
                                torch::kUInt8);
  out.images = bytes.to(torch::kFloat32).div_(255.0f);
  out.labels = torch::empty({set.count()}, torch::kInt64);
  auto* dst = out.labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < set.count(); ++i) dst[i] = set.labels[static_cast<std::size_t>(i)];
  out.numClasses = set.numClasses();
  out.classNames = set.classNames;
  return out;
}

TensorSet keepClasses(const TensorSet& set, std::int64_t first, std::int64_t last) {
  FEDTL_ENFORCE(first >= 0 && first <= last && last < set.numClasses, ConfigError, "class range ", first, "..", last,
                " is outside 0..", set.numClasses - 1);
  auto mask = set.labels.ge(first).logical_and(set.labels.le(last));
  auto idx = mask.nonzero().flatten();
  TensorSet out = set.subset(idx);
  out.labels.sub_(first);
  out.numClasses = last - first + 1;
  if (!set.classNames.empty())
    out.classNames.assign(set.classNames.begin() + first, set.classNames.begin() + last + 1);
  return out;
}

TensorSet pickPerClass(const TensorSet& set, std::int64_t perClass, std::uint64_t seed) {
  if (perClass <= 0) return set;
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> chosen;
  for (std::int64_t c = 0; c < set.numClasses; ++c) {
    auto members = set.labels.eq(c).nonzero().flatten();
    auto order = torch::randperm(members.size(0), gen, torch::kInt64);
    chosen.push_back(members.index_select(0, order.slice(0, 0, std::min(perClass, members.size(0)))));
  }
  return set.subset(torch::cat(chosen));
}

Shift parseShift(const std::string& name) {
  if (name == "none") return Shift::kNone;
  if (name == "invert") return Shift::kInvert;
  if (name == "rot90") return Shift::kRot90;
  if (name == "noise") return Shift::kNoise;
  if (name == "contrast") return Shift::kContrast;
  throw ConfigError("unknown shift '" + name + "': use none, invert, rot90, noise or contrast");
}

std::string shiftName(Shift shift) {
  switch (shift) {
    case Shift::kNone: return "none";
    case Shift::kInvert: return "invert";
    case Shift::kRot90: return "rot90";
    case Shift::kNoise: return "noise";
    case Shift::kContrast: return "contrast";
  }
  return "none";
}

torch::Tensor applyShift(const torch::Tensor& images, Shift shift, std::uint64_t seed) {
  switch (shift) {
    case Shift::kNone: return images;
    case Shift::kInvert: return 1.0 - images;
    case Shift::kRot90: return torch::rot90(images, 1, {2, 3}).contiguous();
    case Shift::kNoise: {
      auto gen = at::detail::createCPUGenerator(seed);
      return (images + 0.4 * at::normal(0.0, 1.0, images.sizes(), gen)).clamp_(0.0, 1.0);
    }
    case Shift::kContrast: return images * 0.3 + 0.35;
  }
  return images;
}

}  // namespace fedtl::ml
