#include "common/data/image_folder.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include "common/data/sources.h"
#include "common/error.h"
#include "tests/unit/test_util.h"

namespace fedtl::data {
namespace {

void writePng(const std::string& path, int w, int h, int channels, std::uint8_t value) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(w * h * channels), value);
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, channels, pixels.data(), w * channels), 0);
}

TEST(ImageFolder, LoadsClassesInNameOrderAndResizes) {
  testing::TempDir dir;
  writePng(dir.file("cat/a.png"), 28, 28, 1, 10);
  writePng(dir.file("cat/b.png"), 56, 40, 3, 200);  // resized and converted to gray
  writePng(dir.file("ant/x.png"), 28, 28, 1, 99);
  testing::writeText(dir.file("ant/readme.txt"), "not an image");
  auto set = loadImageFolder(dir.path(), {1, 28, 28});
  ASSERT_EQ(set.count(), 3);
  EXPECT_EQ(set.classNames, (std::vector<std::string>{"ant", "cat"}));
  EXPECT_EQ(set.labels, (std::vector<std::int32_t>{0, 1, 1}));
  EXPECT_EQ(set.pixels[0], 99);
  EXPECT_EQ(set.pixels[784], 10);
  EXPECT_NEAR(set.pixels[2 * 784 + 100], 200, 2);
}

TEST(ImageFolder, RgbKeepsChannelsPlanar) {
  testing::TempDir dir;
  writePng(dir.file("a/1.png"), 8, 8, 3, 50);
  writePng(dir.file("b/1.png"), 8, 8, 3, 60);
  auto set = loadImageFolder(dir.path(), {3, 8, 8});
  EXPECT_EQ(set.shape.pixels(), 3 * 64);
  EXPECT_EQ(set.pixels.size(), 2u * 3 * 64);
}

TEST(ImageFolder, ClearErrors) {
  testing::TempDir dir;
  EXPECT_THROW(loadImageFolder(dir.file("none")), DataError);
  EXPECT_THROW(loadImageFolder(dir.path()), DataError);  // no class folders
  testing::writeText(dir.file("a/broken.png"), "garbage");
  EXPECT_THROW(loadImageFolder(dir.path()), DataError);  // undecodable image
  EXPECT_THROW(loadImageFolder(dir.path(), {2, 28, 28}), ConfigError);
}

TEST(Sources, UnknownSpecIsAConfigError) {
  EXPECT_THROW(loadSource("cifar"), ConfigError);
  EXPECT_THROW(loadSource("idx:/nonexistent"), DataError);
}

}  // namespace
}  // namespace fedtl::data
