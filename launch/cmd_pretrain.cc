// fedtl pretrain: a backbone from source-domain data, saved as a checkpoint.
#include <cstdio>

#include "common/error.h"
#include "common/ml/checkpoint.h"
#include "common/ml/scenario.h"
#include "common/summary_json.h"
#include "coordinator/pretrain.h"
#include "launch/commands.h"
#include "launch/transfer_common.h"

namespace fedtl::launch {

Command addPretrainCommand(CLI::App& app) {
  struct Args {
    std::string source = "fashion-mnist", scenario, shift, out, classes, summary;
    std::int64_t limit = 0;
    coordinator::PretrainOptions options;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--source", a->source, "source data: fashion-mnist, mnist, idx:DIR or images:DIR")->capture_default_str();
  app.add_option("--scenario", a->scenario, "pretrain the source of a scenario: new-classes, domain-shift, far-domain");
  app.add_option("--shift", a->shift, "(accepted for symmetry with finetune; the source is unshifted)");
  app.add_option("--classes", a->classes, "keep only source classes FIRST-LAST, e.g. 0-4");
  app.add_option("--limit", a->limit, "use only the first N training samples (quick runs)")->check(CLI::NonNegativeNumber);
  app.add_option("--out", a->out, "checkpoint to write")->required();
  app.add_option("--arch", a->options.architecture, "backbone: small-cnn or resnet18")->capture_default_str();
  app.add_option("--epochs", a->options.epochs, "epochs over the source data")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch-size", a->options.batchSize, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", a->options.lr, "peak learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--augment-shift", a->options.augmentShift, "random translation in pixels (0 = none)")->capture_default_str();
  app.add_option("--seed", a->options.seed, "random seed")->capture_default_str();
  app.add_option("--summary-json", a->summary, "write final metrics (test_accuracy, train_seconds, ...) here");
  return [a] {
    ml::TrainTestSets source;
    std::string provenance;
    if (!a->scenario.empty()) {
      auto scenario = ml::Scenario::parse(a->scenario, a->shift.empty() ? "" : a->shift);
      source = ml::scenarioSource(scenario);
      provenance = "scenario " + scenario.name() + " source (" + scenario.backboneKey() + ")";
    } else {
      source = ml::loadTensorSource(a->source);
      provenance = "source " + a->source;
    }
    if (!a->classes.empty()) {
      auto [first, last] = parseClassRange(a->classes);
      source = {ml::keepClasses(source.train, first, last), ml::keepClasses(source.test, first, last)};
      provenance += " classes " + a->classes;
    }
    if (a->limit > 0 && a->limit < source.train.size()) {
      source.train = source.train.subset(torch::arange(a->limit));
      provenance += " first " + std::to_string(a->limit) + " samples";
    }
    auto result = coordinator::pretrain(source.train, source.test, a->options);
    provenance += ", " + std::to_string(a->options.epochs) + " epochs, source test accuracy " +
                  std::to_string(result.testAccuracy);
    auto digest = ml::saveCheckpoint(a->out, result.model, source.train.classNames, provenance);
    std::printf("pretrained %s on %lld samples in %.1f s (%.0f samples/s): source test accuracy %.2f%%\n",
                a->options.architecture.c_str(), static_cast<long long>(source.train.size()), result.trainSeconds,
                result.samplesPerSecond, 100.0 * result.testAccuracy);
    std::printf("checkpoint %s  sha256 %s\n", a->out.c_str(), digest.c_str());
    if (!a->summary.empty()) {
      SummaryJson s;
      s.set("command", std::string("pretrain"));
      s.set("test_accuracy", result.testAccuracy);
      s.set("train_seconds", result.trainSeconds);
      s.set("samples_per_second", result.samplesPerSecond);
      s.set("train_samples", static_cast<long long>(source.train.size()));
      s.set("checkpoint", a->out);
      s.set("sha256", digest);
      s.write(a->summary);
    }
    return 0;
  };
}

}  // namespace fedtl::launch
