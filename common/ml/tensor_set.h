// Labeled images preloaded as tensors and batched by slicing (no per-sample pipeline).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/data/labeled_images.h"

namespace fedtl::ml {

struct TensorSet {
  torch::Tensor images;  // float32 [N, C, H, W], values in [0, 1]
  torch::Tensor labels;  // int64 [N]
  std::int64_t numClasses = 0;
  std::vector<std::string> classNames;

  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  TensorSet subset(const torch::Tensor& indices) const;
};

TensorSet toTensorSet(const data::LabeledImages& set);

// Keeps the samples whose label is in [first, last] and renumbers them from 0.
TensorSet keepClasses(const TensorSet& set, std::int64_t first, std::int64_t last);

// perClass samples of each class, chosen by a seeded shuffle (all of a class if it has fewer).
// perClass <= 0 keeps everything.
TensorSet pickPerClass(const TensorSet& set, std::int64_t perClass, std::uint64_t seed);

// Domain shifts that create distinct target domains from one source.
enum class Shift { kNone, kInvert, kRot90, kNoise, kContrast };
Shift parseShift(const std::string& name);
std::string shiftName(Shift shift);
// Returns shifted images (the input is not modified); noise is seeded for reproducibility.
torch::Tensor applyShift(const torch::Tensor& images, Shift shift, std::uint64_t seed);

}  // namespace fedtl::ml
