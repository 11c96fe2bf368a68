#include "launch/federated_data.h"

#include "common/data/partition.h"
#include "common/error.h"

namespace fedtl::launch {
namespace {

ml::TensorSet slice(const ml::TensorSet& set, const data::PartitionSpec& spec, int participants, int index,
                    std::uint64_t seed) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(set.size()));
  auto* l = set.labels.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(l[i]);
  auto parts = data::partition(labels, participants, spec, seed);
  const auto& mine = parts[static_cast<std::size_t>(index)];
  return set.subset(torch::tensor(std::vector<std::int64_t>(mine.begin(), mine.end()), torch::kInt64));
}

}  // namespace

ml::TrainTestSets loadFederatedData(const std::string& spec) {
  if (spec.rfind("scenario:", 0) == 0) return ml::scenarioTarget(ml::Scenario::parse(spec.substr(9)));
  return ml::loadTensorSource(spec);
}

ml::TrainTestSets participantSlice(const ml::TrainTestSets& sets, const std::string& partition, int participants,
                                   int index, std::int64_t labelsPerClass, std::uint64_t seed) {
  FEDTL_ENFORCE(participants >= 1 && index >= 0 && index < participants, ConfigError, "--participant-index ", index,
                " must lie in 0..", participants - 1);
  ml::TrainTestSets out = sets;
  if (participants > 1) {
    auto spec = data::PartitionSpec::parse(partition);
    out.train = slice(sets.train, spec, participants, index, seed);
    out.test = slice(sets.test, spec, participants, index, seed + 1);
  }
  out.train = ml::pickPerClass(out.train, labelsPerClass, seed + 2);
  return out;
}

}  // namespace fedtl::launch
