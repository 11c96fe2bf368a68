#include "protocols/secagg/derivation.h"

#include <algorithm>
#include <string_view>

#include "common/crypto/ed25519.h"
#include "common/crypto/hkdf.h"
#include "common/crypto/mask_prg.h"

namespace fedtl::secagg {
namespace {

// Builds the byte strings fed to hashes, signatures and HKDF: a purpose string (with its
// terminating zero, so no purpose is a prefix of another's encoding) and little-endian fields.
class Bytes {
 public:
  explicit Bytes(std::string_view purpose) {
    append(purpose.data(), purpose.size());
    bytes_.push_back(0);
  }
  Bytes& u32(std::uint32_t v) { return append(&v, sizeof v); }
  Bytes& u64(std::uint64_t v) { return append(&v, sizeof v); }
  template <std::size_t N>
  Bytes& raw(const std::array<std::uint8_t, N>& v) {
    return append(v.data(), N);
  }
  std::vector<std::uint8_t> take() { return std::move(bytes_); }

 private:
  Bytes& append(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
    return *this;
  }
  std::vector<std::uint8_t> bytes_;
};

}  // namespace

std::vector<std::uint8_t> advertisementSignedBytes(const KeyAdvertisement& ad) {
  return Bytes("fedtl/secagg/v1/advertisement")
      .u64(ad.round)
      .u32(ad.participant)
      .raw(ad.encryptionKey)
      .raw(ad.maskingKey)
      .raw(ad.selfMaskCommitment)
      .take();
}

void signAdvertisement(KeyAdvertisement& ad, Span<const std::uint8_t> identityPrivateKey) {
  ad.signature = crypto::ed25519Sign(identityPrivateKey, advertisementSignedBytes(ad));
}

bool advertisementSignatureValid(const KeyAdvertisement& ad, const crypto::Ed25519PublicKey& identity) {
  return crypto::ed25519Verify(identity, advertisementSignedBytes(ad), ad.signature);
}

std::vector<std::uint8_t> consistencyStatement(const crypto::Sha256Digest& session, std::uint64_t round,
                                               Span<const std::uint32_t> contributors) {
  crypto::Sha256 hash;
  const std::vector<std::uint8_t> prefix = Bytes("fedtl/secagg/v1/contributors").u64(contributors.size()).take();
  hash.update(prefix.data(), prefix.size());
  hash.update(contributors.data(), contributors.size() * sizeof(std::uint32_t));
  return Bytes("fedtl/secagg/v1/consistency").raw(session).u64(round).raw(hash.finish()).take();
}

crypto::Sha256Digest advertisementDigest(const KeyAdvertisement& ad) {
  const std::string encoded = protocols::encode(ad);
  return crypto::sha256(encoded.data(), encoded.size());
}

crypto::Sha256Digest selfMaskCommitment(std::uint64_t round, std::uint32_t participant, Span<const std::uint8_t> seed) {
  crypto::Sha256 hash;
  const std::vector<std::uint8_t> prefix =
      Bytes("fedtl/secagg/v1/self-mask-commitment").u64(round).u32(participant).take();
  hash.update(prefix.data(), prefix.size());
  hash.update(seed.data(), seed.size());
  return hash.finish();
}

crypto::Sha256Digest sessionId(std::uint64_t round, Span<const std::uint32_t> accepted,
                               Span<const crypto::Sha256Digest> digests) {
  FEDTL_ENFORCE(accepted.size() == digests.size(), UsageError, "session id: ", accepted.size(), " ids but ",
                digests.size(), " digests");
  crypto::Sha256 hash;
  const std::vector<std::uint8_t> prefix = Bytes("fedtl/secagg/v1/session").u64(round).u64(accepted.size()).take();
  hash.update(prefix.data(), prefix.size());
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    hash.update(&accepted[i], sizeof accepted[i]);
    hash.update(digests[i].data(), digests[i].size());
  }
  return hash.finish();
}

crypto::SecretBytes shareEncryptionKey(Span<const std::uint8_t> encryptionSecret, const crypto::Sha256Digest& session,
                                       std::uint64_t round, std::uint32_t sender, std::uint32_t recipient) {
  const std::vector<std::uint8_t> info =
      Bytes("fedtl/secagg/v1/share-encryption").u64(round).u32(sender).u32(recipient).take();
  return crypto::hkdfSha256(encryptionSecret, session, info, crypto::kAesGcmKeySize);
}

std::vector<std::uint8_t> shareAad(const crypto::Sha256Digest& session, std::uint64_t round, std::uint32_t sender,
                                   std::uint32_t recipient) {
  return Bytes("fedtl/secagg/v1/share-aad").raw(session).u64(round).u32(sender).u32(recipient).take();
}

crypto::SecretBytes pairwiseMaskSeed(Span<const std::uint8_t> ownMaskingPrivateKey,
                                     const crypto::X25519PublicKey& peerMaskingKey, const crypto::Sha256Digest& session,
                                     std::uint64_t round, std::uint32_t a, std::uint32_t b) {
  const crypto::SecretBytes shared = crypto::x25519SharedSecret(ownMaskingPrivateKey, peerMaskingKey);
  const std::vector<std::uint8_t> info =
      Bytes("fedtl/secagg/v1/pairwise-mask").u64(round).u32(std::min(a, b)).u32(std::max(a, b)).take();
  return crypto::hkdfSha256(shared, session, info, crypto::MaskPrg::kSeedSize);
}

crypto::SecretBytes selfMaskSeed(Span<const std::uint8_t> seed, const crypto::Sha256Digest& session,
                                 std::uint64_t round, std::uint32_t participant) {
  const std::vector<std::uint8_t> info = Bytes("fedtl/secagg/v1/self-mask").u64(round).u32(participant).take();
  return crypto::hkdfSha256(seed, session, info, crypto::MaskPrg::kSeedSize);
}

void applyPairwiseMask(Span<Ring> values, Span<const std::uint8_t> seed, std::uint32_t self, std::uint32_t peer) {
  if (self < peer)
    crypto::addMask(values, seed);
  else
    crypto::subtractMask(values, seed);
}

}  // namespace fedtl::secagg
