#include "common/ml/backbone.h"

#include <fstream>
#include <optional>
#include <sstream>

#include "common/error.h"

namespace fedtl::ml {
namespace nn = torch::nn;

BackboneImpl::BackboneImpl(BackboneSpec spec) : spec_(std::move(spec)) {
  FEDTL_ENFORCE(spec_.channels > 0 && spec_.height > 0 && spec_.width > 0, ConfigError, "backbone input shape must be positive");
  FEDTL_ENFORCE(static_cast<std::int64_t>(spec_.mean.size()) == spec_.channels &&
                    static_cast<std::int64_t>(spec_.std.size()) == spec_.channels,
                ConfigError, "backbone normalisation needs one mean and one std per channel (", spec_.channels, ")");
  for (float s : spec_.std) FEDTL_ENFORCE(s > 0, ConfigError, "backbone normalisation std must be positive");
  mean_ = torch::tensor(spec_.mean).view({1, spec_.channels, 1, 1});
  std_ = torch::tensor(spec_.std).view({1, spec_.channels, 1, 1});
}

torch::Tensor BackboneImpl::normalise(const torch::Tensor& x) const {
  FEDTL_ENFORCE(x.dim() == 4 && x.size(1) == spec_.channels && x.size(2) == spec_.height && x.size(3) == spec_.width,
                DataError, "backbone '", spec_.architecture, "' expects images of ", spec_.channels, "x", spec_.height, "x",
                spec_.width, ", got ", x.sizes());
  return (x - mean_.to(x.device())) / std_.to(x.device());
}

torch::Tensor BackboneImpl::forward(torch::Tensor x) { return forwardSuffix(normalise(x), 0); }

torch::Tensor BackboneImpl::forwardPrefix(torch::Tensor x, std::int64_t end) {
  auto h = normalise(x);
  for (std::int64_t i = 0; i < end; ++i) h = blocks_[static_cast<std::size_t>(i)].forward(h);
  return h;
}

torch::Tensor BackboneImpl::forwardSuffix(torch::Tensor h, std::int64_t begin) {
  for (std::int64_t i = begin; i < numBlocks(); ++i) h = blocks_[static_cast<std::size_t>(i)].forward(h);
  return h;
}

namespace {

class SmallCnnImpl : public BackboneImpl {
 public:
  explicit SmallCnnImpl(BackboneSpec spec) : BackboneImpl(std::move(spec)) {
    const auto& s = this->spec();
    FEDTL_ENFORCE(s.height % 4 == 0 && s.width % 4 == 0, ConfigError, "small-cnn needs height and width divisible by 4, got ",
                  s.height, "x", s.width);
    auto convBlock = [](std::int64_t in, std::int64_t out) {
      return Block(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)), nn::BatchNorm2d(out),
                            nn::Functional(torch::relu), nn::Functional(torch::max_pool2d, 2, 2, 0, 1, false));
    };
    addBlock(convBlock(s.channels, 32));
    auto last = convBlock(32, 64);
    last->push_back(nn::Flatten());
    addBlock(last);
    setFeatureDim(64 * (s.height / 4) * (s.width / 4));
  }
};

class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(std::int64_t in, std::int64_t out, std::int64_t stride) {
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(out));
    conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      down_ = register_module("down", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
                                                     nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    return torch::relu(y + (down_ ? down_->forward(x) : x));
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential down_{nullptr};
};
TORCH_MODULE(BasicBlock);

class ResNet18Impl : public BackboneImpl {
 public:
  explicit ResNet18Impl(BackboneSpec spec) : BackboneImpl(std::move(spec)) {
    const auto& s = this->spec();
    // Small images keep their resolution in the stem (CIFAR-style); large ones get the
    // ImageNet stem with a stride-2 7x7 convolution and max pooling.
    if (std::min(s.height, s.width) <= 64) {
      addBlock(Block(nn::Conv2d(nn::Conv2dOptions(s.channels, 64, 3).padding(1).bias(false)), nn::BatchNorm2d(64),
                              nn::Functional(torch::relu)));
    } else {
      addBlock(Block(nn::Conv2d(nn::Conv2dOptions(s.channels, 64, 7).stride(2).padding(3).bias(false)),
                              nn::BatchNorm2d(64), nn::Functional(torch::relu),
                              nn::Functional(torch::max_pool2d, 3, 2, 1, 1, false)));
    }
    addBlock(Block(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1)));
    addBlock(Block(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1)));
    addBlock(Block(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1)));
    addBlock(Block(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1), nn::AdaptiveAvgPool2d(1), nn::Flatten()));
    setFeatureDim(512);
  }
};

// A TorchScript module as one block. Its parameters and buffers are registered here too (the
// same tensors), so optimisers, state dicts and train()/eval() see them.
class ScriptBlockImpl : public nn::Module {
 public:
  explicit ScriptBlockImpl(torch::jit::Module module) : module_(std::move(module)) {
    for (const auto& p : module_.named_parameters(/*recurse=*/true)) register_parameter(mangle(p.name), p.value);
    for (const auto& b : module_.named_buffers(/*recurse=*/true)) register_buffer(mangle(b.name), b.value);
  }
  torch::Tensor forward(torch::Tensor x) {
    auto out = module_.forward({x});
    FEDTL_ENFORCE(out.isTensor(), DataError, "TorchScript backbone must return one tensor of features");
    auto t = out.toTensor();
    return t.dim() > 2 ? t.flatten(1) : t;
  }
  void train(bool on) override {
    nn::Module::train(on);
    module_.train(on);
  }
  void to(torch::Device device, bool nonBlocking) override {
    module_.to(device, nonBlocking);
    nn::Module::to(device, nonBlocking);
  }

 private:
  static std::string mangle(std::string name) {
    for (auto& c : name)
      if (c == '.') c = '_';
    return name;
  }
  torch::jit::Module module_;
};
TORCH_MODULE(ScriptBlock);

class ScriptBackboneImpl : public BackboneImpl {
 public:
  ScriptBackboneImpl(BackboneSpec spec, torch::jit::Module module) : BackboneImpl(std::move(spec)) {
    addBlock(ScriptBlock(std::move(module)));
  }
  using BackboneImpl::setFeatureDim;
  using BackboneImpl::setScriptBytes;
};

// Torch's messages run over many lines; a user needs the gist.
std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }
std::string lastLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  auto nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

BackboneSpec withArchitecture(std::string arch, std::int64_t c, std::int64_t h, std::int64_t w) {
  BackboneSpec spec;
  spec.architecture = std::move(arch);
  spec.channels = c;
  spec.height = h;
  spec.width = w;
  spec.mean.assign(static_cast<std::size_t>(c), c == 1 ? 0.2860f : 0.5f);
  spec.std.assign(static_cast<std::size_t>(c), c == 1 ? 0.3530f : 0.25f);
  return spec;
}

}  // namespace

Backbone makeSmallCnn(std::int64_t channels, std::int64_t height, std::int64_t width) {
  return Backbone(std::static_pointer_cast<BackboneImpl>(std::make_shared<SmallCnnImpl>(withArchitecture("small-cnn", channels, height, width))));
}

Backbone makeResNet18(std::int64_t channels, std::int64_t height, std::int64_t width) {
  return Backbone(std::static_pointer_cast<BackboneImpl>(std::make_shared<ResNet18Impl>(withArchitecture("resnet18", channels, height, width))));
}

Backbone loadTorchScriptBackbone(std::istream& in, BackboneSpec spec) {
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  torch::jit::Module module;
  try {
    std::istringstream stream(bytes);
    module = torch::jit::load(stream, torch::kCPU);
  } catch (const std::exception& e) {  // c10::Error and the JIT's own runtime errors
    throw CheckpointError(std::string("cannot load TorchScript backbone: ") + firstLine(e.what()));
  }
  spec.architecture = "torchscript";
  auto impl = std::make_shared<ScriptBackboneImpl>(spec, std::move(module));
  impl->eval();
  torch::NoGradGuard noGrad;
  torch::Tensor probe;
  try {
    probe = impl->forward(torch::zeros({2, spec.channels, spec.height, spec.width}));
  } catch (const std::exception& e) {
    throw CheckpointError(detail::concat("TorchScript backbone rejects ", spec.channels, "x", spec.height, "x", spec.width,
                                         " inputs: ", lastLine(e.what())));
  }
  FEDTL_ENFORCE(probe.dim() == 2 && probe.size(0) == 2, CheckpointError,
                "TorchScript backbone must map [N, C, H, W] to [N, features], got ", probe.sizes());
  FEDTL_ENFORCE(spec.featureDim == 0 || spec.featureDim == probe.size(1), CheckpointError,
                "TorchScript backbone gives ", probe.size(1), " features but ", spec.featureDim, " were recorded");
  impl->setFeatureDim(probe.size(1));
  impl->setScriptBytes(std::move(bytes));
  impl->train();
  return Backbone(std::static_pointer_cast<BackboneImpl>(impl));
}

Backbone loadTorchScriptBackbone(const std::string& path, BackboneSpec spec) {
  std::ifstream in(path, std::ios::binary);
  FEDTL_ENFORCE(in.good(), CheckpointError, "cannot open TorchScript backbone '", path, "'");
  return loadTorchScriptBackbone(in, std::move(spec));
}

Backbone makeBackbone(const BackboneSpec& spec) {
  Backbone b{nullptr};
  if (spec.architecture == "small-cnn") {
    b = Backbone(std::static_pointer_cast<BackboneImpl>(std::make_shared<SmallCnnImpl>(spec)));
  } else if (spec.architecture == "resnet18") {
    b = Backbone(std::static_pointer_cast<BackboneImpl>(std::make_shared<ResNet18Impl>(spec)));
  } else if (spec.architecture == "torchscript") {
    throw ConfigError("a torchscript backbone is built from its module file, not from a name");
  } else {
    throw ConfigError("unknown backbone architecture '" + spec.architecture + "': use small-cnn or resnet18");
  }
  FEDTL_ENFORCE(spec.featureDim == 0 || spec.featureDim == b->spec().featureDim, CheckpointError, "architecture '",
                spec.architecture, "' gives ", b->spec().featureDim, " features but ", spec.featureDim, " were recorded");
  return b;
}

TransferModelImpl::TransferModelImpl(Backbone backbone_, std::int64_t numClasses, std::int64_t hiddenUnits,
                                     double dropout)
    : backbone(std::move(backbone_)), numClasses_(numClasses), hiddenUnits_(hiddenUnits) {
  FEDTL_ENFORCE(numClasses >= 2, ConfigError, "a classifier needs at least 2 classes, got ", numClasses);
  FEDTL_ENFORCE(hiddenUnits >= 0, ConfigError, "head hidden units must be non-negative");
  register_module("backbone", backbone);
  const auto features = backbone->spec().featureDim;
  head = hiddenUnits == 0 ? Block(nn::Linear(features, numClasses))
                          : Block(nn::Linear(features, hiddenUnits), nn::Functional(torch::relu), nn::Dropout(dropout),
                                  nn::Linear(hiddenUnits, numClasses));
  register_module("head", head);
}

void reestimateBatchNorm(torch::nn::Module& module, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                         const torch::Tensor& images, std::int64_t batchSize) {
  std::vector<std::pair<nn::BatchNorm2dImpl*, c10::optional<double>>> layers;
  for (const auto& m : module.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<nn::BatchNorm2d>()) {
      layers.emplace_back(bn, bn->options.momentum());
      bn->reset_running_stats();
      bn->options.momentum(c10::nullopt);  // cumulative moving average over the batches below
    }
  }
  if (layers.empty()) return;
  bool wasTraining = module.is_training();
  module.train();
  {
    torch::NoGradGuard noGrad;
    for (std::int64_t i = 0; i < images.size(0); i += batchSize)
      forward(images.narrow(0, i, std::min(batchSize, images.size(0) - i)));
  }
  for (auto& [bn, momentum] : layers) bn->options.momentum(momentum);
  module.train(wasTraining);
}

namespace {
std::vector<nn::BatchNorm2dImpl*> batchNormLayers(torch::nn::Module& module) {
  std::vector<nn::BatchNorm2dImpl*> layers;
  for (const auto& m : module.modules(/*include_self=*/false))
    if (auto* bn = m->as<nn::BatchNorm2d>()) layers.push_back(bn);
  return layers;
}
}  // namespace

std::vector<float> batchNormStatistics(torch::nn::Module& module) {
  std::vector<float> out;
  for (auto* bn : batchNormLayers(module)) {
    auto mean = bn->running_mean.to(torch::kFloat32).contiguous();
    auto second = (bn->running_var + bn->running_mean * bn->running_mean).to(torch::kFloat32).contiguous();
    out.insert(out.end(), mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
    out.insert(out.end(), second.data_ptr<float>(), second.data_ptr<float>() + second.numel());
  }
  return out;
}

void setBatchNormStatistics(torch::nn::Module& module, const std::vector<float>& statistics) {
  auto layers = batchNormLayers(module);
  std::size_t expected = 0;
  for (auto* bn : layers) expected += 2 * static_cast<std::size_t>(bn->running_mean.numel());
  FEDTL_ENFORCE(statistics.size() == expected, ConfigError, "BatchNorm statistics have ", statistics.size(),
                " values, the model's layers need ", expected);
  torch::NoGradGuard noGrad;
  std::size_t at = 0;
  for (auto* bn : layers) {
    const auto c = bn->running_mean.numel();
    auto mean = torch::from_blob(const_cast<float*>(statistics.data() + at), {c}, torch::kFloat32);
    auto second = torch::from_blob(const_cast<float*>(statistics.data() + at + c), {c}, torch::kFloat32);
    bn->running_mean.copy_(mean);
    bn->running_var.copy_((second - mean * mean).clamp_min(0));
    at += 2 * static_cast<std::size_t>(c);
  }
}

}  // namespace fedtl::ml
