#include "coordinator/pretrain.h"

#include "common/error.h"
#include "common/ml/training.h"

namespace fedtl::coordinator {

PretrainResult pretrain(const ml::TensorSet& train, const ml::TensorSet& test, const PretrainOptions& options) {
  FEDTL_ENFORCE(options.epochs >= 1, ConfigError, "pretraining needs at least 1 epoch, got ", options.epochs);
  FEDTL_ENFORCE(train.size() > 0, DataError, "pretraining data is empty");
  torch::manual_seed(options.seed);
  const auto c = train.images.size(1), h = train.images.size(2), w = train.images.size(3);
  ml::BackboneSpec spec;
  spec.architecture = options.architecture;
  spec.channels = c;
  spec.height = h;
  spec.width = w;
  // Normalisation from the source data itself, per channel.
  auto mean = train.images.mean({0, 2, 3}), std = train.images.std({0, 2, 3});
  spec.mean.assign(mean.data_ptr<float>(), mean.data_ptr<float>() + c);
  spec.std.assign(std.data_ptr<float>(), std.data_ptr<float>() + c);

  PretrainResult result;
  result.model = ml::TransferModel(ml::makeBackbone(spec), train.numClasses, options.headHidden, options.headDropout);
  auto& model = result.model;

  ml::LoopOptions loop;
  loop.batchSize = options.batchSize;
  loop.steps = options.epochs * (train.size() / options.batchSize);
  loop.warmupFraction = options.warmupFraction;
  loop.augmentShift = options.augmentShift;
  loop.seed = options.seed;
  if (options.showProgress) loop.progressLabel = "pretrain " + options.architecture;
  model->train();
  auto stats = ml::trainLoop([&](const torch::Tensor& x) { return model->forward(x); },
                             {{model->parameters(), options.lr}}, train.images, train.labels, loop);
  model->eval();
  result.trainSeconds = stats.seconds;
  result.samplesPerSecond = stats.samplesPerSecond();
  if (test.size() > 0)
    result.testAccuracy = ml::evaluate([&](const torch::Tensor& x) { return model->forward(x); }, test.images, test.labels).accuracy;
  return result;
}

}  // namespace fedtl::coordinator
