// Data-parallel fine-tuning across local GPUs (builds with a CUDA-enabled LibTorch and NCCL).
#include "participant/data_parallel.h"

#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/error.h"
#include "common/nccl/nccl_reducer.h"

namespace fedtl::participant {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One copy of the model on one device, with its own optimiser over the trainable tensors.
struct Replica {
  ml::TransferModel model{nullptr};
  torch::Device device{torch::kCPU};
  std::vector<torch::Tensor> trainable;  // in the order of flatGradient
  std::unique_ptr<torch::optim::SGD> sgd;
  torch::Tensor flatGradient;  // float32 on `device`: every trainable gradient back to back, for one all-reduce
};

// Copies parameters, buffers, requires_grad flags and train/eval modes from `from` into `to`, a
// module of the same architecture (tensors may sit on different devices).
void copyModel(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard noGrad;
  auto fromParams = from.parameters(), toParams = to.parameters();
  FEDTL_ENFORCE(fromParams.size() == toParams.size(), ConfigError, "makeReplica built a model with ", toParams.size(),
                " parameter tensors, the model to train has ", fromParams.size());
  for (std::size_t i = 0; i < fromParams.size(); ++i) {
    FEDTL_ENFORCE(fromParams[i].sizes() == toParams[i].sizes(), ConfigError,
                  "makeReplica built a model whose parameter ", i, " has shape ", toParams[i].sizes(), " instead of ",
                  fromParams[i].sizes());
    toParams[i].copy_(fromParams[i]);
    toParams[i].set_requires_grad(fromParams[i].requires_grad());
  }
  auto fromBuffers = from.buffers(), toBuffers = to.buffers();
  FEDTL_ENFORCE(fromBuffers.size() == toBuffers.size(), ConfigError, "makeReplica built a model with ",
                toBuffers.size(), " buffers, the model to train has ", fromBuffers.size());
  for (std::size_t i = 0; i < fromBuffers.size(); ++i) toBuffers[i].copy_(fromBuffers[i]);
  // Pre-order, parents before children: train() recurses, so each child's own mode is set last.
  to.train(from.is_training());
  auto fromModules = from.modules(/*include_self=*/false), toModules = to.modules(/*include_self=*/false);
  for (std::size_t i = 0; i < fromModules.size() && i < toModules.size(); ++i)
    toModules[i]->train(fromModules[i]->is_training());
}

// Replaces every replica's gradients by their average over the replicas: flattened into one
// buffer per replica, one NCCL all-reduce, unflattened.
void averageGradients(std::vector<Replica>& replicas, nccl::NcclReducer& reducer, std::vector<float*>& flatGradients,
                      std::size_t elements, const DataParallelOptions& options, DataParallelStats& stats) {
  // NCCL runs on streams of its own, so the backward passes must be complete before it reads.
  for (auto& rep : replicas) torch::cuda::synchronize(rep.device.index());
  auto averaging = Clock::now();
  for (auto& rep : replicas) {
    torch::NoGradGuard noGrad;
    std::int64_t offset = 0;
    for (auto& p : rep.trainable) {
      auto slice = rep.flatGradient.narrow(0, offset, p.numel());
      if (p.grad().defined())
        slice.copy_(p.grad().reshape(-1));
      else
        slice.zero_();  // a tensor the forward pass did not reach
      offset += p.numel();
    }
    torch::cuda::synchronize(rep.device.index());
  }
  reducer.allReduceAverage(Span<float* const>(flatGradients), elements, options.allReduceTimeout);
  for (auto& rep : replicas) {
    torch::NoGradGuard noGrad;
    std::int64_t offset = 0;
    for (auto& p : rep.trainable) {
      auto averaged = rep.flatGradient.narrow(0, offset, p.numel()).view_as(p);
      if (p.grad().defined())
        p.mutable_grad().copy_(averaged);
      else
        p.mutable_grad() = averaged.clone();
      offset += p.numel();
    }
  }
  stats.allReduceSeconds += since(averaging);
}

}  // namespace

int dataParallelDeviceCount() noexcept {
  try {
    if (!nccl::available() || !torch::cuda::is_available()) return 0;
    return std::min(static_cast<int>(torch::cuda::device_count()), nccl::deviceCount());
  } catch (...) {
    return 0;
  }
}

void checkDataParallelDevices(const std::vector<int>& devices) {
  const int visible = dataParallelDeviceCount();
  std::string asked;
  for (int d : devices) asked += (asked.empty() ? "" : ",") + std::to_string(d);
  FEDTL_ENFORCE(!devices.empty(), ConfigError, "training on CUDA devices needs at least one, and this machine has ",
                visible, " (", nccl::describe(), ")");
  for (std::size_t i = 0; i < devices.size(); ++i) {
    FEDTL_ENFORCE(devices[i] >= 0 && devices[i] < visible, ConfigError, "CUDA devices ", asked, " asked for, but ",
                  visible == 0 ? std::string("this machine has none: ")
                               : "this machine has " + std::to_string(visible) + " (0.." + std::to_string(visible - 1) +
                                     "): ",
                  "nccl::deviceCount() found ", nccl::deviceCount(), " (", nccl::describe(), ")");
    // NCCL cannot put two ranks of one communicator on one device.
    FEDTL_ENFORCE(std::find(devices.begin(), devices.begin() + static_cast<std::ptrdiff_t>(i), devices[i]) ==
                      devices.begin() + static_cast<std::ptrdiff_t>(i),
                  ConfigError, "CUDA device ", devices[i], " is listed twice in ", asked);
  }
}

DataParallelStats trainDataParallel(ml::TransferModel& model, const std::function<ml::TransferModel()>& makeReplica,
                                    const std::vector<ml::ParamGroup>& groups, const torch::Tensor& inputs,
                                    const torch::Tensor& labels, const ml::LoopOptions& loop,
                                    const DataParallelOptions& options) {
  FEDTL_ENFORCE(!loop.afterBackward, ConfigError, "data-parallel training does not support LoopOptions::afterBackward");
  FEDTL_ENFORCE(inputs.size(0) == labels.size(0) && inputs.size(0) > 0, DataError,
                "training needs matching, non-empty ", "inputs and labels (", inputs.size(0), " vs ", labels.size(0),
                ")");
  FEDTL_ENFORCE(loop.batchSize > 0, ConfigError, "batch size must be positive");
  std::vector<int> devices = options.devices;
  if (devices.empty())
    for (int d = 0, visible = dataParallelDeviceCount(); d < visible; ++d) devices.push_back(d);
  checkDataParallelDevices(devices);
  const auto n = inputs.size(0);
  const auto batch = std::min(loop.batchSize, n);
  const auto shards = static_cast<std::int64_t>(devices.size());
  FEDTL_ENFORCE(batch >= shards, ConfigError, "a batch of ", batch, " cannot be split over ", shards, " devices");

  // Each trainable tensor's position among the model's parameters finds its twin in every replica.
  auto modelParams = model->parameters();
  std::unordered_map<const c10::TensorImpl*, std::size_t> position;
  for (std::size_t i = 0; i < modelParams.size(); ++i) position[modelParams[i].unsafeGetTensorImpl()] = i;
  std::vector<std::vector<std::size_t>> groupPositions;
  std::vector<double> baseLr;
  for (const auto& g : groups) {
    if (g.params.empty()) continue;
    std::vector<std::size_t> positions;
    for (const auto& t : g.params) {
      auto it = position.find(t.unsafeGetTensorImpl());
      FEDTL_ENFORCE(it != position.end(), ConfigError,
                    "a parameter group holds a tensor that is not a parameter of the model");
      FEDTL_ENFORCE(t.scalar_type() == torch::kFloat, ConfigError,
                    "data-parallel training averages float32 gradients; a trainable tensor is ", t.scalar_type());
      positions.push_back(it->second);
    }
    groupPositions.push_back(std::move(positions));
    baseLr.push_back(g.lr);
  }
  FEDTL_ENFORCE(!groupPositions.empty(), ConfigError, "nothing to train: every parameter is frozen");

  std::vector<Replica> replicas;
  for (int d : devices) {
    Replica r;
    r.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(d));
    r.model = makeReplica();
    copyModel(*model, *r.model);
    r.model->to(r.device);
    auto params = r.model->parameters();
    std::vector<torch::optim::OptimizerParamGroup> optGroups;
    for (std::size_t g = 0; g < groupPositions.size(); ++g) {
      std::vector<torch::Tensor> tensors;
      for (auto p : groupPositions[g]) tensors.push_back(params[p]);
      r.trainable.insert(r.trainable.end(), tensors.begin(), tensors.end());
      auto opts = std::make_unique<torch::optim::SGDOptions>(baseLr[g]);
      opts->momentum(loop.momentum).weight_decay(loop.weightDecay).nesterov(loop.nesterov && loop.momentum > 0);
      optGroups.emplace_back(tensors, std::move(opts));
    }
    r.sgd = std::make_unique<torch::optim::SGD>(optGroups, torch::optim::SGDOptions(baseLr.front()));
    std::int64_t elements = 0;
    for (const auto& t : r.trainable) elements += t.numel();
    r.flatGradient = torch::zeros({elements}, torch::TensorOptions().dtype(torch::kFloat).device(r.device));
    replicas.push_back(std::move(r));
  }
  const auto elements = static_cast<std::size_t>(replicas.front().flatGradient.numel());
  std::vector<float*> flatGradients;
  for (auto& r : replicas) flatGradients.push_back(r.flatGradient.data_ptr<float>());
  // One replica has nothing to average with: it trains alone on its device, without NCCL.
  std::optional<nccl::NcclReducer> reducer;
  if (replicas.size() > 1) reducer.emplace(nccl::NcclReducer::localDevices(Span<const int>(devices)));
  std::vector<std::function<void()>> afterAverage;
  if (options.afterAverage)
    for (auto& rep : replicas) afterAverage.push_back(options.afterAverage(rep.model));

  auto gen = at::detail::createCPUGenerator(loop.seed);
  const auto warmup = static_cast<std::int64_t>(loop.warmupFraction * static_cast<double>(loop.steps));
  DataParallelStats stats;
  stats.devices = static_cast<int>(shards);
  stats.gradientElements = static_cast<std::int64_t>(elements);
  torch::Tensor order;
  std::int64_t cursor = n;
  auto start = Clock::now();
  for (std::int64_t step = 0; step < loop.steps; ++step) {
    // The schedule, batches and augmentation of ml::trainLoop, so both train the same way.
    double scale = step < warmup
                       ? static_cast<double>(step + 1) / static_cast<double>(warmup)
                       : 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step - warmup) /
                                               static_cast<double>(std::max<std::int64_t>(1, loop.steps - warmup))));
    for (auto& r : replicas)
      for (std::size_t g = 0; g < baseLr.size(); ++g)
        static_cast<torch::optim::SGDOptions&>(r.sgd->param_groups()[g].options()).lr(baseLr[g] * scale);
    if (cursor + batch > n) {  // new epoch: reshuffle, drop the ragged tail
      order = torch::randperm(n, gen, torch::kInt64);
      cursor = 0;
    }
    auto idx = order.narrow(0, cursor, batch);
    cursor += batch;
    auto x = inputs.index_select(0, idx.to(inputs.device()));
    if (loop.augmentShift > 0) x = ml::randomShift(x.cpu(), loop.augmentShift, gen);
    auto y = labels.index_select(0, idx.to(labels.device()));
    auto xShards = x.tensor_split(shards), yShards = y.tensor_split(shards);

    double lastLoss = 0;
    for (std::size_t r = 0; r < replicas.size(); ++r) {
      auto& rep = replicas[r];
      auto xr = xShards[r].to(rep.device), yr = yShards[r].to(rep.device);
      rep.sgd->zero_grad();
      auto logits = options.forward ? options.forward(rep.model, xr) : rep.model->forward(xr);
      auto loss = torch::nn::functional::cross_entropy(logits, yr);
      // The all-reduce divides by the number of replicas: weighting each shard's mean loss by
      // its share of the batch times that number makes the average the whole batch's gradient.
      const double share = static_cast<double>(xr.size(0)) / static_cast<double>(batch);
      (loss * (share * static_cast<double>(shards))).backward();
      if (step + 1 == loop.steps) lastLoss += loss.item<double>() * share;
    }

    if (reducer) averageGradients(replicas, *reducer, flatGradients, elements, options, stats);
    for (auto& hook : afterAverage) hook();
    for (auto& rep : replicas) rep.sgd->step();
    stats.loop.samples += batch;
    if (step + 1 == loop.steps) stats.loop.finalLoss = lastLoss;
  }
  for (auto& rep : replicas) torch::cuda::synchronize(rep.device.index());
  stats.loop.seconds = since(start);
  copyModel(*replicas.front().model, *model);
  return stats;
}

}  // namespace fedtl::participant
