// A folder of images per class: ROOT/<class name>/<image files>, class indices in
// lexicographic order of the folder names. PNG, JPEG, BMP, GIF, TGA and PNM via stb_image.
#pragma once

#include <string>

#include "common/data/labeled_images.h"

namespace fedtl::data {

struct ImageFolderOptions {
  int channels = 1;    // 1 = grayscale, 3 = RGB; every image is converted
  int height = 28;     // every image is resized to height x width
  int width = 28;
};

LabeledImages loadImageFolder(const std::string& root, const ImageFolderOptions& options = {});

}  // namespace fedtl::data
