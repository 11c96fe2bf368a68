// Splitting one labeled set among participants, to simulate federated data: the same
// partition for the same labels, spec and seed, on every machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedtl::data {

enum class PartitionKind {
  kIid,        // uniform random, equal sizes
  kDirichlet,  // label skew: each class split by proportions drawn from Dir(alpha)
  kShards,     // sort by label, cut into shards, k shards per participant
  kQuantity,   // quantity skew: iid labels, sizes drawn from Dir(alpha)
};

struct PartitionSpec {
  PartitionKind kind = PartitionKind::kIid;
  double alpha = 0.5;  // dirichlet and quantity
  int shardsPerParticipant = 2;

  // "iid", "dirichlet:0.5", "shards:2", "quantity:1.0"; throws ConfigError otherwise.
  static PartitionSpec parse(const std::string& text);
  std::string toString() const;
};

// Returns, per participant, the indices of its samples (sorted). Every sample goes to exactly
// one participant, and every participant gets at least one sample; throws ConfigError when
// that is impossible (fewer samples than participants).
std::vector<std::vector<std::int64_t>> partition(const std::vector<std::int32_t>& labels, int numParticipants,
                                                 const PartitionSpec& spec, std::uint64_t seed);

}  // namespace fedtl::data
