#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.h"
#include "common/ml/checkpoint.h"
#include "participant/fine_tune.h"
#include "tests/unit/test_util.h"

namespace fedtl::ml {
namespace {

class TorchScriptBackbone : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("features.pt");
    std::string cmd = std::string(FEDTL_TEST_PYTHON) + " " + FEDTL_TEST_SCRIPTS + "/make_torchscript_backbone.py " + path_;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "needs Debian's python3-torch: " << cmd;
  }
  BackboneSpec spec() const {
    BackboneSpec s;
    s.mean = {0.0f};
    s.std = {1.0f};
    return s;
  }
  testing::TempDir dir_;
  std::string path_;
};

TEST_F(TorchScriptBackbone, ProbesFeatureDimensionAndTrains) {
  auto backbone = loadTorchScriptBackbone(path_, spec());
  EXPECT_EQ(backbone->spec().featureDim, 24);
  EXPECT_EQ(backbone->spec().architecture, "torchscript");
  EXPECT_EQ(backbone->parameters().size(), 4u);  // conv weight/bias, bn weight/bias
  TransferModel pretrained(backbone, 2);
  TensorSet train{torch::rand({30, 1, 28, 28}), torch::arange(30) % 3, 3, {}};
  participant::FineTuneOptions options;
  options.steps = 5;
  for (const char* s : {"linear-probe", "full"}) {
    auto strategy = participant::Strategy::parse(s);
    auto model = participant::makeTargetModel(pretrained, strategy, 3, 0);
    auto before = model->backbone->parameters()[0].clone();
    participant::fineTune(model, strategy, train, options);
    EXPECT_EQ(torch::equal(before, model->backbone->parameters()[0]), std::string(s) == "linear-probe") << s;
    EXPECT_EQ(model->forward(train.images).sizes(), (std::vector<std::int64_t>{30, 3}));
  }
}

TEST_F(TorchScriptBackbone, CheckpointEmbedsTheModule) {
  TransferModel model(loadTorchScriptBackbone(path_, spec()), 4);
  saveCheckpoint(dir_.file("ts.fedtl"), model, {}, "torchscript test");
  auto loaded = loadCheckpoint(dir_.file("ts.fedtl"));
  EXPECT_EQ(loaded.header.backbone.architecture, "torchscript");
  EXPECT_EQ(loaded.header.backbone.featureDim, 24);
  model->eval();
  loaded.model->eval();
  auto x = torch::rand({3, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(model->forward(x), loaded.model->forward(x)));
}

TEST_F(TorchScriptBackbone, WrongInputShapeIsAClearError) {
  auto s = spec();
  s.channels = 3;
  s.mean = {0, 0, 0};
  s.std = {1, 1, 1};
  EXPECT_THROW(loadTorchScriptBackbone(path_, s), CheckpointError);
  testing::writeText(dir_.file("junk.pt"), "PK not really a zip");
  EXPECT_THROW(loadTorchScriptBackbone(dir_.file("junk.pt"), spec()), CheckpointError);
}

}  // namespace
}  // namespace fedtl::ml
