// Backbones: feature extractors made of an ordered list of blocks, so that strategies can
// freeze or unfreeze "the last K blocks". The zoo has a small CNN for 28x28 inputs and a
// ResNet-18-style network for larger images; any TorchScript module that maps an image batch
// to features can serve as a single-block backbone.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "protocols/checkpoint_format.h"

namespace fedtl::ml {

using protocols::BackboneSpec;

// One block: a Sequential with a concrete forward, so blocks can be held uniformly.
class BlockImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(x); }
};
TORCH_MODULE(Block);

class BackboneImpl : public torch::nn::Module {
 public:
  // Normalises x ([N, C, H, W] in [0, 1]) and runs every block: features [N, featureDim].
  torch::Tensor forward(torch::Tensor x);
  // Normalised input through blocks [0, end).
  torch::Tensor forwardPrefix(torch::Tensor x, std::int64_t end);
  // Output of block (begin-1) through blocks [begin, numBlocks).
  torch::Tensor forwardSuffix(torch::Tensor h, std::int64_t begin);

  std::int64_t numBlocks() const { return static_cast<std::int64_t>(blocks_.size()); }
  std::shared_ptr<torch::nn::Module> block(std::int64_t i) const { return blocks_.at(static_cast<std::size_t>(i)).ptr(); }
  const BackboneSpec& spec() const { return spec_; }
  // The TorchScript module's serialised bytes (empty for the native zoo), so that a
  // checkpoint can embed them and stay self-contained.
  const std::string& scriptBytes() const { return scriptBytes_; }

 protected:
  explicit BackboneImpl(BackboneSpec spec);
  template <typename M>
  void addBlock(M module) {
    blocks_.emplace_back(register_module("block" + std::to_string(blocks_.size()), module));
  }
  void setFeatureDim(std::int64_t dim) { spec_.featureDim = dim; }
  void setScriptBytes(std::string bytes) { scriptBytes_ = std::move(bytes); }

 private:
  torch::Tensor normalise(const torch::Tensor& x) const;
  BackboneSpec spec_;
  torch::Tensor mean_, std_;
  std::vector<torch::nn::AnyModule> blocks_;
  std::string scriptBytes_;
};
TORCH_MODULE(Backbone);

// conv32-BN-ReLU-pool, conv64-BN-ReLU-pool-flatten: two blocks, 64*(H/4)*(W/4) features
// (3136 for 28x28). Pretrained with a 128-unit hidden head, it is the classic small CNN.
Backbone makeSmallCnn(std::int64_t channels = 1, std::int64_t height = 28, std::int64_t width = 28);
// A ResNet-18-style network: stem, four stages of two basic blocks (64..512 channels),
// global average pooling: five blocks, 512 features.
Backbone makeResNet18(std::int64_t channels = 3, std::int64_t height = 32, std::int64_t width = 32);
// Loads a TorchScript module (torch.jit.save) whose forward maps [N, C, H, W] to [N, F] or
// [N, F, ...] (flattened); its feature dimension is found by a probe forward.
Backbone loadTorchScriptBackbone(const std::string& path, BackboneSpec spec);
Backbone loadTorchScriptBackbone(std::istream& in, BackboneSpec spec);

// Builds a backbone of spec.architecture with fresh weights ("torchscript" needs the module
// bytes: use loadTorchScriptBackbone).
Backbone makeBackbone(const BackboneSpec& spec);

// A backbone plus a classification head sized to the target classes: linear (the transfer
// head) or, with hiddenUnits > 0, Linear-ReLU-Dropout-Linear (the pretraining head, discarded
// on transfer so the backbone's features are not tied to the source classes).
class TransferModelImpl : public torch::nn::Module {
 public:
  TransferModelImpl(Backbone backbone, std::int64_t numClasses, std::int64_t hiddenUnits = 0, double dropout = 0.0);
  torch::Tensor forward(torch::Tensor x) { return head->forward(backbone->forward(x)); }
  std::int64_t numClasses() const { return numClasses_; }
  std::int64_t hiddenUnits() const { return hiddenUnits_; }
  Backbone backbone;
  Block head{nullptr};

 private:
  std::int64_t numClasses_;
  std::int64_t hiddenUnits_;
};
TORCH_MODULE(TransferModel);

// Re-estimates every BatchNorm layer's running statistics of `module` on `images` (a
// cumulative average over batches, weights untouched): adapts a pretrained network to a
// target domain's input statistics without labels (AdaBN).
void reestimateBatchNorm(torch::nn::Module& module, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                         const torch::Tensor& images, std::int64_t batchSize = 500);

// Every BatchNorm2d layer's statistics of `module` as one vector, per layer the channel means
// then the second moments E[x²] (variance + mean²): the form in which statistics of several
// participants average correctly when weighted by their sample counts (federated AdaBN).
std::vector<float> batchNormStatistics(torch::nn::Module& module);
// Sets the running mean and variance of every BatchNorm2d layer from such a vector; throws
// ConfigError when its length does not match the layers.
void setBatchNormStatistics(torch::nn::Module& module, const std::vector<float>& statistics);

}  // namespace fedtl::ml
