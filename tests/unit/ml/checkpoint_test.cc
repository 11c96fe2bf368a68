#include "common/ml/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "tests/unit/test_util.h"

namespace fedtl::ml {
namespace {

bool sameParameters(TransferModel a, TransferModel b) {
  auto pa = a->named_parameters(), pb = b->named_parameters();
  if (pa.size() != pb.size()) return false;
  for (const auto& p : pa)
    if (!torch::equal(p.value(), pb[p.key()])) return false;
  auto ba = a->named_buffers(), bb = b->named_buffers();
  for (const auto& p : ba)
    if (!torch::equal(p.value(), bb[p.key()])) return false;
  return true;
}

TEST(Checkpoint, RoundTripKeepsEverything) {
  testing::TempDir dir;
  torch::manual_seed(3);
  TransferModel model(makeSmallCnn(), 5, 128, 0.3);
  // Make BN buffers non-trivial so they are checked too.
  model->train();
  model->forward(torch::rand({8, 1, 28, 28}));
  auto digest = saveCheckpoint(dir.file("m.fedtl"), model, {"a", "b", "c", "d", "e"}, "unit test");
  auto loaded = loadCheckpoint(dir.file("m.fedtl"));
  EXPECT_EQ(loaded.digestHex, digest);
  EXPECT_EQ(loaded.header.backbone.architecture, "small-cnn");
  EXPECT_EQ(loaded.header.backbone.featureDim, 3136);
  EXPECT_EQ(loaded.header.numClasses, 5);
  EXPECT_EQ(loaded.header.headHidden, 128);
  EXPECT_EQ(loaded.header.classNames.size(), 5u);
  EXPECT_EQ(loaded.header.backbone.mean, model->backbone->spec().mean);
  EXPECT_TRUE(sameParameters(model, loaded.model));
  model->eval();
  loaded.model->eval();
  auto x = torch::rand({4, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(model->forward(x), loaded.model->forward(x)));
}

TEST(Checkpoint, RefusesDigestMismatchAndTruncation) {
  testing::TempDir dir;
  TransferModel model(makeSmallCnn(), 3);
  saveCheckpoint(dir.file("m.fedtl"), model, {}, "");
  std::string bytes;
  {
    std::ifstream in(dir.file("m.fedtl"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto corrupt = bytes;
  corrupt[corrupt.size() / 2] ^= 0x40;  // one bit inside the tensors
  testing::writeText(dir.file("corrupt.fedtl"), corrupt);
  try {
    loadCheckpoint(dir.file("corrupt.fedtl"));
    FAIL() << "corrupt checkpoint accepted";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("digest does not match"), std::string::npos) << e.what();
  }
  testing::writeText(dir.file("short.fedtl"), bytes.substr(0, bytes.size() - 100));
  EXPECT_THROW(loadCheckpoint(dir.file("short.fedtl")), CheckpointError);
  EXPECT_THROW(loadCheckpoint(dir.file("missing.fedtl")), CheckpointError);
}

TEST(Checkpoint, ResNet18RoundTrip) {
  testing::TempDir dir;
  TransferModel model(makeResNet18(3, 32, 32), 10);
  EXPECT_EQ(model->backbone->numBlocks(), 5);
  EXPECT_EQ(model->backbone->spec().featureDim, 512);
  saveCheckpoint(dir.file("r.fedtl"), model, {}, "");
  auto loaded = loadCheckpoint(dir.file("r.fedtl"));
  EXPECT_EQ(loaded.header.backbone.architecture, "resnet18");
  EXPECT_TRUE(sameParameters(model, loaded.model));
  loaded.model->eval();
  EXPECT_EQ(loaded.model->forward(torch::rand({2, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 10}));
}

TEST(Backbone, RejectsWrongInputShape) {
  auto b = makeSmallCnn();
  EXPECT_THROW(b->forward(torch::rand({2, 3, 28, 28})), DataError);
  EXPECT_THROW(makeSmallCnn(1, 30, 30), ConfigError);
}

}  // namespace
}  // namespace fedtl::ml
