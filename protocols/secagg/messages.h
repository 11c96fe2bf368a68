// The SecAgg messages: plain structs serialised with the wire archive (protocols/wire_archive.h,
// protocols::encode / protocols::decode). They carry no frame type here; the round engine wraps
// them in frames. After decoding, validate() bounds every length by the round's parameters
// (share counts by the neighbourhood size, vector sizes by d) and checks that every id is a
// selected participant where the receiver expects it; it throws protocols::DecodeError.
// The state machines validate what they receive themselves, so a caller may skip it.
//
// Flow (participant i, server S; see protocols/secagg/client.h):
//   i -> S  KeyAdvertisement      c_pk, s_pk, commitment to b, Ed25519 signature
//   S -> i  ShareKeysRequest      the accepted roster (ids + advertisement digests) and the
//                                 advertisements of i's accepted neighbours
//   i -> S  ShareKeysResponse     one AES-GCM sealed pair of Shamir shares per accepted neighbour
//   S -> i  MaskedInputRequest    the sealed shares addressed to i by neighbours that sent theirs
//   i -> S  MaskedInput           the masked vector (d + 1 ring elements); S sums these
// hardened mode (SecAggConfig::consistencyCheck) only:
//   S -> i  ConsistencyCheckRequest   the contributor set U3
//   i -> S  ConsistencyCheckResponse  i's Ed25519 signature on (session, round, U3)
//   S -> i  UnmaskRequest         i's neighbours that contributed (alive) and that did not (dropped);
//                                 in hardened mode also the U3 signatures of i's two-hop neighbourhood
//   i -> S  UnmaskResponse        shares of b for the alive, shares of s_sk for the dropped
#pragma once

#include <array>
#include <cereal/types/array.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <vector>

#include "common/crypto/aead.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/sha256.h"
#include "common/crypto/x25519.h"
#include "protocols/secagg/config.h"
#include "protocols/secagg/outcome.h"
#include "protocols/wire_archive.h"

namespace fedtl::secagg {

inline constexpr std::size_t kSecretSize = 32;  // s_sk and b are 32 bytes
inline constexpr std::size_t kShareLimbs = 5;   // field elements per Shamir share of 32 bytes (7 bytes each)
using ShareValues = std::array<std::uint64_t, kShareLimbs>;
// The sealed plaintext: the recipient's share of the sender's s_sk, then of its b.
inline constexpr std::size_t kSharePlaintextSize = 2 * kShareLimbs * sizeof(std::uint64_t);
inline constexpr std::size_t kShareCiphertextSize = kSharePlaintextSize + crypto::kAesGcmTagSize;

struct KeyAdvertisement {
  std::uint64_t round = 0;
  std::uint32_t participant = 0;
  crypto::X25519PublicKey encryptionKey{};    // c_pk: shares addressed to this participant
  crypto::X25519PublicKey maskingKey{};       // s_pk: pairwise masks
  crypto::Sha256Digest selfMaskCommitment{};  // commits to the self-mask seed b
  crypto::Ed25519Signature signature{};       // by the long-term identity, over all of the above

  template <class A>
  void serialize(A& ar) {
    ar(round, participant, encryptionKey, maskingKey, selfMaskCommitment, signature);
  }
};

struct ShareKeysRequest {
  std::vector<std::uint32_t> accepted;                    // every accepted participant, ascending
  std::vector<crypto::Sha256Digest> digests;              // SHA-256 of each accepted advertisement
  std::vector<KeyAdvertisement> neighbourAdvertisements;  // the recipient's accepted neighbours, ascending

  template <class A>
  void serialize(A& ar) {
    ar(accepted, digests, neighbourAdvertisements);
  }
};

struct EncryptedShare {
  std::uint32_t sender = 0;
  std::uint32_t recipient = 0;
  std::array<std::uint8_t, kShareCiphertextSize> ciphertext{};  // AES-256-GCM: ciphertext || tag

  template <class A>
  void serialize(A& ar) {
    ar(sender, recipient, ciphertext);
  }
};

struct ShareKeysResponse {
  std::vector<EncryptedShare> shares;  // one per accepted neighbour, ascending by recipient

  template <class A>
  void serialize(A& ar) {
    ar(shares);
  }
};

struct MaskedInputRequest {
  std::vector<EncryptedShare> shares;  // addressed to the recipient, ascending by sender

  template <class A>
  void serialize(A& ar) {
    ar(shares);
  }
};

struct MaskedInput {
  std::vector<Ring> masked;  // d + 1 ring elements: the update, then the weight

  template <class A>
  void serialize(A& ar) {
    ar(masked);
  }
};

struct ConsistencyCheckRequest {
  std::vector<std::uint32_t> contributors;  // U3: every participant whose masked input is in the sum, ascending

  template <class A>
  void serialize(A& ar) {
    ar(contributors);
  }
};

struct ConsistencyCheckResponse {
  crypto::Ed25519Signature signature{};  // by the long-term identity, over consistencyStatement (derivation.h)

  template <class A>
  void serialize(A& ar) {
    ar(signature);
  }
};

// One contributor's signature on U3, as the server relays it.
struct ContributorSignature {
  std::uint32_t signer = 0;
  crypto::Ed25519Signature signature{};

  template <class A>
  void serialize(A& ar) {
    ar(signer, signature);
  }
};

struct UnmaskRequest {
  std::vector<std::uint32_t> alive;    // the recipient's neighbourhood (itself included) that contributed
  std::vector<std::uint32_t> dropped;  // its neighbours that shared keys but did not contribute
  // Hardened mode: the U3 signatures of the signers within two hops of the recipient, ascending
  // by signer (the neighbourhoods of everyone it classifies); empty otherwise.
  std::vector<ContributorSignature> signatures{};

  template <class A>
  void serialize(A& ar) {
    ar(alive, dropped, signatures);
  }
};

struct RevealedShare {
  std::uint32_t owner = 0;  // whose secret this is a share of; the share's x is the sender's id
  ShareValues values{};

  template <class A>
  void serialize(A& ar) {
    ar(owner, values);
  }
};

struct UnmaskResponse {
  std::vector<RevealedShare> selfMaskShares;          // shares of b, ascending by owner
  std::vector<RevealedShare> maskKeyShares;           // shares of s_sk, ascending by owner
  std::vector<std::uint32_t> unreadableShareSenders;  // whose sealed shares failed authentication

  template <class A>
  void serialize(A& ar) {
    ar(selfMaskShares, maskKeyShares, unreadableShareSenders);
  }
};

// The largest wire encodings of the messages whose size depends on the round, as validate()
// admits them, for the frame limits (protocols/frame.h); the frame adds its 8-byte session. An
// unmask request for neighbourhoods of m: at most m alive and m - 1 dropped ids, and in hardened
// mode the signatures of at most 2m - 1 participants (the two-hop neighbourhood, 68 bytes
// each): 144·m - 48 bytes.
constexpr std::uint64_t unmaskRequestSizeBound(std::uint64_t neighbourhood) {
  const std::uint64_t m = neighbourhood < 1 ? 1 : neighbourhood;
  constexpr std::uint64_t kPrefix = 8, kId = 4, kSigned = kId + crypto::kEd25519SignatureSize;
  return 3 * kPrefix + kId * m + kId * (m - 1) + kSigned * (2 * m - 1);
}
// A consistency-check request for n selected participants: the contributor set (8 + 4·n bytes).
constexpr std::uint64_t consistencyCheckRequestSizeBound(std::uint64_t selected) { return 8 + 4 * selected; }
// A consistency-check response: one signature.
inline constexpr std::uint64_t kConsistencyCheckResponseSize = crypto::kEd25519SignatureSize;

// Semantic checks after decoding; `self` is the receiver (for requests) or the sender (for
// responses). Throw protocols::DecodeError.
void validate(const KeyAdvertisement& m, const RoundParameters& params);
void validate(const ShareKeysRequest& m, const RoundParameters& params, std::uint32_t recipient);
void validate(const ShareKeysResponse& m, const RoundParameters& params, std::uint32_t sender);
void validate(const MaskedInputRequest& m, const RoundParameters& params, std::uint32_t recipient);
void validate(const MaskedInput& m, const RoundParameters& params);
void validate(const ConsistencyCheckRequest& m, const RoundParameters& params);
void validate(const UnmaskRequest& m, const RoundParameters& params, std::uint32_t recipient);
void validate(const UnmaskResponse& m, const RoundParameters& params, std::uint32_t sender);

}  // namespace fedtl::secagg
