#include "protocols/checkpoint_format.h"

#include <cstring>

#include "common/crypto/sha256.h"
#include "common/error.h"
#include "protocols/wire_archive.h"

namespace fedtl::protocols {
namespace {

constexpr char kMagic[8] = {'F', 'E', 'D', 'T', 'L', 'C', 'K', 'P'};
constexpr std::size_t kDigestSize = 32;

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <class T>
T take(std::string_view bytes, std::size_t& at, const std::string& origin) {
  FEDTL_ENFORCE(bytes.size() - at >= sizeof(T), CheckpointError, origin, ": checkpoint is truncated");
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  at += sizeof(T);
  return v;
}

}  // namespace

std::string CheckpointFile::digestHex() const { return crypto::toHex(digest.data(), digest.size()); }

std::string encodeCheckpointFile(const CheckpointHeader& header, std::string_view body) {
  std::string head = encode(header);
  std::string out;
  out.reserve(sizeof(kMagic) + 4 + 8 + head.size() + 8 + body.size() + kDigestSize);
  out.append(kMagic, sizeof(kMagic));
  put<std::uint32_t>(out, kCheckpointVersion);
  put<std::uint64_t>(out, head.size());
  out += head;
  put<std::uint64_t>(out, body.size());
  out.append(body.data(), body.size());
  auto digest = crypto::sha256(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

std::string checkpointDigestHex(std::string_view bytes, const std::string& origin) {
  FEDTL_ENFORCE(bytes.size() > kDigestSize, CheckpointError, origin, ": checkpoint is truncated");
  const std::size_t signedPart = bytes.size() - kDigestSize;
  auto actual = crypto::sha256(bytes.data(), signedPart);
  FEDTL_ENFORCE(std::memcmp(actual.data(), bytes.data() + signedPart, kDigestSize) == 0, CheckpointError, origin,
                ": SHA-256 digest does not match the contents (corrupt or truncated file); recreate or re-copy it");
  return crypto::toHex(actual.data(), actual.size());
}

CheckpointFile decodeCheckpointFile(std::string_view bytes, const std::string& origin) {
  FEDTL_ENFORCE(bytes.size() >= sizeof(kMagic) && std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0, CheckpointError,
                origin, ": not a fedtl checkpoint (bad magic); create one with 'fedtl pretrain'");
  FEDTL_ENFORCE(bytes.size() >= sizeof(kMagic) + 4 + 8 + 8 + kDigestSize, CheckpointError, origin,
                ": checkpoint is truncated");
  CheckpointFile file;
  checkpointDigestHex(bytes, origin);  // verifies the digest before anything is parsed
  const std::size_t signedPart = bytes.size() - kDigestSize;
  std::memcpy(file.digest.data(), bytes.data() + signedPart, kDigestSize);

  std::size_t at = sizeof(kMagic);
  auto version = take<std::uint32_t>(bytes, at, origin);
  FEDTL_ENFORCE(version == kCheckpointVersion, CheckpointError, origin, ": checkpoint format version ", version,
                " is not supported (this build reads version ", kCheckpointVersion, ")");
  auto headerLen = take<std::uint64_t>(bytes, at, origin);
  FEDTL_ENFORCE(headerLen <= kMaxCheckpointHeader && headerLen <= signedPart - at, CheckpointError, origin,
                ": header length ", headerLen, " is out of bounds");
  try {
    file.header = decode<CheckpointHeader>(bytes.substr(at, headerLen));
  } catch (const DecodeError& e) {
    throw CheckpointError(origin + ": malformed checkpoint header: " + e.what());
  }
  at += headerLen;
  auto bodyLen = take<std::uint64_t>(bytes, at, origin);
  FEDTL_ENFORCE(bodyLen == signedPart - at, CheckpointError, origin, ": body length ", bodyLen, " disagrees with the file size");
  FEDTL_ENFORCE(file.header.scriptBytes <= bodyLen, CheckpointError, origin, ": TorchScript section exceeds the body");
  file.body.assign(bytes.data() + at, bodyLen);
  return file;
}

}  // namespace fedtl::protocols
