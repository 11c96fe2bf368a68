// Pieces the transfer subcommands share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "common/ml/backbone.h"
#include "common/ml/scenario.h"
#include "coordinator/pretrain.h"

namespace fedtl::launch {

// "0-4" -> {0, 4}; throws ConfigError otherwise.
std::pair<std::int64_t, std::int64_t> parseClassRange(const std::string& text);

// A pretrained model from --backbone: a fedtl checkpoint, or a TorchScript module (zip
// archive) that maps images of the target's shape to features.
ml::TransferModel loadBackboneFile(const std::string& path, const ml::TensorSet& target, std::string* digest);

// Where scenarioBackbone caches the scenario's backbone.
std::string scenarioBackbonePath(const ml::Scenario& scenario, const coordinator::PretrainOptions& options);

// The scenario's backbone from the cache (<data cache>/backbones/KEY.fedtl), pretrained and
// cached first if absent or unreadable.
ml::TransferModel scenarioBackbone(const ml::Scenario& scenario, const coordinator::PretrainOptions& options,
                                   std::string* digest, double* sourceAccuracy);

}  // namespace fedtl::launch
