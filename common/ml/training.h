// The local training loop: preloaded tensors batched by slicing, SGD with Nesterov momentum
// and a warm-up/cosine schedule, optional shift augmentation, and evaluation.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/ml/tensor_set.h"

namespace fedtl::ml {

struct ParamGroup {
  std::vector<torch::Tensor> params;
  double lr = 0.05;
};

struct LoopOptions {
  std::int64_t steps = 0;       // optimiser steps
  std::int64_t batchSize = 64;
  double momentum = 0.9;
  bool nesterov = true;
  double weightDecay = 5e-4;
  double warmupFraction = 0.0;  // linear warm-up share of the steps, then cosine decay to 0
  int augmentShift = 0;         // random translation by up to this many pixels (0 = off)
  std::uint64_t seed = 0;
  std::string progressLabel;    // empty: no progress line
  // Runs after each backward pass, before the optimiser step: a place to add gradient terms
  // that need no graph (FedProx's proximal pull) without a second backward.
  std::function<void()> afterBackward;
};

struct LoopStats {
  std::int64_t samples = 0;
  double seconds = 0;
  double finalLoss = 0;
  double samplesPerSecond() const { return seconds > 0 ? static_cast<double>(samples) / seconds : 0.0; }
};

// Trains `forward` (inputs -> logits) on (inputs, labels) for options.steps steps of random
// batches (epoch-wise shuffling), updating only the tensors in `groups`. `inputs` may be images
// or cached features; augmentShift applies to 4-D inputs only. `forward` may set train/eval
// modes; options.afterBackward may adjust the gradients.
LoopStats trainLoop(const std::function<torch::Tensor(const torch::Tensor&)>& forward, std::vector<ParamGroup> groups,
                    const torch::Tensor& inputs, const torch::Tensor& labels, const LoopOptions& options);

// Random translation of a batch by up to `shift` pixels (zero padding).
torch::Tensor randomShift(const torch::Tensor& images, int shift, torch::Generator& gen);

struct EvalResult {
  double accuracy = 0;  // 0..1
  double loss = 0;
  std::int64_t samples = 0;
  std::vector<double> perClassAccuracy;  // recall of each class present in labels
};

// Accuracy and mean cross-entropy of `forward` over inputs, in batches, without gradients.
EvalResult evaluate(const std::function<torch::Tensor(const torch::Tensor&)>& forward, const torch::Tensor& inputs,
                    const torch::Tensor& labels, std::int64_t batchSize = 1000);

// Runs `fn` over inputs in batches without gradients and concatenates the outputs.
torch::Tensor mapBatches(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& inputs,
                         std::int64_t batchSize = 1000);

}  // namespace fedtl::ml
