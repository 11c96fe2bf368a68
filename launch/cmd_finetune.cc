// fedtl finetune: transfer a backbone to target data with one strategy and report accuracy.
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "common/ml/scenario.h"
#include "common/summary_json.h"
#include "launch/commands.h"
#include "launch/transfer_common.h"
#include "participant/data_parallel.h"
#include "participant/fine_tune.h"

namespace fedtl::launch {

void addCudaDevicesOption(CLI::App& app, std::vector<int>& devices) {
  app.add_option("--cuda-devices", devices,
                 "fine-tune on these CUDA devices, e.g. 0 or 0,1: one trains there, several data-parallel with an "
                 "NCCL gradient all-reduce each step (default: the CPU; needs a CUDA/NCCL build)")
      ->delimiter(',')
      ->check(CLI::Range(0, 1023));
}

Command addFinetuneCommand(CLI::App& app) {
  struct Args {
    std::string backbone, target, scenario, shift, strategy = "linear-probe", summary;
    std::int64_t labelsPerClass = 0;
    std::uint64_t labelSeed = 1;
    participant::FineTuneOptions options;
    coordinator::PretrainOptions pretrain;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--backbone", a->backbone,
                 "pretrained backbone: a fedtl checkpoint or a TorchScript module (default with --scenario: the cached "
                 "scenario backbone, pretrained on first use)");
  app.add_option("--target", a->target, "target data: mnist, fashion-mnist, idx:DIR or images:DIR");
  app.add_option("--scenario", a->scenario, "a transfer scenario instead of --target: new-classes, domain-shift, far-domain");
  app.add_option("--shift", a->shift, "domain-shift's shift: invert, rot90, noise or contrast");
  app.add_option("--labels-per-class", a->labelsPerClass, "labeled target samples per class (0 = all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--strategy", a->strategy, "linear-probe, partial:K, full or scratch")->capture_default_str();
  app.add_option("--steps", a->options.steps, "optimiser steps (0 = from the data size)")->capture_default_str();
  app.add_option("--lr", a->options.headLr, "head learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--backbone-lr-scale", a->options.backboneLrScale, "backbone learning rate relative to the head's")
      ->capture_default_str();
  app.add_option("--augment-shift", a->options.augmentShift, "random translation in pixels (0 = none)")->capture_default_str();
  app.add_flag("!--no-adapt-bn", a->options.adaptBatchNorm, "keep the source BatchNorm statistics");
  app.add_option("--seed", a->options.seed, "training seed")->capture_default_str();
  addCudaDevicesOption(app, a->options.cudaDevices);
  app.add_option("--label-seed", a->labelSeed, "seed choosing the labeled samples")->capture_default_str();
  app.add_option("--summary-json", a->summary, "write final metrics (test_accuracy, train_seconds, ...) here");
  return [a] {
    FEDTL_ENFORCE(a->target.empty() != a->scenario.empty(), ConfigError,
                  "give exactly one of --target DATA or --scenario NAME");
    auto strategy = participant::Strategy::parse(a->strategy);
    // Cheap checks first: a typo in the backbone path should not cost a data-set load.
    if (!a->options.cudaDevices.empty()) participant::checkDataParallelDevices(a->options.cudaDevices);
    FEDTL_ENFORCE(a->backbone.empty() || std::filesystem::is_regular_file(a->backbone), CheckpointError, "backbone '",
                  a->backbone, "' does not exist: create one with 'fedtl pretrain'");
    ml::TrainTestSets target;
    ml::TransferModel pretrained{nullptr};
    std::string digest;
    if (!a->scenario.empty()) {
      auto scenario = ml::Scenario::parse(a->scenario, a->shift);
      target = ml::scenarioTarget(scenario);
      pretrained = a->backbone.empty() ? scenarioBackbone(scenario, a->pretrain, &digest, nullptr)
                                       : loadBackboneFile(a->backbone, target.train, &digest);
    } else {
      FEDTL_ENFORCE(!a->backbone.empty(), ConfigError, "--target needs --backbone PATH (see 'fedtl pretrain')");
      target = ml::loadTensorSource(a->target);
      pretrained = loadBackboneFile(a->backbone, target.train, &digest);
    }
    auto train = ml::pickPerClass(target.train, a->labelsPerClass, a->labelSeed);
    a->options.showProgress = true;
    auto r = participant::transfer(pretrained, strategy, train, target.test, a->options);
    std::printf("%s on %lld labeled samples: test accuracy %.2f%% (%lld test samples), %.1f s, %lld trainable parameters\n",
                r.strategy.c_str(), static_cast<long long>(r.trainSamples), 100.0 * r.testAccuracy,
                static_cast<long long>(target.test.size()), r.report.totalSeconds,
                static_cast<long long>(r.report.trainableParameters));
    if (!a->summary.empty()) {
      SummaryJson s;
      s.set("command", std::string("finetune"));
      s.set("strategy", r.strategy);
      s.set("test_accuracy", r.testAccuracy);
      s.set("test_loss", r.testLoss);
      s.set("train_seconds", r.report.totalSeconds);
      s.set("train_samples", static_cast<long long>(r.trainSamples));
      s.set("trainable_parameters", static_cast<long long>(r.report.trainableParameters));
      s.set("backbone_sha256", digest);
      s.write(a->summary);
    }
    return 0;
  };
}

}  // namespace fedtl::launch
