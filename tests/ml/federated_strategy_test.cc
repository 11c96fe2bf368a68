// FedProx and FedBN on the participant side: the proximal pull, and which parameters travel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "common/error.h"
#include "common/file_io.h"
#include "common/ml/checkpoint.h"
#include "common/ml/flat_parameters.h"
#include "participant/federated_trainer.h"
#include "participant/fine_tune.h"
#include "tests/unit/test_util.h"

namespace fedtl::participant {
namespace {

ml::TensorSet syntheticSet(std::int64_t n) { return {torch::rand({n, 1, 28, 28}), torch::arange(n) % 4, 4, {}}; }

double distance(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(sum);
}

// The BatchNorm layers of a module, found independently of the code under test.
std::vector<torch::nn::BatchNorm2dImpl*> batchNorms(const std::shared_ptr<torch::nn::Module>& module) {
  std::vector<torch::nn::BatchNorm2dImpl*> out;
  for (const auto& m : module->modules(/*include_self=*/false))
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) out.push_back(bn);
  return out;
}

class FederatedStrategy : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    ml::TransferModel source(ml::makeSmallCnn(), 10, 128);
    digest_ = ml::saveCheckpoint(dir_.file("backbone.fedtl"), source, {}, "federated strategy test");
    auto bytes = readFile(dir_.file("backbone.fedtl"), std::size_t{1} << 30);
    bytes_.assign(bytes.begin(), bytes.end());
    pretrained_ = ml::loadCheckpoint(dir_.file("backbone.fedtl")).model;
    train_ = syntheticSet(32);
    test_ = syntheticSet(16);
  }
  // Distance the shared parameters move from their start in one local fine-tuning.
  double drift(const Strategy& strategy, double mu) {
    auto model = makeTargetModel(pretrained_, strategy, 4, 0);
    auto shared = sharedParameters(model, strategy, false);
    auto start = ml::flatten(shared);
    FineTuneOptions options;
    options.steps = 20;
    options.batchSize = 16;
    options.adaptBatchNorm = false;
    options.augmentShift = 0;
    options.proximalMu = mu;
    fineTune(model, strategy, train_, options);
    return distance(ml::flatten(shared), start);
  }
  protocols::RoundStart roundStart(const std::string& strategy, bool localBatchNorm, std::vector<float> parameters) {
    protocols::RoundStart start;
    start.config.strategy = strategy;
    start.config.steps = 5;
    start.config.batchSize = 16;
    start.config.localBatchNorm = localBatchNorm;
    start.parameters = std::move(parameters);
    return start;
  }

  testing::TempDir dir_, cacheDir_;
  std::string digest_, bytes_;
  ml::TransferModel pretrained_{nullptr};
  ml::TensorSet train_, test_;
};

TEST_F(FederatedStrategy, ProximalTermKeepsTrainingNearTheGlobalParameters) {
  for (const char* name : {"linear-probe", "partial:1"}) {
    auto strategy = Strategy::parse(name);
    const double free = drift(strategy, 0.0), prox = drift(strategy, 10.0);
    EXPECT_GT(free, 0) << name;
    EXPECT_LT(prox, 0.25 * free) << name << ": " << prox << " vs " << free;
  }
}

TEST_F(FederatedStrategy, ProximalMuMustBeNonNegative) {
  auto strategy = Strategy::parse("linear-probe");
  auto model = makeTargetModel(pretrained_, strategy, 4, 0);
  FineTuneOptions options;
  options.steps = 1;
  options.proximalMu = -1;
  EXPECT_THROW(fineTune(model, strategy, train_, options), ConfigError);
}

TEST_F(FederatedStrategy, LocalBatchNormLeavesBatchNormOutOfTheVector) {
  auto strategy = Strategy::parse("partial:1");
  // small-cnn's last block is conv64-BN-ReLU-pool-flatten: 64 BN weights and 64 biases.
  auto norms = batchNorms(pretrained_->backbone->block(1));
  ASSERT_EQ(norms.size(), 1u);
  const auto bnCount = norms[0]->weight.numel() + norms[0]->bias.numel();
  ASSERT_EQ(bnCount, 128);
  auto everything = initialTrainableParameters(pretrained_, strategy, 4, 0, false);
  auto fedbn = initialTrainableParameters(pretrained_, strategy, 4, 0, true);
  EXPECT_EQ(static_cast<std::int64_t>(everything.size() - fedbn.size()), bnCount);
}

TEST_F(FederatedStrategy, ParticipantKeepsItsBatchNormAcrossRounds) {
  auto strategy = Strategy::parse("partial:1");
  auto global1 = initialTrainableParameters(pretrained_, strategy, 4, 0, true);
  const auto globalBn = batchNorms(pretrained_->backbone->block(1))[0]->weight.clone();
  FederatedTrainer trainer(train_, test_, cacheDir_.path());
  trainer.setBackbone(digest_, bytes_);

  auto u1 = trainer.train(roundStart("partial:1", true, global1));
  ASSERT_EQ(u1.delta.size(), global1.size());
  auto model = trainer.model();
  auto* bn = batchNorms(model->backbone->block(1))[0];
  const auto localBn = bn->weight.clone();
  EXPECT_FALSE(torch::equal(localBn, globalBn));  // trained locally in round 1

  // The next global vector, as after aggregation: it fills every shared parameter, not BN.
  auto global2 = global1;
  for (std::size_t i = 0; i < global2.size(); ++i) global2[i] += u1.delta[i] + 0.01f;
  trainer.evaluate(global2);  // assigns the way a round start does
  EXPECT_EQ(ml::flatten(sharedParameters(model, strategy, true)), global2);
  EXPECT_TRUE(torch::equal(bn->weight, localBn));

  auto u2 = trainer.train(roundStart("partial:1", true, global2));
  EXPECT_EQ(u2.delta.size(), global2.size());
  EXPECT_EQ(trainer.model().ptr(), model.ptr());  // the same model: its BN carried over
  EXPECT_FALSE(torch::equal(bn->weight, globalBn));
  EXPECT_FALSE(torch::equal(bn->weight, localBn));  // and kept training

  // Without FedBN the vector holds BN again and the global values overwrite the local ones.
  auto everything = initialTrainableParameters(pretrained_, strategy, 4, 0, false);
  trainer.train(roundStart("partial:1", false, everything));
  trainer.evaluate(everything);
  EXPECT_TRUE(torch::equal(bn->weight, globalBn));
}

TEST_F(FederatedStrategy, LinearProbeVectorIsTheSameWithLocalBatchNorm) {
  auto strategy = Strategy::parse("linear-probe");
  auto plain = initialTrainableParameters(pretrained_, strategy, 4, 0, false);
  EXPECT_EQ(initialTrainableParameters(pretrained_, strategy, 4, 0, true), plain);
  EXPECT_EQ(plain.size(), 3136u * 4 + 4);
}

TEST(FederatedStrategyTorchScript, BatchNormIsFoundInsideAScriptModule) {
  testing::TempDir dir;
  auto path = dir.file("features.pt");
  std::string cmd = std::string(FEDTL_TEST_PYTHON) + " " + FEDTL_TEST_SCRIPTS + "/make_torchscript_backbone.py " + path;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "needs Debian's python3-torch: " << cmd;
  ml::BackboneSpec spec;
  spec.mean = {0.0f};
  spec.std = {1.0f};
  ml::TransferModel model(ml::loadTorchScriptBackbone(path, spec), 3);
  auto full = Strategy::parse("full");
  // The script's BatchNorm2d(6) is opaque to the C++ API: 6 weights and 6 biases.
  EXPECT_EQ(ml::countElements(sharedParameters(model, full, false)) - ml::countElements(sharedParameters(model, full, true)),
            12);
}

}  // namespace
}  // namespace fedtl::participant
