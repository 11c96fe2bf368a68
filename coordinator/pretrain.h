// Pretraining a backbone on the source domain: the coordinator's job before any transfer.
#pragma once

#include <cstdint>
#include <string>

#include "common/ml/backbone.h"
#include "common/ml/tensor_set.h"

namespace fedtl::coordinator {

struct PretrainOptions {
  std::string architecture = "small-cnn";
  std::int64_t epochs = 3;
  std::int64_t batchSize = 64;
  double lr = 0.05;
  double warmupFraction = 0.15;  // then cosine decay to zero
  std::int64_t headHidden = 128;  // hidden units of the pretraining head (0 = linear)
  double headDropout = 0.3;
  int augmentShift = 0;
  std::uint64_t seed = 0;
  bool showProgress = true;
};

struct PretrainResult {
  ml::TransferModel model{nullptr};
  double testAccuracy = 0;
  double trainSeconds = 0;
  double samplesPerSecond = 0;
};

PretrainResult pretrain(const ml::TensorSet& train, const ml::TensorSet& test, const PretrainOptions& options);

}  // namespace fedtl::coordinator
