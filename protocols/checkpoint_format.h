// The checkpoint container: what a backbone file holds besides its tensors, and the framing
// that lets a reader refuse a corrupt or tampered file before parsing any of it.
//
//   "FEDTLCKP" | u32 format version | u64 header length | header (wire archive)
//              | u64 body length | body | SHA-256 of every byte before it (32 bytes)
//
// The trailing digest doubles as the backbone's identity (participants cache by it).
#pragma once

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fedtl::protocols {

// What it takes to rebuild and feed a backbone.
struct BackboneSpec {
  std::string architecture;  // "small-cnn", "resnet18" or "torchscript"
  std::int64_t channels = 1, height = 28, width = 28;
  std::vector<float> mean{0.2860f};  // per-channel normalisation applied before the first block
  std::vector<float> std{0.3530f};
  std::int64_t featureDim = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(architecture, channels, height, width, mean, std, featureDim);
  }
};

struct CheckpointHeader {
  BackboneSpec backbone;
  std::int64_t numClasses = 0;
  std::int64_t headHidden = 0;  // 0: linear head
  std::vector<std::string> classNames;
  std::uint64_t scriptBytes = 0;  // leading part of the body holding a TorchScript module
  std::string provenance;         // free text: data set, epochs, accuracy

  template <class Archive>
  void serialize(Archive& ar) {
    ar(backbone, numClasses, headHidden, classNames, scriptBytes, provenance);
  }
};

inline constexpr std::uint32_t kCheckpointVersion = 1;
inline constexpr std::size_t kMaxCheckpointHeader = 1 << 20;

struct CheckpointFile {
  CheckpointHeader header;
  std::string body;
  std::array<std::uint8_t, 32> digest{};
  std::string digestHex() const;
};

// The identity of a checkpoint file: its trailing SHA-256, after checking that it matches the
// bytes before it. Throws CheckpointError for a file that is short or whose digest is wrong.
std::string checkpointDigestHex(std::string_view bytes, const std::string& origin);

std::string encodeCheckpointFile(const CheckpointHeader& header, std::string_view body);
// Verifies magic, version, lengths and the digest, then decodes the header; throws
// CheckpointError saying which check failed.
CheckpointFile decodeCheckpointFile(std::string_view bytes, const std::string& origin);

}  // namespace fedtl::protocols
