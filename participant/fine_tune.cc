#include "participant/fine_tune.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <sstream>
#include <unordered_set>

#include "common/error.h"
#include "participant/data_parallel.h"

namespace fedtl::participant {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// BatchNorm layers keep their (target-adapted) statistics while pretrained weights train:
// few-shot batches are too small and too few to re-estimate them reliably.
void freezeBatchNormStats(torch::nn::Module& module) {
  for (const auto& m : module.modules(false))
    if (m->as<torch::nn::BatchNorm2d>()) m->eval();
}

bool endsWith(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

// The weight and bias of every BatchNorm layer, by identity. Native layers are known by type;
// a TorchScript block registers its layers' tensors flat, with no type and arbitrary names, so
// there a BatchNorm parameter is known by the running statistics beside it ("bn_weight" next
// to "bn_running_mean").
std::unordered_set<const void*> batchNormParameters(torch::nn::Module& model) {
  std::unordered_set<const void*> out;
  for (const auto& m : model.modules(/*include_self=*/true)) {
    const bool native = m->as<torch::nn::BatchNorm1d>() || m->as<torch::nn::BatchNorm2d>() || m->as<torch::nn::BatchNorm3d>();
    const auto buffers = m->named_buffers(/*recurse=*/false);
    for (const auto& p : m->named_parameters(/*recurse=*/false)) {
      const auto& name = p.key();
      const std::size_t suffix = endsWith(name, "weight") ? 6 : endsWith(name, "bias") ? 4 : 0;
      const auto stats = name.substr(0, name.size() - suffix) + "running_mean";
      if (native || (suffix > 0 && buffers.contains(stats))) out.insert(p.value().unsafeGetTensorImpl());
    }
  }
  return out;
}

// FedProx's gradient, mu·(w - w0) for the proximal term (mu/2)·||w - w0||², added after each
// backward pass; w0 is one snapshot of the parameters taken now.
std::function<void()> proximalPull(std::vector<torch::Tensor> params, double mu) {
  std::vector<torch::Tensor> anchor;
  anchor.reserve(params.size());
  for (const auto& p : params) anchor.push_back(p.detach().clone());
  return [params = std::move(params), anchor = std::move(anchor), mu] {
    torch::NoGradGuard noGrad;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto& grad = params[i].mutable_grad();
      if (!grad.defined()) grad = torch::zeros_like(params[i]);
      grad.add_(params[i].detach(), mu).sub_(anchor[i], mu);  // in place: no temporary of w's size
    }
  };
}

// A backbone of `like`'s architecture with fresh weights (a TorchScript one re-read from its script).
ml::Backbone sameArchitecture(const ml::Backbone& like) {
  const auto& spec = like->spec();
  if (spec.architecture != "torchscript") return ml::makeBackbone(spec);
  std::istringstream script(like->scriptBytes());
  return ml::loadTorchScriptBackbone(script, spec);
}

// Runs the steps where options.cudaDevices says: ml::trainLoop on the CPU, else trainDataParallel
// over replicas of `model` (`forward` is then called with a replica). `proximal` builds FedProx's
// pull over a model's shared parameters; null without FedProx.
ml::LoopStats runSteps(ml::TransferModel& model,
                       const std::function<torch::Tensor(ml::TransferModel&, const torch::Tensor&)>& forward,
                       std::vector<ml::ParamGroup> groups, const torch::Tensor& inputs, const torch::Tensor& labels,
                       ml::LoopOptions loop, const FineTuneOptions& options,
                       const std::function<std::function<void()>(ml::TransferModel&)>& proximal,
                       FineTuneReport& report) {
  if (options.cudaDevices.empty()) {
    if (proximal) loop.afterBackward = proximal(model);
    return ml::trainLoop([&](const torch::Tensor& x) { return forward(model, x); }, std::move(groups), inputs, labels,
                         loop);
  }
  DataParallelOptions dp;
  dp.devices = options.cudaDevices;
  dp.forward = forward;
  dp.afterAverage = proximal;  // identical on every replica, so after the average as before it
  const auto numClasses = model->numClasses();
  auto stats = trainDataParallel(
      model, [&] { return ml::TransferModel(sameArchitecture(model->backbone), numClasses); }, groups, inputs, labels,
      loop, dp);
  report.cudaDevices = stats.devices;
  report.allReduceSeconds = stats.allReduceSeconds;
  return stats.loop;
}

}  // namespace

Strategy Strategy::parse(const std::string& text) {
  Strategy s;
  if (text == "linear-probe") {
    s.kind = StrategyKind::kLinearProbe;
  } else if (text == "full") {
    s.kind = StrategyKind::kFull;
  } else if (text == "scratch") {
    s.kind = StrategyKind::kScratch;
  } else if (text.rfind("partial:", 0) == 0) {
    s.kind = StrategyKind::kPartial;
    std::size_t used = 0;
    int k = 0;
    try {
      k = std::stoi(text.substr(8), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    FEDTL_ENFORCE(used > 0 && used == text.size() - 8 && k >= 1, ConfigError, "strategy '", text,
                  "': K in partial:K must be a whole number of blocks, at least 1");
    s.unfrozenBlocks = k;
  } else {
    throw ConfigError("unknown strategy '" + text + "': use linear-probe, partial:K, full or scratch");
  }
  return s;
}

std::string Strategy::name() const {
  switch (kind) {
    case StrategyKind::kLinearProbe: return "linear-probe";
    case StrategyKind::kPartial: return "partial:" + std::to_string(unfrozenBlocks);
    case StrategyKind::kFull: return "full";
    case StrategyKind::kScratch: return "scratch";
  }
  return "";
}

std::int64_t Strategy::trainableBlocks(std::int64_t numBlocks) const {
  switch (kind) {
    case StrategyKind::kLinearProbe: return 0;
    case StrategyKind::kPartial:
      FEDTL_ENFORCE(unfrozenBlocks <= numBlocks, ConfigError, "partial:", unfrozenBlocks, " asks for more blocks than the ",
                    numBlocks, " this backbone has");
      return unfrozenBlocks;
    case StrategyKind::kFull:
    case StrategyKind::kScratch: return numBlocks;
  }
  return 0;
}

std::int64_t defaultSteps(std::int64_t trainSize, std::int64_t batchSize) {
  std::int64_t perEpoch = std::max<std::int64_t>(1, trainSize / std::max<std::int64_t>(1, batchSize));
  return std::clamp<std::int64_t>(30 * perEpoch, 300, 1500);
}

std::vector<std::string> applyFreezing(ml::TransferModel& model, const Strategy& strategy) {
  auto& backbone = model->backbone;
  const auto first = backbone->numBlocks() - strategy.trainableBlocks(backbone->numBlocks());
  for (auto& p : backbone->parameters()) p.set_requires_grad(false);
  for (std::int64_t b = first; b < backbone->numBlocks(); ++b)
    for (auto& p : backbone->block(b)->parameters()) p.set_requires_grad(true);
  for (auto& p : model->head->parameters()) p.set_requires_grad(true);
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad()) names.push_back(p.key());
  return names;
}

std::vector<torch::Tensor> sharedParameters(ml::TransferModel& model, const Strategy& strategy, bool localBatchNorm) {
  applyFreezing(model, strategy);
  const auto local = localBatchNorm ? batchNormParameters(*model) : std::unordered_set<const void*>{};
  std::vector<torch::Tensor> out;
  for (auto& p : model->parameters())
    if (p.requires_grad() && local.count(p.unsafeGetTensorImpl()) == 0) out.push_back(p);
  return out;
}

ml::TransferModel makeTargetModel(const ml::TransferModel& pretrained, const Strategy& strategy, std::int64_t numClasses,
                                  std::uint64_t seed) {
  torch::manual_seed(seed);
  ml::Backbone backbone{nullptr};
  const auto& spec = pretrained->backbone->spec();
  if (strategy.usesPretrainedWeights()) {
    // A deep copy through the checkpoint's own serialisation keeps TorchScript backbones too.
    std::stringstream buffer;
    torch::save(pretrained->backbone, buffer);
    backbone = sameArchitecture(pretrained->backbone);
    torch::load(backbone, buffer);
  } else {
    FEDTL_ENFORCE(spec.architecture != "torchscript", ConfigError,
                  "scratch needs a native architecture; a TorchScript backbone cannot be re-initialised");
    backbone = ml::makeBackbone(spec);
  }
  return ml::TransferModel(backbone, numClasses);
}

FineTuneReport fineTune(ml::TransferModel& model, const Strategy& strategy, const ml::TensorSet& train,
                        const FineTuneOptions& options, PrefixCache* cache) {
  auto start = Clock::now();
  FEDTL_ENFORCE(train.size() > 0, DataError, "no training samples for fine-tuning");
  FEDTL_ENFORCE(train.numClasses == model->numClasses(), ConfigError, "the head has ", model->numClasses(),
                " classes but the training data has ", train.numClasses);
  FEDTL_ENFORCE(std::isfinite(options.proximalMu) && options.proximalMu >= 0, ConfigError, "proximal mu must be >= 0, got ",
                options.proximalMu);
  // Before any work: a build or machine without the GPUs asked for says so at once.
  if (!options.cudaDevices.empty()) checkDataParallelDevices(options.cudaDevices);
  auto& backbone = model->backbone;
  const auto numBlocks = backbone->numBlocks();
  const auto trainable = strategy.trainableBlocks(numBlocks);
  const auto firstTrainable = numBlocks - trainable;
  const bool pretrained = strategy.usesPretrainedWeights();

  FineTuneReport report;
  applyFreezing(model, strategy);
  for (const auto& p : model->parameters())
    if (p.requires_grad()) report.trainableParameters += p.numel();

  const bool reuse = cache && cache->firstTrainableBlock == firstTrainable && cache->inputs.defined();
  if (pretrained && options.adaptBatchNorm && !reuse) {
    if (!options.batchNormStatistics.empty())
      ml::setBatchNormStatistics(*backbone, options.batchNormStatistics);
    else
      ml::reestimateBatchNorm(*backbone, [&](const torch::Tensor& x) { return backbone->forward(x); }, train.images);
  }

  ml::LoopOptions loop;
  loop.batchSize = options.batchSize;
  loop.seed = options.seed;
  loop.steps = options.steps > 0 ? options.steps : defaultSteps(train.size(), options.batchSize);
  loop.warmupFraction = pretrained ? 0.0 : 0.05;
  if (options.showProgress) loop.progressLabel = "fine-tune " + strategy.name();
  std::function<std::function<void()>(ml::TransferModel&)> proximal;
  if (options.proximalMu > 0)
    proximal = [&](ml::TransferModel& m) {
      return proximalPull(sharedParameters(m, strategy, options.localBatchNorm), options.proximalMu);
    };

  std::vector<ml::ParamGroup> groups{{model->head->parameters(), options.headLr}};
  std::vector<torch::Tensor> body;
  for (auto& p : backbone->parameters())
    if (p.requires_grad()) body.push_back(p);
  if (!body.empty()) groups.push_back({body, pretrained ? options.headLr * options.backboneLrScale : options.headLr});

  if (firstTrainable > 0) {
    // Frozen prefix: compute its outputs once, for several augmented views of each sample,
    // then train only the suffix and the head on the cache.
    auto cacheStart = Clock::now();
    model->eval();
    torch::Tensor inputs, targets;
    if (reuse) {
      inputs = cache->inputs;
      targets = cache->targets;
    } else {
      const int views = options.augmentShift > 0 ? std::max(1, options.cachedViews) : 1;
      auto gen = at::detail::createCPUGenerator(options.seed ^ 0x5eedULL);
      std::vector<torch::Tensor> cached, labels;
      for (int v = 0; v < views; ++v) {
        auto images = v == 0 ? train.images : ml::randomShift(train.images, options.augmentShift, gen);
        cached.push_back(ml::mapBatches(
            [&](const torch::Tensor& x) { return backbone->forwardPrefix(x, firstTrainable); }, images, 500));
        labels.push_back(train.labels);
      }
      inputs = torch::cat(cached);
      targets = torch::cat(labels);
      if (cache) *cache = {firstTrainable, inputs, targets};
    }
    report.cacheSeconds = since(cacheStart);
    loop.augmentShift = 0;
    report.loop = runSteps(
        model,
        [&](ml::TransferModel& m, const torch::Tensor& h) {
          return m->head->forward(m->backbone->forwardSuffix(h, firstTrainable));
        },
        groups, inputs, targets, loop, options, proximal, report);
  } else {
    loop.augmentShift = options.augmentShift;
    report.loop = runSteps(
        model,
        [&](ml::TransferModel& m, const torch::Tensor& x) {
          m->train();
          if (pretrained) freezeBatchNormStats(*m);
          return m->forward(x);
        },
        groups, train.images, train.labels, loop, options, proximal, report);
  }
  model->eval();
  report.totalSeconds = since(start);
  return report;
}

}  // namespace fedtl::participant

namespace fedtl::participant {

TransferResult transfer(const ml::TransferModel& pretrained, const Strategy& strategy, const ml::TensorSet& train,
                        const ml::TensorSet& test, const FineTuneOptions& options) {
  FEDTL_ENFORCE(test.size() > 0, DataError, "no test samples to evaluate the transfer on");
  FEDTL_ENFORCE(train.numClasses == test.numClasses, DataError, "train and test data disagree on the class count (",
                train.numClasses, " vs ", test.numClasses, ")");
  auto model = makeTargetModel(pretrained, strategy, train.numClasses, options.seed);
  TransferResult r;
  r.strategy = strategy.name();
  r.trainSamples = train.size();
  r.report = fineTune(model, strategy, train, options);
  auto eval = ml::evaluate([&](const torch::Tensor& x) { return model->forward(x); }, test.images, test.labels);
  r.testAccuracy = eval.accuracy;
  r.testLoss = eval.loss;
  r.perClassAccuracy = eval.perClassAccuracy;
  return r;
}

}  // namespace fedtl::participant
