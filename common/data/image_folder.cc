#include "common/data/image_folder.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "common/error.h"

namespace fedtl::data {
namespace {

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

bool isImageFile(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* known : {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pgm", ".ppm", ".pnm"})
    if (ext == known) return true;
  return false;
}

}  // namespace

LabeledImages loadImageFolder(const std::string& root, const ImageFolderOptions& options) {
  namespace fs = std::filesystem;
  FEDTL_ENFORCE(options.channels == 1 || options.channels == 3, ConfigError, "image channels must be 1 or 3, got ",
                options.channels);
  FEDTL_ENFORCE(options.height > 0 && options.width > 0 && options.height <= 4096 && options.width <= 4096, ConfigError,
                "image size must be within 1..4096, got ", options.height, "x", options.width);
  FEDTL_ENFORCE(fs::is_directory(root), DataError, "image folder '", root, "' does not exist");
  std::vector<fs::path> classDirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) classDirs.push_back(entry.path());
  std::sort(classDirs.begin(), classDirs.end());
  FEDTL_ENFORCE(!classDirs.empty(), DataError, "image folder '", root,
                "' has no class sub-folders: expected ROOT/<class>/<images>");

  LabeledImages set;
  set.shape = {options.channels, options.height, options.width};
  const auto stride = static_cast<std::size_t>(set.shape.pixels());
  for (std::size_t label = 0; label < classDirs.size(); ++label) {
    set.classNames.push_back(classDirs[label].filename().string());
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(classDirs[label]))
      if (entry.is_regular_file() && isImageFile(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    FEDTL_ENFORCE(!files.empty(), DataError, "class folder '", classDirs[label].string(), "' holds no images");
    for (const auto& file : files) {
      int w = 0, h = 0, original = 0;
      std::unique_ptr<unsigned char, StbFree> img(stbi_load(file.c_str(), &w, &h, &original, options.channels));
      FEDTL_ENFORCE(img != nullptr, DataError, "cannot decode image '", file.string(), "': ", stbi_failure_reason());
      std::size_t at = set.pixels.size();
      set.pixels.resize(at + stride);
      std::vector<unsigned char> hwc(stride);
      if (w == options.width && h == options.height) {
        std::copy(img.get(), img.get() + stride, hwc.begin());
      } else {
        FEDTL_ENFORCE(stbir_resize_uint8(img.get(), w, h, 0, hwc.data(), options.width, options.height, 0,
                                         options.channels) == 1,
                      DataError, "cannot resize image '", file.string(), "'");
      }
      // stb gives interleaved HWC; fedtl stores CHW.
      const std::size_t plane = static_cast<std::size_t>(options.height) * static_cast<std::size_t>(options.width);
      for (std::size_t p = 0; p < plane; ++p)
        for (std::size_t c = 0; c < static_cast<std::size_t>(options.channels); ++c)
          set.pixels[at + c * plane + p] = hwc[p * static_cast<std::size_t>(options.channels) + c];
      set.labels.push_back(static_cast<std::int32_t>(label));
    }
  }
  set.validate(root);
  return set;
}

}  // namespace fedtl::data
