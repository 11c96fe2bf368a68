#include "common/data/partition.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "common/data/labeled_images.h"
#include "common/error.h"

namespace fedtl::data {
namespace {

std::vector<std::int32_t> balancedLabels(int perClass, int classes) {
  std::vector<std::int32_t> labels;
  for (int i = 0; i < perClass * classes; ++i) labels.push_back(i % classes);
  return labels;
}

void expectExactCover(const std::vector<std::vector<std::int64_t>>& parts, std::size_t n) {
  std::vector<int> seen(n, 0);
  for (const auto& p : parts) {
    EXPECT_FALSE(p.empty());
    for (auto i : p) ++seen[static_cast<std::size_t>(i)];
  }
  for (auto s : seen) ASSERT_EQ(s, 1);
}

// Mean total-variation distance between each participant's label distribution and the global one.
double labelSkew(const std::vector<std::vector<std::int64_t>>& parts, const std::vector<std::int32_t>& labels, int classes) {
  double sum = 0;
  for (const auto& p : parts) {
    std::vector<std::int32_t> mine;
    for (auto i : p) mine.push_back(labels[static_cast<std::size_t>(i)]);
    auto h = labelHistogram(mine, classes);
    double tv = 0;
    for (auto c : h) tv += std::abs(static_cast<double>(c) / static_cast<double>(mine.size()) - 1.0 / classes);
    sum += tv / 2;
  }
  return sum / static_cast<double>(parts.size());
}

TEST(Partition, ParsesSpecs) {
  EXPECT_EQ(PartitionSpec::parse("iid").kind, PartitionKind::kIid);
  EXPECT_DOUBLE_EQ(PartitionSpec::parse("dirichlet:0.5").alpha, 0.5);
  EXPECT_EQ(PartitionSpec::parse("shards:3").shardsPerParticipant, 3);
  EXPECT_EQ(PartitionSpec::parse("quantity:2").kind, PartitionKind::kQuantity);
  EXPECT_EQ(PartitionSpec::parse("dirichlet:0.5").toString(), "dirichlet:0.5");
  for (const char* bad : {"", "dirichlet", "dirichlet:-1", "dirichlet:abc", "shards:1.5", "iid:3", "zipf:1"})
    EXPECT_THROW(PartitionSpec::parse(bad), ConfigError) << bad;
}

TEST(Partition, IidIsBalancedAndCovering) {
  auto labels = balancedLabels(100, 10);
  auto parts = partition(labels, 7, PartitionSpec::parse("iid"), 1);
  expectExactCover(parts, labels.size());
  for (const auto& p : parts) EXPECT_NEAR(static_cast<double>(p.size()), 1000.0 / 7, 1.0);
  EXPECT_LT(labelSkew(parts, labels, 10), 0.2);
}

TEST(Partition, DirichletHistogramsSkewWithSmallAlpha) {
  auto labels = balancedLabels(500, 10);
  auto skewed = partition(labels, 10, PartitionSpec::parse("dirichlet:0.1"), 3);
  auto mild = partition(labels, 10, PartitionSpec::parse("dirichlet:100"), 3);
  expectExactCover(skewed, labels.size());
  expectExactCover(mild, labels.size());
  double s = labelSkew(skewed, labels, 10), m = labelSkew(mild, labels, 10);
  EXPECT_GT(s, 0.5) << "alpha=0.1 should concentrate each participant on few classes";
  EXPECT_LT(m, 0.1) << "alpha=100 should be close to iid";
  // Each class is fully distributed: per-class histogram sums stay at 500.
  std::vector<std::int64_t> total(10, 0);
  for (const auto& p : skewed) {
    std::vector<std::int32_t> mine;
    for (auto i : p) mine.push_back(labels[static_cast<std::size_t>(i)]);
    auto h = labelHistogram(mine, 10);
    for (int c = 0; c < 10; ++c) total[static_cast<std::size_t>(c)] += h[static_cast<std::size_t>(c)];
  }
  for (auto t : total) EXPECT_EQ(t, 500);
}

TEST(Partition, ShardsGiveFewClassesEach) {
  auto labels = balancedLabels(100, 10);
  auto parts = partition(labels, 10, PartitionSpec::parse("shards:2"), 5);
  expectExactCover(parts, labels.size());
  for (const auto& p : parts) {
    std::set<std::int32_t> classes;
    for (auto i : p) classes.insert(labels[static_cast<std::size_t>(i)]);
    EXPECT_LE(classes.size(), 4u);
    EXPECT_EQ(p.size(), 100u);
  }
}

TEST(Partition, QuantitySkewVariesSizes) {
  auto labels = balancedLabels(200, 10);
  auto parts = partition(labels, 8, PartitionSpec::parse("quantity:0.5"), 2);
  expectExactCover(parts, labels.size());
  std::size_t lo = labels.size(), hi = 0;
  for (const auto& p : parts) {
    lo = std::min(lo, p.size());
    hi = std::max(hi, p.size());
  }
  EXPECT_GT(hi, 3 * lo);
}

TEST(Partition, DeterministicPerSeed) {
  auto labels = balancedLabels(50, 10);
  auto spec = PartitionSpec::parse("dirichlet:0.5");
  EXPECT_EQ(partition(labels, 5, spec, 9), partition(labels, 5, spec, 9));
  EXPECT_NE(partition(labels, 5, spec, 9), partition(labels, 5, spec, 10));
}

TEST(Partition, ImpossibleRequestsAreConfigErrors) {
  auto labels = balancedLabels(1, 3);
  EXPECT_THROW(partition(labels, 4, PartitionSpec::parse("iid"), 0), ConfigError);
  EXPECT_THROW(partition(labels, 0, PartitionSpec::parse("iid"), 0), ConfigError);
  EXPECT_THROW(partition(labels, 2, PartitionSpec::parse("shards:2"), 0), ConfigError);
}

}  // namespace
}  // namespace fedtl::data
