#include <cstdio>

#include "common/crypto/sha256.h"
#include "fedtl/config.h"
#include "protocols/checkpoint_format.h"

int main() {
  fedtl::protocols::CheckpointHeader header;
  header.backbone.architecture = "small-cnn";
  auto file = fedtl::protocols::decodeCheckpointFile(fedtl::protocols::encodeCheckpointFile(header, "x"), "consumer");
  std::printf("fedtl %s: %s %s\n", FEDTL_VERSION, file.header.backbone.architecture.c_str(),
              fedtl::crypto::toHex(fedtl::crypto::sha256("abc", 3)).substr(0, 8).c_str());
  return file.header.backbone.architecture == "small-cnn" ? 0 : 1;
}
