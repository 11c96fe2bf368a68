#include "common/ml/training.h"

#include <cmath>
#include <optional>

#include "common/error.h"
#include "common/progress.h"

namespace fedtl::ml {

torch::Tensor randomShift(const torch::Tensor& images, int shift, torch::Generator& gen) {
  if (shift <= 0 || images.dim() != 4) return images;
  const auto n = images.size(0), h = images.size(2), w = images.size(3);
  auto padded = torch::constant_pad_nd(images, {shift, shift, shift, shift}, 0.0);
  auto offsets = torch::randint(0, 2 * shift + 1, {n, 2}, gen, torch::kInt64);
  auto out = torch::empty_like(images);
  const auto* off = offsets.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i)
    out[i].copy_(padded[i].narrow(1, off[2 * i], h).narrow(2, off[2 * i + 1], w));
  return out;
}

LoopStats trainLoop(const std::function<torch::Tensor(const torch::Tensor&)>& forward, std::vector<ParamGroup> groups,
                    const torch::Tensor& inputs, const torch::Tensor& labels, const LoopOptions& options) {
  FEDTL_ENFORCE(inputs.size(0) == labels.size(0) && inputs.size(0) > 0, DataError, "training needs matching, non-empty ",
                "inputs and labels (", inputs.size(0), " vs ", labels.size(0), ")");
  FEDTL_ENFORCE(options.batchSize > 0, ConfigError, "batch size must be positive");
  std::vector<torch::optim::OptimizerParamGroup> optGroups;
  std::vector<double> baseLr;
  for (auto& g : groups) {
    if (g.params.empty()) continue;
    auto opts = std::make_unique<torch::optim::SGDOptions>(g.lr);
    opts->momentum(options.momentum).weight_decay(options.weightDecay).nesterov(options.nesterov && options.momentum > 0);
    optGroups.emplace_back(g.params, std::move(opts));
    baseLr.push_back(g.lr);
  }
  FEDTL_ENFORCE(!optGroups.empty(), ConfigError, "nothing to train: every parameter is frozen");
  torch::optim::SGD sgd(optGroups, torch::optim::SGDOptions(baseLr.front()));

  auto gen = at::detail::createCPUGenerator(options.seed);
  const auto n = inputs.size(0);
  const auto batch = std::min(options.batchSize, n);
  const auto warmup = static_cast<std::int64_t>(options.warmupFraction * static_cast<double>(options.steps));
  std::optional<Progress> progress;
  if (!options.progressLabel.empty()) progress.emplace(options.progressLabel, options.steps * batch);

  LoopStats stats;
  torch::Tensor order;
  std::int64_t cursor = n;
  auto start = std::chrono::steady_clock::now();
  for (std::int64_t step = 0; step < options.steps; ++step) {
    double scale = step < warmup ? static_cast<double>(step + 1) / static_cast<double>(warmup)
                                 : 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step - warmup) /
                                                         static_cast<double>(std::max<std::int64_t>(1, options.steps - warmup))));
    for (std::size_t g = 0; g < baseLr.size(); ++g)
      static_cast<torch::optim::SGDOptions&>(sgd.param_groups()[g].options()).lr(baseLr[g] * scale);
    if (cursor + batch > n) {  // new epoch: reshuffle, drop the ragged tail
      order = torch::randperm(n, gen, torch::kInt64);
      cursor = 0;
    }
    auto idx = order.narrow(0, cursor, batch);
    cursor += batch;
    auto x = inputs.index_select(0, idx);
    if (options.augmentShift > 0) x = randomShift(x, options.augmentShift, gen);
    auto y = labels.index_select(0, idx);
    sgd.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(forward(x), y);
    loss.backward();
    if (options.afterBackward) options.afterBackward();
    sgd.step();
    stats.samples += batch;
    if (step + 1 == options.steps) stats.finalLoss = loss.item<double>();
    if (progress) progress->advance(batch);
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (progress) progress->finish("loss " + std::to_string(stats.finalLoss));
  return stats;
}

torch::Tensor mapBatches(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& inputs,
                         std::int64_t batchSize) {
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> outs;
  for (std::int64_t i = 0; i < inputs.size(0); i += batchSize)
    outs.push_back(fn(inputs.narrow(0, i, std::min(batchSize, inputs.size(0) - i))));
  return torch::cat(outs);
}

EvalResult evaluate(const std::function<torch::Tensor(const torch::Tensor&)>& forward, const torch::Tensor& inputs,
                    const torch::Tensor& labels, std::int64_t batchSize) {
  torch::NoGradGuard noGrad;
  EvalResult r;
  double correct = 0, lossSum = 0;
  const auto classes = labels.numel() > 0 ? labels.max().item<std::int64_t>() + 1 : 0;
  auto hits = torch::zeros({classes}, torch::kInt64), totals = torch::zeros({classes}, torch::kInt64);
  for (std::int64_t i = 0; i < inputs.size(0); i += batchSize) {
    auto len = std::min(batchSize, inputs.size(0) - i);
    auto logits = forward(inputs.narrow(0, i, len));
    auto y = labels.narrow(0, i, len);
    auto right = logits.argmax(1).eq(y);
    correct += right.sum().item<double>();
    totals.index_add_(0, y, torch::ones_like(y));
    hits.index_add_(0, y, right.to(torch::kInt64));
    lossSum += torch::nn::functional::cross_entropy(logits, y,
                                                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .item<double>();
  }
  r.samples = inputs.size(0);
  if (r.samples > 0) {
    r.accuracy = correct / static_cast<double>(r.samples);
    r.loss = lossSum / static_cast<double>(r.samples);
    for (std::int64_t c = 0; c < classes; ++c) {
      auto n = totals[c].item<std::int64_t>();
      r.perClassAccuracy.push_back(n > 0 ? static_cast<double>(hits[c].item<std::int64_t>()) / static_cast<double>(n) : 0.0);
    }
  }
  return r;
}

}  // namespace fedtl::ml
