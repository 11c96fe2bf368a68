#include "coordinator/aggregation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace fedtl::coordinator {
namespace {

TEST(WeightedSum, WeightedMeanBySampleCounts) {
  WeightedSum sum(3);
  sum.add({1, 2, 3}, 1);
  sum.add({4, 5, 6}, 3);
  auto m = sum.mean();
  EXPECT_FLOAT_EQ(m[0], (1 + 12) / 4.0f);
  EXPECT_FLOAT_EQ(m[2], (3 + 18) / 4.0f);
  EXPECT_EQ(sum.count(), 2u);
  EXPECT_DOUBLE_EQ(sum.totalWeight(), 4.0);
  EXPECT_THROW(sum.add({1, 2}, 1), ConfigError);
  EXPECT_THROW(sum.add({1, 2, 3}, 0), ConfigError);
  sum.reset();
  EXPECT_THROW(sum.mean(), ConfigError);
}

TEST(ServerOptimizer, FedAvgAddsTheMeanUpdate) {
  ServerOptimizer opt(2, {});
  std::vector<float> x{1, 1};
  opt.apply(x, {0.5f, -1.0f});
  EXPECT_FLOAT_EQ(x[0], 1.5f);
  EXPECT_FLOAT_EQ(x[1], 0.0f);
}

TEST(ServerOptimizer, FedAdamMatchesTheUpdateRule) {
  ServerOptimizerOptions o;
  o.kind = ServerOptimizerKind::kFedAdam;
  o.learningRate = 0.1;
  o.beta1 = 0.9;
  o.beta2 = 0.99;
  o.tau = 1e-3;
  ServerOptimizer opt(1, o);
  std::vector<float> x{0};
  opt.apply(x, {2.0f});
  const double m = 0.1 * 2.0, v = 0.99 * 1e-6 + 0.01 * 4.0;
  EXPECT_NEAR(x[0], 0.1 * m / (std::sqrt(v) + 1e-3), 1e-6);
}

TEST(ServerOptimizer, YogiAndAdagradMoveTowardTheUpdate) {
  for (auto kind : {ServerOptimizerKind::kFedYogi, ServerOptimizerKind::kFedAdagrad, ServerOptimizerKind::kFedAdam}) {
    ServerOptimizerOptions o;
    o.kind = kind;
    o.learningRate = 0.05;
    ServerOptimizer opt(2, o);
    std::vector<float> x{0, 0};
    for (int i = 0; i < 20; ++i) opt.apply(x, {1.0f, -1.0f});
    EXPECT_GT(x[0], 0.1f);
    EXPECT_LT(x[1], -0.1f);
  }
  EXPECT_EQ(ServerOptimizerOptions::parseKind("fedyogi"), ServerOptimizerKind::kFedYogi);
  EXPECT_THROW(ServerOptimizerOptions::parseKind("sgd"), ConfigError);
}

TEST(Robust, MedianIgnoresAnOutlier) {
  std::vector<std::vector<float>> u{{1, 10}, {2, 20}, {1000, -1000}};
  auto m = coordinateMedian(u);
  EXPECT_FLOAT_EQ(m[0], 2);
  EXPECT_FLOAT_EQ(m[1], 10);
  u.push_back({3, 30});
  m = coordinateMedian(u);
  EXPECT_FLOAT_EQ(m[0], 2.5f);
  EXPECT_FLOAT_EQ(m[1], 15.0f);
}

TEST(Robust, TrimmedMeanDropsExtremes) {
  std::vector<std::vector<float>> u{{1}, {2}, {3}, {4}, {1000}};
  EXPECT_FLOAT_EQ(trimmedMean(u, 0.2)[0], 3.0f);
  EXPECT_FLOAT_EQ(trimmedMean(u, 0.0)[0], 202.0f);
  EXPECT_THROW(trimmedMean(u, 0.5), ConfigError);
}

TEST(Robust, MultiKrumRejectsByzantineUpdates) {
  std::vector<std::vector<float>> u;
  for (int i = 0; i < 6; ++i) u.push_back({1.0f + 0.01f * static_cast<float>(i), 1.0f});
  u.push_back({50, -50});
  u.push_back({-40, 60});
  auto k = multiKrum(u, 2, 3);
  EXPECT_NEAR(k[0], 1.0f, 0.1f);
  EXPECT_NEAR(k[1], 1.0f, 0.1f);
  EXPECT_THROW(multiKrum(u, 3, 1), ConfigError);  // needs n > 2f + 2
}

TEST(Aggregation, OptionsParseEveryKindAndRefuseNonsense) {
  using Kind = AggregationOptions::Kind;
  EXPECT_EQ(AggregationOptions::parse("mean").kind, Kind::kWeightedMean);
  EXPECT_TRUE(AggregationOptions::parse("mean").streaming());
  EXPECT_EQ(AggregationOptions::parse("median").kind, Kind::kMedian);
  EXPECT_DOUBLE_EQ(AggregationOptions::parse("trimmed-mean:0.2").trimFraction, 0.2);
  auto krum = AggregationOptions::parse("multi-krum:2:3");
  EXPECT_EQ(krum.byzantine, 2u);
  EXPECT_EQ(krum.select, 3u);
  for (const char* bad : {"avg", "median:3", "trimmed-mean:0.5", "trimmed-mean:x", "multi-krum:1.5", "multi-krum:1:0"})
    EXPECT_THROW(AggregationOptions::parse(bad), ConfigError) << bad;
  std::vector<std::vector<float>> u = {{1.0f}, {2.0f}, {1000.0f}};
  EXPECT_FLOAT_EQ(AggregationOptions::parse("median").robust(u)[0], 2.0f);
  EXPECT_THROW(AggregationOptions::parse("mean").robust(u), ConfigError);
}

}  // namespace
}  // namespace fedtl::coordinator
