// Data for the federated subcommands: a participant's local slice of a data source, and the
// coordinator's central test set.
#pragma once

#include <cstdint>
#include <string>

#include "common/ml/scenario.h"

namespace fedtl::launch {

// SPEC is a data source (mnist, fashion-mnist, idx:DIR, images:DIR) or scenario:NAME (that
// scenario's target data).
ml::TrainTestSets loadFederatedData(const std::string& spec);

// The index-th of `participants` slices of `sets` under `partition` (train and test sliced
// alike, each with its own seed), then at most labelsPerClass training samples per class.
ml::TrainTestSets participantSlice(const ml::TrainTestSets& sets, const std::string& partition, int participants,
                                   int index, std::int64_t labelsPerClass, std::uint64_t seed);

}  // namespace fedtl::launch
