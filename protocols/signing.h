// What the coordinator signs with its Ed25519 identity, so participants that pinned its key
// use only a backbone and round parameters it vouches for. Each statement is domain-separated
// (a fixed label per kind) and binds the round, so a signature cannot be moved to another
// message kind or replayed into another round.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocols/messages.h"

namespace fedtl::protocols {

// "fedtl/backbone/v1" | digest (64 hex characters).
std::vector<std::uint8_t> backboneStatement(const std::string& digestHex);
// "fedtl/round-start/v2" | round | SHA-256(encoded config) | SHA-256(parameters)
//   | SHA-256(BatchNorm statistics) | SHA-256(encoded SecAgg setup). The setup carries the
// roster's identity keys: signed, a participant that pinned the coordinator's key knows the
// keys it checks its neighbours' advertisements with come from the coordinator.
std::vector<std::uint8_t> roundStartStatement(std::uint64_t round, const TrainConfig& config,
                                              const std::vector<float>& parameters,
                                              const std::vector<float>& batchNormStatistics,
                                              const SecAggSetup& secure);
// "fedtl/stats-request/v1" | round | SHA-256(encoded SecAgg setup): the roster a secure
// statistics session checks its neighbours against, vouched for like a round start's.
std::vector<std::uint8_t> statsRequestStatement(std::uint64_t round, const SecAggSetup& secure);
// "fedtl/eval-request/v1" | round | SHA-256(parameters).
std::vector<std::uint8_t> evalRequestStatement(std::uint64_t round, const std::vector<float>& parameters);

}  // namespace fedtl::protocols
