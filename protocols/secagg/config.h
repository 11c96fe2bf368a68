// The public parameters of one SecAgg round and its neighbour graph (SecAgg+, Bell et al. 2020).
//
// Every party builds the same RoundParameters from the same SecAggConfig: the graph is a
// function of public values only. With k = 0 it is the complete graph (classic SecAgg,
// Bonawitz et al. 2017); otherwise it is a Harary graph H(k, n) — the n participants on a
// cycle, each joined to the k/2 nearest on either side — whose cycle order is a pseudorandom
// permutation seeded by SHA-256("fedtl/secagg/v1/graph" || round || n || ids). A participant's
// secrets are Shamir-shared t-of-(k+1) among its neighbourhood (its neighbours and itself), so
// t must exceed half a neighbourhood: a minority of it can never reconstruct a secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/crypto/sha256.h"

namespace fedtl::secagg {

// Bounds that keep every message small and every allocation bounded by the configuration.
inline constexpr std::size_t kMaxParticipants = 1u << 20;
inline constexpr std::uint64_t kMaxDimension = std::uint64_t{1} << 28;  // 1 GiB of uint32 per vector

struct SecAggConfig {
  std::uint64_t round = 0;
  std::vector<std::uint32_t> participants;  // the selected ids, strictly ascending, each >= 1
  std::uint32_t threshold = 0;              // t
  std::uint32_t neighbours = 0;             // k: 0 or >= n-1 = complete graph, else even and >= 2
  std::uint64_t dimension = 0;              // d; the weight rides as coordinate d (d+1 masked)
  // Hardened mode: a ConsistencyCheck stage between MaskedInput and Unmask, in which the
  // contributors sign the contributor set (protocols/secagg/client.h). Off: the classic stages.
  bool consistencyCheck = false;
};

// The neighbourhood size (neighbours plus self) for n participants and neighbour count k.
std::uint32_t neighbourhoodSize(std::size_t n, std::uint32_t k);
// The smallest safe threshold, floor(m/2) + 1 for neighbourhoods of m: for the complete graph
// of n, floor(n/2) + 1.
std::uint32_t defaultThreshold(std::size_t n, std::uint32_t k);
// DESIGN.md's choice: the complete graph (0) up to 50 participants, beyond it the even number
// nearest 3·log2(n).
std::uint32_t defaultNeighbourCount(std::size_t n);
// How many participants lie within two hops of one (itself included): everyone for the complete
// graph, else the 2k + 1 nearest on the Harary graph's cycle (at most n). In hardened mode an
// unmask request carries the contributor-set signatures of at most this many participants.
std::uint32_t twoHopNeighbourhoodSize(std::size_t n, std::uint32_t k);

// A validated configuration with its neighbour graph. Immutable; share one between all the
// state machines of a simulation (std::shared_ptr<const RoundParameters>).
class RoundParameters {
 public:
  // Throws ConfigError naming the fix for: no or unordered or zero ids, more than
  // kMaxParticipants, d outside [1, kMaxDimension], an odd k below n-1, t < 2, t larger than a
  // neighbourhood, or t at most half a neighbourhood.
  explicit RoundParameters(SecAggConfig config);

  const SecAggConfig& config() const { return config_; }
  std::uint64_t round() const { return config_.round; }
  const std::vector<std::uint32_t>& participants() const { return config_.participants; }
  std::size_t size() const { return config_.participants.size(); }
  std::uint32_t threshold() const { return config_.threshold; }
  std::uint64_t dimension() const { return config_.dimension; }
  std::size_t maskedLength() const { return static_cast<std::size_t>(config_.dimension) + 1; }
  bool isCompleteGraph() const { return complete_; }
  // Neighbours plus self: every participant has the same number.
  std::uint32_t neighbourhoodSize() const { return neighbourhoodSize_; }
  std::uint32_t twoHopNeighbourhoodSize() const;
  bool consistencyCheck() const { return config_.consistencyCheck; }
  const crypto::Sha256Digest& graphSeed() const { return graphSeed_; }

  bool isSelected(std::uint32_t id) const;
  // Position of `id` in participants(); UsageError when it is not selected.
  std::size_t indexOf(std::uint32_t id) const;
  // The neighbours of `id` (never itself), ascending; UsageError when it is not selected.
  const std::vector<std::uint32_t>& neighboursOf(std::uint32_t id) const;
  bool areNeighbours(std::uint32_t a, std::uint32_t b) const;
  // Whether b is a, a neighbour of a, or a neighbour of one of a's neighbours.
  bool withinTwoHops(std::uint32_t a, std::uint32_t b) const;

 private:
  SecAggConfig config_;
  bool complete_ = false;
  std::uint32_t neighbourhoodSize_ = 0;
  crypto::Sha256Digest graphSeed_{};
  std::vector<std::vector<std::uint32_t>> neighbours_;  // by index in participants()
};

}  // namespace fedtl::secagg
