#include "common/ml/training.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/ml/backbone.h"
#include "common/ml/tensor_set.h"

namespace fedtl::ml {
namespace {

TEST(TrainLoop, LearnsASeparableProblem) {
  torch::manual_seed(0);
  auto x = torch::randn({512, 8});
  auto y = (x.select(1, 0) + x.select(1, 1) > 0).to(torch::kInt64);
  torch::nn::Linear lin(8, 2);
  LoopOptions opt;
  opt.steps = 200;
  opt.batchSize = 32;
  auto forward = [&](const torch::Tensor& t) { return lin->forward(t); };
  auto before = evaluate(forward, x, y);
  auto stats = trainLoop(forward, {{lin->parameters(), 0.1}}, x, y, opt);
  auto after = evaluate(forward, x, y);
  EXPECT_GT(after.accuracy, 0.95);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_EQ(stats.samples, 200 * 32);
}

TEST(TrainLoop, SameSeedSameResult) {
  auto run = [] {
    torch::manual_seed(1);
    torch::nn::Linear lin(4, 3);
    auto x = torch::randn({100, 4});
    auto y = torch::arange(100) % 3;
    LoopOptions opt;
    opt.steps = 20;
    opt.seed = 7;
    trainLoop([&](const torch::Tensor& t) { return lin->forward(t); }, {{lin->parameters(), 0.1}}, x, y, opt);
    return lin->weight.clone();
  };
  EXPECT_TRUE(torch::equal(run(), run()));
}

TEST(TrainLoop, RejectsEmptyOrFrozen) {
  torch::nn::Linear lin(4, 2);
  LoopOptions opt;
  opt.steps = 1;
  auto f = [&](const torch::Tensor& t) { return lin->forward(t); };
  EXPECT_THROW(trainLoop(f, {{lin->parameters(), 0.1}}, torch::empty({0, 4}), torch::empty({0}, torch::kInt64), opt),
               DataError);
  EXPECT_THROW(trainLoop(f, {}, torch::randn({4, 4}), torch::zeros({4}, torch::kInt64), opt), ConfigError);
}

TEST(RandomShift, MovesContentWithinBounds) {
  auto gen = at::detail::createCPUGenerator(0);
  auto img = torch::zeros({16, 1, 8, 8});
  img.select(2, 4).select(2, 4).fill_(1.0);
  auto shifted = randomShift(img, 2, gen);
  EXPECT_EQ(shifted.sizes(), img.sizes());
  EXPECT_TRUE(torch::equal(shifted.sum({1, 2, 3}), torch::ones({16})));  // the pixel stays inside
  EXPECT_FALSE(torch::equal(shifted, img));
}

TEST(BatchNorm, ReestimationMatchesTargetStatistics) {
  torch::manual_seed(0);
  auto backbone = makeSmallCnn();
  auto images = torch::rand({200, 1, 28, 28}) * 0.2 + 0.7;  // a bright target domain
  reestimateBatchNorm(*backbone, [&](const torch::Tensor& x) { return backbone->forward(x); }, images, 50);
  auto bn = backbone->block(0)->children()[1]->as<torch::nn::BatchNorm2d>();
  ASSERT_NE(bn, nullptr);
  auto conv = backbone->forwardPrefix(images, 0);
  auto convOut = backbone->block(0)->children()[0]->as<torch::nn::Conv2d>()->forward(conv);
  auto expected = convOut.mean({0, 2, 3});
  EXPECT_TRUE(torch::allclose(bn->running_mean, expected, 1e-3, 1e-3));
}

TEST(TensorSet, PickPerClassAndKeepClasses) {
  data::LabeledImages raw;
  raw.shape = {1, 2, 2};
  for (int i = 0; i < 60; ++i) {
    raw.labels.push_back(i % 6);
    for (int p = 0; p < 4; ++p) raw.pixels.push_back(static_cast<std::uint8_t>(i));
  }
  auto set = toTensorSet(raw);
  EXPECT_FLOAT_EQ(set.images[59][0][0][0].item<float>(), 59.0f / 255.0f);
  auto picked = pickPerClass(set, 3, 1);
  EXPECT_EQ(picked.size(), 18);
  EXPECT_TRUE(torch::equal(torch::bincount(picked.labels), torch::full({6}, 3, torch::kInt64)));
  EXPECT_TRUE(torch::equal(pickPerClass(set, 3, 1).images, picked.images));
  auto upper = keepClasses(set, 3, 5);
  EXPECT_EQ(upper.numClasses, 3);
  EXPECT_EQ(upper.labels.max().item<std::int64_t>(), 2);
  EXPECT_THROW(keepClasses(set, 4, 9), ConfigError);
}

TEST(Shift, ShiftsAreDeterministicAndShaped) {
  auto x = torch::rand({4, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(applyShift(x, Shift::kInvert, 0), 1 - x));
  EXPECT_TRUE(torch::equal(applyShift(x, Shift::kNoise, 5), applyShift(x, Shift::kNoise, 5)));
  EXPECT_LE(applyShift(x, Shift::kNoise, 5).max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::allclose(applyShift(applyShift(x, Shift::kRot90, 0), Shift::kRot90, 0), torch::rot90(x, 2, {2, 3})));
  EXPECT_THROW(parseShift("blur"), ConfigError);
}

}  // namespace
}  // namespace fedtl::ml

#include "common/ml/flat_parameters.h"

namespace fedtl::ml {
namespace {

TEST(FlatParameters, RoundTripAndSizeCheck) {
  torch::nn::Linear a(3, 2), b(2, 1);
  std::vector<torch::Tensor> params = a->parameters();
  for (auto& p : b->parameters()) params.push_back(p);
  auto flat = flatten(params);
  EXPECT_EQ(static_cast<std::int64_t>(flat.size()), countElements(params));
  EXPECT_EQ(flat.size(), 3u * 2 + 2 + 2 + 1);
  EXPECT_FLOAT_EQ(flat[0], a->weight[0][0].item<float>());
  for (auto& v : flat) v += 1.0f;
  auto before = a->weight.clone();
  assign(params, flat);
  EXPECT_TRUE(torch::allclose(a->weight, before + 1.0f));
  EXPECT_EQ(flatten(params), flat);
  flat.pop_back();
  EXPECT_THROW(assign(params, flat), ConfigError);
}

}  // namespace
}  // namespace fedtl::ml
