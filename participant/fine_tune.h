// Local fine-tuning strategies, the transfer-learning methods of fedtl:
//   linear-probe  frozen backbone, new head; features computed once and cached
//   partial:K     last K backbone blocks unfrozen at a smaller learning rate than the head;
//                 the frozen prefix's outputs are cached
//   full          every parameter trains, the backbone at the smaller learning rate
//   scratch       the same architecture from random weights (the baseline transfer must beat)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ml/backbone.h"
#include "common/ml/tensor_set.h"
#include "common/ml/training.h"

namespace fedtl::participant {

enum class StrategyKind { kLinearProbe, kPartial, kFull, kScratch };

struct Strategy {
  StrategyKind kind = StrategyKind::kLinearProbe;
  int unfrozenBlocks = 0;  // partial:K

  // "linear-probe", "partial:K", "full" or "scratch"; throws ConfigError otherwise.
  static Strategy parse(const std::string& text);
  std::string name() const;
  bool usesPretrainedWeights() const { return kind != StrategyKind::kScratch; }
  // Number of trailing backbone blocks that train, for a backbone of numBlocks blocks.
  std::int64_t trainableBlocks(std::int64_t numBlocks) const;
};

struct FineTuneOptions {
  std::int64_t steps = 0;         // 0: chosen from the training-set size (defaultSteps)
  std::int64_t batchSize = 64;
  double headLr = 0.05;
  double backboneLrScale = 0.2;   // backbone learning rate = headLr * this (not for scratch)
  int augmentShift = 2;           // random translation in pixels; 0 disables augmentation
  int cachedViews = 8;            // augmented views per sample in a frozen-prefix cache
  bool adaptBatchNorm = true;     // re-estimate BN statistics on the target images first
  // Federated AdaBN: the participants' pooled statistics (ml::batchNormStatistics form) to use
  // instead of re-estimating on the local images; empty: adapt locally.
  std::vector<float> batchNormStatistics;
  // FedProx: adds (mu/2)·||w - w0||² over the shared trainable parameters, w0 being their
  // values when fineTune starts (in a federated round, the round's global parameters). 0: off.
  double proximalMu = 0.0;
  // FedBN: BatchNorm weights and biases are local, so the proximal term leaves them out.
  bool localBatchNorm = false;
  std::uint64_t seed = 0;
  bool showProgress = false;
  // Where the training steps run. Empty: on the CPU, ml::trainLoop, as always. One index: on
  // that CUDA device; several: data-parallel over them, a replica each and an NCCL gradient
  // all-reduce every step (trainDataParallel, participant/data_parallel.h). The model, the
  // BatchNorm adaptation and a frozen prefix's cache stay on the CPU; the trained weights are
  // copied back. Builds without a CUDA LibTorch and NCCL, and machines without enough GPUs,
  // throw ConfigError saying so before any work.
  std::vector<int> cudaDevices;
};

// 300 steps at least (few-shot sets), 30 epochs at most, 1500 steps at most.
std::int64_t defaultSteps(std::int64_t trainSize, std::int64_t batchSize);

// Sets requires_grad per the strategy and returns the names of the trainable parameters.
std::vector<std::string> applyFreezing(ml::TransferModel& model, const Strategy& strategy);

// The trainable parameters that are shared in federated rounds, in model order: with
// localBatchNorm (FedBN) the weights and biases of BatchNorm layers stay local and are left out.
// Sets requires_grad per the strategy, like applyFreezing.
std::vector<torch::Tensor> sharedParameters(ml::TransferModel& model, const Strategy& strategy, bool localBatchNorm);

// A model for the strategy: the pretrained backbone (deep copy) with a new head, or for
// scratch a freshly initialised backbone of the same architecture.
ml::TransferModel makeTargetModel(const ml::TransferModel& pretrained, const Strategy& strategy, std::int64_t numClasses,
                                  std::uint64_t seed);

// The frozen prefix's outputs for a training set, kept across calls: with a frozen backbone
// they never change, so federated rounds after the first skip the backbone entirely.
struct PrefixCache {
  std::int64_t firstTrainableBlock = -1;
  torch::Tensor inputs, targets;
};

struct FineTuneReport {
  ml::LoopStats loop;
  int cudaDevices = 0;          // devices the steps ran on (0: the CPU)
  double allReduceSeconds = 0;  // spent averaging gradients across them
  double cacheSeconds = 0;      // time spent computing the frozen-prefix cache
  double totalSeconds = 0;
  std::int64_t trainableParameters = 0;
};

// Fine-tunes model (made by makeTargetModel) on train; the model is left in eval mode.
// With `cache`, a prefix cache built for the same model, data and strategy is reused, and a
// new one is stored there.
FineTuneReport fineTune(ml::TransferModel& model, const Strategy& strategy, const ml::TensorSet& train,
                        const FineTuneOptions& options, PrefixCache* cache = nullptr);

}  // namespace fedtl::participant

namespace fedtl::participant {

struct TransferResult {
  std::string strategy;
  double testAccuracy = 0;  // 0..1
  double testLoss = 0;
  std::vector<double> perClassAccuracy;
  std::int64_t trainSamples = 0;
  FineTuneReport report;
};

// The whole transfer of one strategy: a target model from the pretrained one, fine-tuned on
// train, evaluated on test.
TransferResult transfer(const ml::TransferModel& pretrained, const Strategy& strategy, const ml::TensorSet& train,
                        const ml::TensorSet& test, const FineTuneOptions& options);

}  // namespace fedtl::participant
