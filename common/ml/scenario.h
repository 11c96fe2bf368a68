// The transfer scenarios: which source data a backbone is pretrained on and which target
// data it is transferred to.
//   new-classes    source Fashion-MNIST classes 0-4, target classes 5-9
//   domain-shift   source Fashion-MNIST train[0:50000], target train[50000:] and the test set
//                  under a shift (invert, rot90, noise, contrast), the same ten classes
//   far-domain     source all of Fashion-MNIST, target MNIST digits
#pragma once

#include <string>

#include "common/ml/tensor_set.h"

namespace fedtl::ml {

enum class ScenarioKind { kNewClasses, kDomainShift, kFarDomain };

struct Scenario {
  ScenarioKind kind = ScenarioKind::kFarDomain;
  Shift shift = Shift::kNone;  // domain-shift only

  // "new-classes", "far-domain", "domain-shift" (with shift), or "domain-shift:SHIFT".
  static Scenario parse(const std::string& name, const std::string& shift = "");
  std::string name() const;          // e.g. "domain-shift:noise"
  std::string backboneKey() const;   // scenarios that share a source share a backbone
};

struct TrainTestSets {
  TensorSet train;
  TensorSet test;
};

TrainTestSets scenarioSource(const Scenario& scenario);
TrainTestSets scenarioTarget(const Scenario& scenario);

// Loads a data source by spec (see common/data/sources.h) as tensors.
TrainTestSets loadTensorSource(const std::string& spec);

}  // namespace fedtl::ml
