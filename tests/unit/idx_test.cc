#include "common/data/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "common/error.h"
#include "tests/unit/test_util.h"

namespace fedtl::data {
namespace {

using testing::idxBytes;
using testing::TempDir;
using testing::writeBytes;

std::vector<std::uint8_t> gzipped(const std::vector<std::uint8_t>& plain) {
  std::vector<std::uint8_t> out(compressBound(plain.size()) + 64);
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  zs.next_in = const_cast<Bytef*>(plain.data());
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(Idx, ParsesImagesAndLabels) {
  std::vector<std::uint8_t> pixels(3 * 2 * 2);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 7);
  auto arr = parseIdx(idxBytes({3, 2, 2}, pixels), "mem");
  EXPECT_EQ(arr.dims, (std::vector<std::uint32_t>{3, 2, 2}));
  EXPECT_EQ(arr.data, pixels);
}

TEST(Idx, RejectsWrongMagic) {
  auto bytes = idxBytes({2}, {1, 2});
  bytes[0] = 0x1f;
  EXPECT_THROW(parseIdx(bytes, "mem"), DataError);
  bytes = idxBytes({2}, {1, 2});
  bytes[2] = 0x0D;  // float elements
  try {
    parseIdx(bytes, "x.idx");
    FAIL() << "float IDX accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("only unsigned bytes"), std::string::npos) << e.what();
  }
}

TEST(Idx, RejectsTruncatedAndTrailingData) {
  auto bytes = idxBytes({4, 2, 2}, std::vector<std::uint8_t>(16, 1));
  auto truncated = std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 3);
  try {
    parseIdx(truncated, "t.idx");
    FAIL() << "truncated IDX accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  bytes.push_back(9);
  EXPECT_THROW(parseIdx(bytes, "mem"), DataError);
  EXPECT_THROW(parseIdx({0, 0, 8}, "mem"), DataError);              // shorter than a header
  EXPECT_THROW(parseIdx({0, 0, 8, 3, 0, 0}, "mem"), DataError);     // header cut inside dims
}

TEST(Idx, RejectsHugeDimensionsWithoutAllocating) {
  EXPECT_THROW(parseIdx(idxBytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF}, {}), "mem"), DataError);
}

TEST(Idx, LoadsGzipFolderAndMatchesPlain) {
  TempDir dir;
  std::vector<std::uint8_t> images(5 * 4 * 4), labels{0, 1, 2, 1, 0};
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<std::uint8_t>(i);
  writeBytes(dir.file("train-images-idx3-ubyte.gz"), gzipped(idxBytes({5, 4, 4}, images)));
  writeBytes(dir.file("train-labels-idx1-ubyte.gz"), gzipped(idxBytes({5}, labels)));
  writeBytes(dir.file("t10k-images-idx3-ubyte"), idxBytes({5, 4, 4}, images));
  writeBytes(dir.file("t10k-labels-idx1-ubyte"), idxBytes({5}, labels));
  auto folder = loadIdxFolder(dir.path());
  EXPECT_EQ(folder.train.count(), 5);
  EXPECT_EQ(folder.train.shape.height, 4);
  EXPECT_EQ(folder.train.pixels, folder.test.pixels);
  EXPECT_EQ(folder.train.labels, std::vector<std::int32_t>({0, 1, 2, 1, 0}));
}

TEST(Idx, TruncatedGzipIsRefused) {
  TempDir dir;
  auto gz = gzipped(idxBytes({50, 4, 4}, std::vector<std::uint8_t>(800, 3)));
  gz.resize(gz.size() / 2);
  writeBytes(dir.file("images.gz"), gz);
  EXPECT_THROW(readIdxFile(dir.file("images.gz")), DataError);
}

TEST(Idx, MismatchedCountsAndMissingFilesAreClearErrors) {
  TempDir dir;
  writeBytes(dir.file("i"), idxBytes({3, 2, 2}, std::vector<std::uint8_t>(12)));
  writeBytes(dir.file("l"), idxBytes({2}, {0, 1}));
  EXPECT_THROW(loadIdxPair(dir.file("i"), dir.file("l")), DataError);
  EXPECT_THROW(loadIdxFolder(dir.file("missing")), DataError);
  EXPECT_THROW(loadIdxFolder(dir.path()), DataError);
}

TEST(Idx, RealFashionMnistWhenInstalled) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  auto test = loadIdxPair(dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(test.count(), 10000);
  EXPECT_EQ(test.shape.pixels(), 784);
  auto hist = labelHistogram(test.labels, 10);
  for (auto h : hist) EXPECT_EQ(h, 1000);
}

}  // namespace
}  // namespace fedtl::data
