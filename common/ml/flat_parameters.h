// The trainable parameters of a model as one flat float vector: what travels each round.
// With a frozen backbone that is the head alone, a few hundred KB instead of the network.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace fedtl::ml {

std::int64_t countElements(const std::vector<torch::Tensor>& tensors);
// Concatenates the tensors (in order) into one float vector.
std::vector<float> flatten(const std::vector<torch::Tensor>& tensors);
// Copies values back into the tensors (in place, without recording gradients); throws
// ConfigError if the sizes disagree.
void assign(const std::vector<torch::Tensor>& tensors, const std::vector<float>& values);

}  // namespace fedtl::ml
