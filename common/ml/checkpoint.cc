#include "common/ml/checkpoint.h"

#include <sstream>

#include "common/error.h"
#include "common/file_io.h"

namespace fedtl::ml {
namespace {
constexpr std::size_t kMaxCheckpointBytes = std::size_t{8} << 30;
}

std::string saveCheckpoint(const std::string& path, TransferModel model, const std::vector<std::string>& classNames,
                           const std::string& provenance) {
  protocols::CheckpointHeader header;
  header.backbone = model->backbone->spec();
  header.numClasses = model->numClasses();
  header.headHidden = model->hiddenUnits();
  header.classNames = classNames;
  header.provenance = provenance;
  const std::string& script = model->backbone->scriptBytes();
  header.scriptBytes = script.size();

  std::ostringstream tensors;
  torch::save(model, tensors);
  std::string body = script + tensors.str();
  std::string file = protocols::encodeCheckpointFile(header, body);
  writeFileAtomic(path, file);
  return protocols::decodeCheckpointFile(file, path).digestHex();
}

LoadedCheckpoint loadCheckpoint(const std::string& path) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = readFile(path, kMaxCheckpointBytes);
  } catch (const IoError& e) {
    throw CheckpointError(std::string(e.what()) + " (create a backbone with 'fedtl pretrain')");
  }
  auto file = protocols::decodeCheckpointFile(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
  const auto& h = file.header;
  const BackboneSpec& spec = h.backbone;
  Backbone backbone{nullptr};
  if (spec.architecture == "torchscript") {
    std::istringstream script(file.body.substr(0, h.scriptBytes));
    backbone = loadTorchScriptBackbone(script, spec);
  } else {
    backbone = makeBackbone(spec);
  }
  LoadedCheckpoint out;
  out.model = TransferModel(backbone, h.numClasses, h.headHidden);
  try {
    std::istringstream tensors(file.body.substr(h.scriptBytes));
    torch::load(out.model, tensors);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": tensors do not match the recorded architecture: " + e.what_without_backtrace());
  }
  out.header = h;
  out.digestHex = file.digestHex();
  return out;
}

}  // namespace fedtl::ml
