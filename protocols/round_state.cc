#include "protocols/round_state.h"

#include <cstring>

#include "common/crypto/sha256.h"
#include "common/error.h"
#include "protocols/checkpoint_format.h"
#include "protocols/wire_archive.h"

namespace fedtl::protocols {
namespace {
constexpr char kMagic[8] = {'F', 'E', 'D', 'T', 'L', 'R', 'N', 'D'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kDigest = 32;
}  // namespace

std::string encodeRoundState(const RoundStateView& state) {
  std::string out;
  out.reserve(sizeof kMagic + sizeof kVersion + encodedSize(state) + kDigest);
  out.append(kMagic, sizeof kMagic);
  out.append(reinterpret_cast<const char*>(&kVersion), sizeof kVersion);
  encodeInto(out, state);
  auto digest = crypto::sha256(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

RoundState decodeRoundState(std::string_view bytes, const std::string& origin) {
  FEDTL_ENFORCE(bytes.size() >= sizeof kMagic + sizeof kVersion + kDigest &&
                    std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
                CheckpointError, origin, ": not a fedtl round checkpoint");
  checkpointDigestHex(bytes, origin);  // the same trailing SHA-256 as a backbone checkpoint
  const auto body = bytes.size() - kDigest;
  std::uint32_t version = 0;
  std::memcpy(&version, bytes.data() + sizeof kMagic, sizeof version);
  FEDTL_ENFORCE(version == kVersion, CheckpointError, origin, ": round checkpoint version ", version, " is not supported");
  try {
    return decode<RoundState>(bytes.substr(sizeof kMagic + sizeof kVersion, body - sizeof kMagic - sizeof kVersion));
  } catch (const DecodeError& e) {
    throw CheckpointError(origin + ": malformed round checkpoint: " + e.what());
  }
}

}  // namespace fedtl::protocols
