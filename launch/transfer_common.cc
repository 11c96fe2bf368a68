#include "launch/transfer_common.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/crypto/sha256.h"
#include "common/data/sources.h"
#include "common/error.h"
#include "common/file_io.h"
#include "common/ml/checkpoint.h"

namespace fedtl::launch {

std::pair<std::int64_t, std::int64_t> parseClassRange(const std::string& text) {
  auto dash = text.find('-');
  try {
    if (dash != std::string::npos) {
      std::size_t u1 = 0, u2 = 0;
      auto first = std::stoll(text.substr(0, dash), &u1);
      auto last = std::stoll(text.substr(dash + 1), &u2);
      if (u1 == dash && u2 == text.size() - dash - 1 && first >= 0 && last >= first) return {first, last};
    }
  } catch (const std::exception&) {
  }
  throw ConfigError("class range '" + text + "' must look like FIRST-LAST, e.g. 0-4");
}

ml::TransferModel loadBackboneFile(const std::string& path, const ml::TensorSet& target, std::string* digest) {
  std::ifstream probe(path, std::ios::binary);
  FEDTL_ENFORCE(probe.good(), CheckpointError, "backbone '", path, "' does not exist: create one with 'fedtl pretrain'");
  char magic[2] = {0, 0};
  probe.read(magic, 2);
  if (magic[0] == 'P' && magic[1] == 'K') {  // a zip archive: TorchScript
    ml::BackboneSpec spec;
    spec.channels = target.images.size(1);
    spec.height = target.images.size(2);
    spec.width = target.images.size(3);
    spec.mean.assign(static_cast<std::size_t>(spec.channels), 0.0f);  // the module normalises itself
    spec.std.assign(static_cast<std::size_t>(spec.channels), 1.0f);
    auto backbone = ml::loadTorchScriptBackbone(path, spec);
    if (digest) *digest = crypto::toHex(crypto::sha256(backbone->scriptBytes().data(), backbone->scriptBytes().size()));
    return ml::TransferModel(backbone, 2);
  }
  auto loaded = ml::loadCheckpoint(path);
  if (digest) *digest = loaded.digestHex;
  return loaded.model;
}

std::string scenarioBackbonePath(const ml::Scenario& scenario, const coordinator::PretrainOptions& options) {
  namespace fs = std::filesystem;
  return (fs::path(data::dataCacheDir()) / "backbones" /
          (scenario.backboneKey() + "-" + options.architecture + "-e" + std::to_string(options.epochs) + "-s" +
           std::to_string(options.seed) + ".fedtl"))
      .string();
}

ml::TransferModel scenarioBackbone(const ml::Scenario& scenario, const coordinator::PretrainOptions& options,
                                   std::string* digest, double* sourceAccuracy) {
  namespace fs = std::filesystem;
  auto path = scenarioBackbonePath(scenario, options);
  if (fs::exists(path)) {
    try {
      auto loaded = ml::loadCheckpoint(path);
      if (digest) *digest = loaded.digestHex;
      if (sourceAccuracy) *sourceAccuracy = -1;
      return loaded.model;
    } catch (const CheckpointError& e) {
      spdlog::warn("cached backbone unusable, pretraining again: {}", e.what());
    }
  }
  auto source = ml::scenarioSource(scenario);
  auto result = coordinator::pretrain(source.train, source.test, options);
  std::fprintf(stderr, "pretrained %s for %s: source test accuracy %.2f%% in %.1f s\n", options.architecture.c_str(),
               scenario.backboneKey().c_str(), 100.0 * result.testAccuracy, result.trainSeconds);
  auto d = ml::saveCheckpoint(path, result.model, source.train.classNames,
                              "scenario source " + scenario.backboneKey() + ", source test accuracy " +
                                  std::to_string(result.testAccuracy));
  if (digest) *digest = d;
  if (sourceAccuracy) *sourceAccuracy = result.testAccuracy;
  return result.model;
}

}  // namespace fedtl::launch
