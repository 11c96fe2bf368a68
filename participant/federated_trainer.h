// The torch side of a participant: fine-tunes the distributed backbone on local data with the
// strategy the coordinator asks for, and reports only the update of the trainable parameters.
#pragma once

#include <memory>
#include <string>

#include "common/ml/backbone.h"
#include "common/ml/tensor_set.h"
#include "participant/fine_tune.h"
#include "participant/session.h"

namespace fedtl::participant {

// The shared trainable parameters of `strategy` (without BatchNorm ones under localBatchNorm,
// FedBN) on a target model made from `pretrained`, flattened: what the coordinator starts
// round 1 from. Both sides build them the same way (sharedParameters).
std::vector<float> initialTrainableParameters(const ml::TransferModel& pretrained, const Strategy& strategy,
                                              std::int64_t numClasses, std::uint64_t seed, bool localBatchNorm);

// The model persists across rounds while the strategy stays, so under FedBN its BatchNorm
// weights and biases (never assigned from the global vector) carry over from round to round.
class FederatedTrainer : public LocalTrainer {
 public:
  // cacheDir holds received backbones by digest, so a restarted participant skips the download.
  // `base` gives what the round's configuration does not: base.cudaDevices, say, where the
  // fine-tuning steps run (checked here, so missing GPUs fail before the first round).
  FederatedTrainer(ml::TensorSet train, ml::TensorSet test, std::string cacheDir, FineTuneOptions base = {});

  std::uint64_t trainSamples() const override { return static_cast<std::uint64_t>(train_.size()); }
  std::string cachedBackbone() const override { return digest_; }
  void setBackbone(const std::string& digest, const std::string& checkpoint) override;
  std::vector<float> batchNormStatistics() override;
  protocols::Update train(const protocols::RoundStart& start) override;
  protocols::EvalResult evaluate(const std::vector<float>& parameters) override;
  // The model of the current strategy (null before the first round), for inspection.
  ml::TransferModel model() const { return model_; }

 private:
  void loadCached(const std::string& digest);
  void prepare(const protocols::TrainConfig& config);

  ml::TensorSet train_, test_;
  std::string cacheDir_;
  FineTuneOptions base_;
  std::string digest_;
  ml::TransferModel pretrained_{nullptr};
  ml::TransferModel model_{nullptr};
  std::string strategyName_;
  bool localBatchNorm_ = false;
  std::vector<torch::Tensor> shared_;  // the parameters that travel, in vector order
  PrefixCache cache_;
  std::vector<float> statistics_;  // the pooled BatchNorm statistics the model uses (empty: local)
};

}  // namespace fedtl::participant
