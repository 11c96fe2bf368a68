#include "common/ml/scenario.h"

#include "common/data/sources.h"
#include "common/error.h"

namespace fedtl::ml {
namespace {
constexpr std::int64_t kShiftSourceSize = 50000;
constexpr std::uint64_t kNoiseSeedTrain = 101, kNoiseSeedTest = 102;
}  // namespace

Scenario Scenario::parse(const std::string& name, const std::string& shift) {
  Scenario s;
  std::string base = name, shiftName = shift;
  if (auto colon = name.find(':'); colon != std::string::npos) {
    base = name.substr(0, colon);
    shiftName = name.substr(colon + 1);
  }
  if (base == "new-classes") {
    s.kind = ScenarioKind::kNewClasses;
  } else if (base == "far-domain") {
    s.kind = ScenarioKind::kFarDomain;
  } else if (base == "domain-shift") {
    s.kind = ScenarioKind::kDomainShift;
    FEDTL_ENFORCE(!shiftName.empty(), ConfigError,
                  "scenario domain-shift needs a shift: --shift invert|rot90|noise|contrast (or domain-shift:SHIFT)");
    s.shift = parseShift(shiftName);
    FEDTL_ENFORCE(s.shift != Shift::kNone, ConfigError, "domain-shift needs a shift other than none");
  } else {
    throw ConfigError("unknown scenario '" + name + "': use new-classes, domain-shift:SHIFT or far-domain");
  }
  FEDTL_ENFORCE(s.kind == ScenarioKind::kDomainShift || shiftName.empty(), ConfigError, "only domain-shift takes a shift");
  return s;
}

std::string Scenario::name() const {
  switch (kind) {
    case ScenarioKind::kNewClasses: return "new-classes";
    case ScenarioKind::kFarDomain: return "far-domain";
    case ScenarioKind::kDomainShift: return "domain-shift:" + shiftName(shift);
  }
  return "";
}

std::string Scenario::backboneKey() const {
  switch (kind) {
    case ScenarioKind::kNewClasses: return "fashion-mnist-classes-0-4";
    case ScenarioKind::kFarDomain: return "fashion-mnist";
    case ScenarioKind::kDomainShift: return "fashion-mnist-train-0-50000";
  }
  return "";
}

TrainTestSets loadTensorSource(const std::string& spec) {
  auto raw = data::loadSource(spec);
  return {toTensorSet(raw.train), toTensorSet(raw.test)};
}

TrainTestSets scenarioSource(const Scenario& scenario) {
  auto fm = loadTensorSource("fashion-mnist");
  switch (scenario.kind) {
    case ScenarioKind::kNewClasses: return {keepClasses(fm.train, 0, 4), keepClasses(fm.test, 0, 4)};
    case ScenarioKind::kFarDomain: return fm;
    case ScenarioKind::kDomainShift:
      return {fm.train.subset(torch::arange(0, kShiftSourceSize)), fm.test};
  }
  return fm;
}

TrainTestSets scenarioTarget(const Scenario& scenario) {
  switch (scenario.kind) {
    case ScenarioKind::kNewClasses: {
      auto fm = loadTensorSource("fashion-mnist");
      return {keepClasses(fm.train, 5, 9), keepClasses(fm.test, 5, 9)};
    }
    case ScenarioKind::kFarDomain: return loadTensorSource("mnist");
    case ScenarioKind::kDomainShift: {
      auto fm = loadTensorSource("fashion-mnist");
      auto train = fm.train.subset(torch::arange(kShiftSourceSize, fm.train.size()));
      train.images = applyShift(train.images, scenario.shift, kNoiseSeedTrain);
      fm.test.images = applyShift(fm.test.images, scenario.shift, kNoiseSeedTest);
      return {train, fm.test};
    }
  }
  return {};
}

}  // namespace fedtl::ml
