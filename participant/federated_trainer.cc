#include "participant/federated_trainer.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/error.h"
#include "common/file_io.h"
#include "common/ml/checkpoint.h"
#include "common/ml/flat_parameters.h"
#include "common/ml/training.h"
#include "participant/data_parallel.h"

namespace fedtl::participant {

std::vector<float> initialTrainableParameters(const ml::TransferModel& pretrained, const Strategy& strategy,
                                              std::int64_t numClasses, std::uint64_t seed, bool localBatchNorm) {
  auto model = makeTargetModel(pretrained, strategy, numClasses, seed);
  return ml::flatten(sharedParameters(model, strategy, localBatchNorm));
}

FederatedTrainer::FederatedTrainer(ml::TensorSet train, ml::TensorSet test, std::string cacheDir, FineTuneOptions base)
    : train_(std::move(train)), test_(std::move(test)), cacheDir_(std::move(cacheDir)), base_(base) {
  FEDTL_ENFORCE(train_.size() > 0, DataError, "participant has no training samples");
  // GPUs asked for but not there (or a build without CUDA) fail now, not at the first round.
  if (!base_.cudaDevices.empty()) checkDataParallelDevices(base_.cudaDevices);
  // The most recent cached backbone is offered in hello; a match skips the download.
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_time_type newest{};
  for (const auto& e : fs::directory_iterator(cacheDir_, ec)) {
    if (e.path().extension() != ".fedtl" || e.path().stem().string().size() != 64) continue;
    if (digest_.empty() || e.last_write_time() > newest) {
      newest = e.last_write_time();
      digest_ = e.path().stem().string();
    }
  }
  if (!digest_.empty()) {
    try {
      loadCached(digest_);
    } catch (const Error& e) {
      spdlog::warn("cached backbone unusable ({}); it will be downloaded again", e.what());
      digest_.clear();
    }
  }
}

void FederatedTrainer::loadCached(const std::string& digest) {
  auto path = (std::filesystem::path(cacheDir_) / (digest + ".fedtl")).string();
  auto loaded = ml::loadCheckpoint(path);
  FEDTL_ENFORCE(loaded.digestHex == digest, CheckpointError, "cached backbone '", path, "' has digest ",
                loaded.digestHex);
  pretrained_ = loaded.model;
  model_ = nullptr;
  cache_ = {};
}

void FederatedTrainer::setBackbone(const std::string& digest, const std::string& checkpoint) {
  auto path = (std::filesystem::path(cacheDir_) / (digest + ".fedtl")).string();
  writeFileAtomic(path, checkpoint);
  loadCached(digest);
  digest_ = digest;
}

void FederatedTrainer::prepare(const protocols::TrainConfig& config) {
  const bool keepModel = model_ && config.strategy == strategyName_;
  if (keepModel && config.localBatchNorm == localBatchNorm_) return;
  auto strategy = Strategy::parse(config.strategy);
  if (!keepModel) {
    FEDTL_ENFORCE(pretrained_, ConfigError, "no backbone to train");
    model_ = makeTargetModel(pretrained_, strategy, train_.numClasses, config.seed);
    strategyName_ = config.strategy;
    cache_ = {};
  }
  shared_ = sharedParameters(model_, strategy, config.localBatchNorm);
  localBatchNorm_ = config.localBatchNorm;
}

protocols::Update FederatedTrainer::train(const protocols::RoundStart& start) {
  prepare(start.config);
  if (start.batchNormStatistics != statistics_) {
    cache_ = {};  // the frozen prefix's outputs depend on the BatchNorm statistics
    statistics_ = start.batchNormStatistics;
  }
  ml::assign(shared_, start.parameters);  // throws on a model-size mismatch; local BN stays
  FineTuneOptions options = base_;
  options.steps = start.config.steps;
  options.batchSize = start.config.batchSize;
  options.headLr = start.config.learningRate;
  options.proximalMu = start.config.proximalMu;
  options.localBatchNorm = start.config.localBatchNorm;
  options.seed = start.config.seed;
  options.batchNormStatistics = statistics_;
  auto report = fineTune(model_, Strategy::parse(start.config.strategy), train_, options, &cache_);
  protocols::Update update;
  update.trainSamples = static_cast<std::uint64_t>(train_.size());
  update.trainLoss = report.loop.finalLoss;
  update.delta = ml::flatten(shared_);
  for (std::size_t i = 0; i < update.delta.size(); ++i) update.delta[i] -= start.parameters[i];
  return update;
}

std::vector<float> FederatedTrainer::batchNormStatistics() {
  FEDTL_ENFORCE(pretrained_, ConfigError, "no backbone");
  // AdaBN on a copy: the statistics the local images give the pretrained backbone.
  auto copy = makeTargetModel(pretrained_, Strategy::parse("linear-probe"), train_.numClasses, 0);
  auto& backbone = copy->backbone;
  ml::reestimateBatchNorm(*backbone, [&](const torch::Tensor& x) { return backbone->forward(x); }, train_.images);
  return ml::batchNormStatistics(*backbone);
}

protocols::EvalResult FederatedTrainer::evaluate(const std::vector<float>& parameters) {
  FEDTL_ENFORCE(model_, ConfigError, "evaluation before any round");
  ml::assign(shared_, parameters);
  model_->eval();
  auto r = ml::evaluate([&](const torch::Tensor& x) { return model_->forward(x); }, test_.images, test_.labels);
  return {static_cast<std::uint64_t>(r.samples), r.accuracy, r.loss};
}

}  // namespace fedtl::participant
