// Where fine-tuning runs (FineTuneOptions::cudaDevices): on the CPU exactly as ml::trainLoop
// does, a clear ConfigError where the build or the machine has no GPU for it, and on a GPU
// machine with a CUDA build, training on the devices (skipped elsewhere).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "participant/data_parallel.h"
#include "participant/federated_trainer.h"
#include "participant/fine_tune.h"
#include "tests/unit/test_util.h"

namespace fedtl::participant {
namespace {

ml::TensorSet syntheticSet(std::int64_t n) { return {torch::rand({n, 1, 28, 28}), torch::arange(n) % 4, 4, {}}; }

std::vector<torch::Tensor> snapshot(const ml::TransferModel& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  for (const auto& b : model->buffers()) out.push_back(b.detach().clone());
  return out;
}

void expectSame(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

// The message of the ConfigError `fn` throws ("" and a failure if it throws none).
std::string configError(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return "";
}

// What asking for GPUs says without them: the build's lack, or the machine's device count.
void expectNoGpuMessage(const std::string& message) {
  const bool build = message.find("built without CUDA/NCCL") != std::string::npos;
  if (build) {
    EXPECT_NE(message.find("-DFEDTL_WITH_NCCL=ON"), std::string::npos) << message;
    EXPECT_NE(message.find("CUDA-enabled LibTorch"), std::string::npos) << message;
  } else {
    EXPECT_NE(message.find("nccl::deviceCount() found"), std::string::npos) << message;
  }
}

class FineTuneDevices : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    pretrained_ = ml::TransferModel(ml::makeSmallCnn(), 10, 128);
    train_ = syntheticSet(48);
    options_.steps = 6;
    options_.batchSize = 16;
    options_.seed = 3;
    options_.adaptBatchNorm = false;
  }

  ml::TransferModel pretrained_{nullptr};
  ml::TensorSet train_;
  FineTuneOptions options_;
};

// An empty device list is the CPU path of before: ml::trainLoop with fineTune's batches,
// schedule, learning rates, frozen BatchNorm statistics and FedProx pull, bit for bit.
TEST_F(FineTuneDevices, EmptyListTrainsOnTheCpuAsTrainLoopDoes) {
  const auto strategy = Strategy::parse("full");
  options_.augmentShift = 2;
  options_.proximalMu = 0.5;
  ASSERT_TRUE(options_.cudaDevices.empty());
  auto model = makeTargetModel(pretrained_, strategy, 4, 1);
  auto report = fineTune(model, strategy, train_, options_);
  EXPECT_EQ(report.cudaDevices, 0);
  EXPECT_EQ(report.allReduceSeconds, 0);
  EXPECT_EQ(report.loop.samples, 6 * 16);

  auto reference = makeTargetModel(pretrained_, strategy, 4, 1);
  applyFreezing(reference, strategy);
  std::vector<torch::Tensor> params, anchor;
  for (const auto& p : reference->parameters()) {
    params.push_back(p);
    anchor.push_back(p.detach().clone());
  }
  ml::LoopOptions loop;
  loop.steps = options_.steps;
  loop.batchSize = options_.batchSize;
  loop.seed = options_.seed;
  loop.augmentShift = options_.augmentShift;
  loop.afterBackward = [&] {
    torch::NoGradGuard noGrad;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto& grad = params[i].mutable_grad();
      if (!grad.defined()) grad = torch::zeros_like(params[i]);
      grad.add_(params[i].detach(), options_.proximalMu).sub_(anchor[i], options_.proximalMu);
    }
  };
  std::vector<ml::ParamGroup> groups{{reference->head->parameters(), options_.headLr},
                                     {reference->backbone->parameters(), options_.headLr * options_.backboneLrScale}};
  auto stats = ml::trainLoop(
      [&](const torch::Tensor& x) {
        reference->train();
        for (const auto& m : reference->modules(false))
          if (m->as<torch::nn::BatchNorm2d>()) m->eval();
        return reference->forward(x);
      },
      groups, train_.images, train_.labels, loop);
  reference->eval();
  EXPECT_EQ(report.loop.finalLoss, stats.finalLoss);
  expectSame(snapshot(model), snapshot(reference));
}

// The frozen-prefix path too: the same options twice, once with an explicitly empty list.
TEST_F(FineTuneDevices, EmptyListIsTheDefault) {
  const auto strategy = Strategy::parse("partial:1");
  auto a = makeTargetModel(pretrained_, strategy, 4, 1), b = makeTargetModel(pretrained_, strategy, 4, 1);
  auto ra = fineTune(a, strategy, train_, options_);
  options_.cudaDevices = {};
  auto rb = fineTune(b, strategy, train_, options_);
  EXPECT_EQ(ra.loop.finalLoss, rb.loop.finalLoss);
  expectSame(snapshot(a), snapshot(b));
}

TEST_F(FineTuneDevices, GpusThatAreNotThereFailClearlyBeforeAnyWork) {
  const int visible = dataParallelDeviceCount();
  const auto strategy = Strategy::parse("linear-probe");
  auto model = makeTargetModel(pretrained_, strategy, 4, 1);
  const auto before = snapshot(model);
  // One past the last device this build and machine can use: none at all here without a GPU.
  options_.cudaDevices = {visible};
  auto message = configError([&] { fineTune(model, strategy, train_, options_); });
  if (visible == 0) {
    expectNoGpuMessage(message);
  } else {
    EXPECT_NE(message.find("this machine has " + std::to_string(visible)), std::string::npos) << message;
  }
  expectSame(snapshot(model), before);  // nothing trained, BatchNorm included
  options_.cudaDevices = {0, 1};
  if (visible < 2) expectNoGpuMessage(configError([&] { fineTune(model, strategy, train_, options_); }));
  if (visible > 0) {
    EXPECT_NE(configError([&] { checkDataParallelDevices({0, 0}); }).find("twice"), std::string::npos);
  }

  // A participant asked for them fails when made, before its first round.
  testing::TempDir dir;
  FineTuneOptions base;
  base.cudaDevices = {visible};
  message = configError([&] { FederatedTrainer(train_, train_, dir.path(), base); });
  if (visible == 0) expectNoGpuMessage(message);
}

// On a GPU machine with a CUDA build: one device, then (with two) data-parallel, each close to
// the CPU's result (the same batches and schedule; GPU arithmetic, TF32 included, differs).
TEST_F(FineTuneDevices, TrainsOnCudaDevices) {
  const int visible = dataParallelDeviceCount();
  if (visible == 0) GTEST_SKIP() << "no CUDA device for data-parallel training in this build or on this machine";
  for (const char* name : {"linear-probe", "full"}) {
    const auto strategy = Strategy::parse(name);
    options_.proximalMu = 0.1;
    auto cpu = makeTargetModel(pretrained_, strategy, 4, 1);
    fineTune(cpu, strategy, train_, options_);
    std::vector<std::vector<int>> lists{{0}};
    if (visible >= 2) lists.push_back({0, 1});
    for (const auto& devices : lists) {
      SCOPED_TRACE(std::string(name) + " on " + std::to_string(devices.size()) + " device(s)");
      auto gpu = makeTargetModel(pretrained_, strategy, 4, 1);
      options_.cudaDevices = devices;
      auto report = fineTune(gpu, strategy, train_, options_);
      EXPECT_EQ(report.cudaDevices, static_cast<int>(devices.size()));
      EXPECT_EQ(report.loop.samples, 6 * 16);
      EXPECT_TRUE(std::isfinite(report.loop.finalLoss));
      EXPECT_FALSE(gpu->is_training());
      auto a = snapshot(cpu), b = snapshot(gpu);
      ASSERT_EQ(a.size(), b.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(b[i].device().is_cpu()) << "tensor " << i;
        EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-2, 1e-3)) << "tensor " << i << " differs by "
                                                            << (a[i] - b[i]).abs().max().item<double>();
      }
    }
    options_.cudaDevices.clear();
  }
}

}  // namespace
}  // namespace fedtl::participant
