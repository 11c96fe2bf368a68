// Saving and loading a backbone with its head: architecture, input shape, normalisation,
// feature dimension, class count and a SHA-256 digest, refused when the digest does not match.
#pragma once

#include <string>

#include "common/ml/backbone.h"
#include "protocols/checkpoint_format.h"

namespace fedtl::ml {

struct LoadedCheckpoint {
  TransferModel model{nullptr};
  protocols::CheckpointHeader header;
  std::string digestHex;
};

// Returns the digest of the written file.
std::string saveCheckpoint(const std::string& path, TransferModel model, const std::vector<std::string>& classNames,
                           const std::string& provenance);
LoadedCheckpoint loadCheckpoint(const std::string& path);

}  // namespace fedtl::ml
