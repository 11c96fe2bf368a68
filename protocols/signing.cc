#include "protocols/signing.h"

#include <cstring>

#include "common/crypto/sha256.h"

namespace fedtl::protocols {
namespace {

std::vector<std::uint8_t> labelled(const char* label) {
  return std::vector<std::uint8_t>(label, label + std::strlen(label) + 1);  // with its terminating zero
}

void append(std::vector<std::uint8_t>& out, const void* data, std::size_t size) {
  auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + size);
}

void appendDigest(std::vector<std::uint8_t>& out, const void* data, std::size_t size) {
  auto digest = crypto::sha256(data, size);
  out.insert(out.end(), digest.begin(), digest.end());
}

}  // namespace

std::vector<std::uint8_t> backboneStatement(const std::string& digestHex) {
  auto out = labelled("fedtl/backbone/v1");
  append(out, digestHex.data(), digestHex.size());
  return out;
}

std::vector<std::uint8_t> roundStartStatement(std::uint64_t round, const TrainConfig& config,
                                              const std::vector<float>& parameters,
                                              const std::vector<float>& batchNormStatistics,
                                              const SecAggSetup& secure) {
  auto out = labelled("fedtl/round-start/v2");
  append(out, &round, sizeof round);
  const std::string encodedConfig = encode(config);
  appendDigest(out, encodedConfig.data(), encodedConfig.size());
  appendDigest(out, parameters.data(), parameters.size() * sizeof(float));
  appendDigest(out, batchNormStatistics.data(), batchNormStatistics.size() * sizeof(float));
  const std::string encodedSetup = encode(secure);
  appendDigest(out, encodedSetup.data(), encodedSetup.size());
  return out;
}

std::vector<std::uint8_t> statsRequestStatement(std::uint64_t round, const SecAggSetup& secure) {
  auto out = labelled("fedtl/stats-request/v1");
  append(out, &round, sizeof round);
  const std::string encodedSetup = encode(secure);
  appendDigest(out, encodedSetup.data(), encodedSetup.size());
  return out;
}

std::vector<std::uint8_t> evalRequestStatement(std::uint64_t round, const std::vector<float>& parameters) {
  auto out = labelled("fedtl/eval-request/v1");
  append(out, &round, sizeof round);
  appendDigest(out, parameters.data(), parameters.size() * sizeof(float));
  return out;
}

}  // namespace fedtl::protocols
