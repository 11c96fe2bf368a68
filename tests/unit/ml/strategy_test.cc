#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "participant/fine_tune.h"

namespace fedtl::participant {
namespace {

std::set<std::string> trainableNames(const Strategy& s, ml::TransferModel model) {
  auto names = applyFreezing(model, s);
  return {names.begin(), names.end()};
}

TEST(Strategy, Parses) {
  EXPECT_EQ(Strategy::parse("linear-probe").kind, StrategyKind::kLinearProbe);
  EXPECT_EQ(Strategy::parse("partial:2").unfrozenBlocks, 2);
  EXPECT_EQ(Strategy::parse("partial:2").name(), "partial:2");
  EXPECT_EQ(Strategy::parse("full").kind, StrategyKind::kFull);
  EXPECT_FALSE(Strategy::parse("scratch").usesPretrainedWeights());
  for (const char* bad : {"", "partial", "partial:0", "partial:x", "partial:1x", "fine"})
    EXPECT_THROW(Strategy::parse(bad), ConfigError) << bad;
}

TEST(Strategy, FrozenAndUnfrozenParameterSets) {
  ml::TransferModel model(ml::makeSmallCnn(), 5);
  std::set<std::string> head{"head.0.weight", "head.0.bias"};
  EXPECT_EQ(trainableNames(Strategy::parse("linear-probe"), model), head);

  auto partial = trainableNames(Strategy::parse("partial:1"), model);
  std::set<std::string> lastBlock{"backbone.block1.0.weight", "backbone.block1.0.bias", "backbone.block1.1.weight",
                                  "backbone.block1.1.bias"};
  std::set<std::string> expected = head;
  expected.insert(lastBlock.begin(), lastBlock.end());
  EXPECT_EQ(partial, expected);

  std::set<std::string> all;
  for (const auto& p : model->named_parameters()) all.insert(p.key());
  EXPECT_EQ(trainableNames(Strategy::parse("full"), model), all);
  EXPECT_EQ(trainableNames(Strategy::parse("scratch"), model), all);
  EXPECT_THROW(trainableNames(Strategy::parse("partial:3"), model), ConfigError);
}

TEST(Strategy, TargetModelCopiesOrReinitialisesTheBackbone) {
  torch::manual_seed(0);
  ml::TransferModel pretrained(ml::makeSmallCnn(), 10, 128);
  auto transfer = makeTargetModel(pretrained, Strategy::parse("full"), 5, 1);
  auto scratch = makeTargetModel(pretrained, Strategy::parse("scratch"), 5, 1);
  auto src = pretrained->backbone->named_parameters();
  for (const auto& p : transfer->backbone->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), src[p.key()])) << p.key();
  EXPECT_FALSE(torch::equal(scratch->backbone->named_parameters()["block0.0.weight"], src["block0.0.weight"]));
  EXPECT_EQ(transfer->numClasses(), 5);
  EXPECT_EQ(transfer->hiddenUnits(), 0);
  // A deep copy: training the transfer model leaves the pretrained one untouched.
  transfer->backbone->named_parameters()["block0.0.weight"].data().add_(1.0);
  EXPECT_FALSE(torch::equal(transfer->backbone->named_parameters()["block0.0.weight"], src["block0.0.weight"]));
}

TEST(Strategy, LinearProbeLeavesTheBackboneUnchanged) {
  torch::manual_seed(0);
  ml::TransferModel pretrained(ml::makeSmallCnn(), 10, 128);
  ml::TensorSet train{torch::rand({40, 1, 28, 28}), torch::arange(40) % 4, 4, {}};
  FineTuneOptions options;
  options.steps = 10;
  options.adaptBatchNorm = false;
  options.augmentShift = 0;  // one cached view per sample
  auto model = makeTargetModel(pretrained, Strategy::parse("linear-probe"), 4, 0);
  std::vector<torch::Tensor> before;
  for (const auto& p : model->backbone->parameters()) before.push_back(p.clone());
  auto headBefore = model->head->parameters()[0].clone();
  auto report = fineTune(model, Strategy::parse("linear-probe"), train, options);
  auto after = model->backbone->parameters();
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));
  EXPECT_FALSE(torch::equal(headBefore, model->head->parameters()[0]));
  EXPECT_EQ(report.trainableParameters, 3136 * 4 + 4);
  EXPECT_EQ(report.loop.samples, 10 * 40);  // batch = min(64, 40)
}

}  // namespace
}  // namespace fedtl::participant
