#include "common/ml/flat_parameters.h"

#include <cstring>

#include "common/error.h"

namespace fedtl::ml {

std::int64_t countElements(const std::vector<torch::Tensor>& tensors) {
  std::int64_t n = 0;
  for (const auto& t : tensors) n += t.numel();
  return n;
}

std::vector<float> flatten(const std::vector<torch::Tensor>& tensors) {
  std::vector<float> out(static_cast<std::size_t>(countElements(tensors)));
  std::size_t at = 0;
  for (const auto& t : tensors) {
    auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    std::memcpy(out.data() + at, c.data_ptr<float>(), static_cast<std::size_t>(c.numel()) * sizeof(float));
    at += static_cast<std::size_t>(c.numel());
  }
  return out;
}

void assign(const std::vector<torch::Tensor>& tensors, const std::vector<float>& values) {
  FEDTL_ENFORCE(static_cast<std::int64_t>(values.size()) == countElements(tensors), ConfigError, "got ", values.size(),
                " parameter values for a model with ", countElements(tensors));
  torch::NoGradGuard noGrad;
  std::size_t at = 0;
  for (const auto& t : tensors) {
    auto src = torch::from_blob(const_cast<float*>(values.data() + at), t.sizes(), torch::kFloat32);
    t.copy_(src);
    at += static_cast<std::size_t>(t.numel());
  }
}

}  // namespace fedtl::ml
