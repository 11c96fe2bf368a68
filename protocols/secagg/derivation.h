// Every value SecAgg derives, in one place so client and server cannot disagree. Each is
// domain-separated by a string naming its purpose ("fedtl/secagg/v1/...") and binds the round;
// every key derived after AdvertiseKeys also binds the session id (HKDF salt) and the ids of
// both parties, so nothing from another round, session or pair of participants fits.
#pragma once

#include <cstdint>
#include <vector>

#include "common/crypto/secret_bytes.h"
#include "common/crypto/sha256.h"
#include "common/crypto/x25519.h"
#include "common/span.h"
#include "protocols/secagg/messages.h"

namespace fedtl::secagg {

// The bytes an advertisement's signature covers: round, participant, c_pk, s_pk, commitment.
std::vector<std::uint8_t> advertisementSignedBytes(const KeyAdvertisement& ad);
// Signs `ad` in place with the participant's raw Ed25519 private key.
void signAdvertisement(KeyAdvertisement& ad, Span<const std::uint8_t> identityPrivateKey);
[[nodiscard]] bool advertisementSignatureValid(const KeyAdvertisement& ad, const crypto::Ed25519PublicKey& identity);

// The statement a contributor signs at ConsistencyCheck (hardened mode): purpose || session id
// || round || SHA-256(purpose || |U3| || the ids of U3 in ascending order). Binding the session
// id makes a signature from another session, round or roster worthless; hashing U3 keeps the
// signed bytes short however many contribute.
std::vector<std::uint8_t> consistencyStatement(const crypto::Sha256Digest& session, std::uint64_t round,
                                               Span<const std::uint32_t> contributors);

// SHA-256 over the advertisement's wire encoding (signature included).
crypto::Sha256Digest advertisementDigest(const KeyAdvertisement& ad);

// The commitment to the self-mask seed b: SHA-256(purpose || round || participant || b).
crypto::Sha256Digest selfMaskCommitment(std::uint64_t round, std::uint32_t participant, Span<const std::uint8_t> seed);

// The session id: SHA-256(purpose || round || n || each accepted id and its advertisement's
// digest, in id order). Parties that disagree on any accepted advertisement derive different keys.
crypto::Sha256Digest sessionId(std::uint64_t round, Span<const std::uint32_t> accepted,
                               Span<const crypto::Sha256Digest> digests);

// The AES-256-GCM key sealing sender's shares for recipient: HKDF(ECDH(c_sk, peer c_pk),
// salt = session id, info = purpose || round || sender || recipient). `encryptionSecret` is the
// X25519 secret of the two c keys (the same from either side); each direction gets its own
// key, and one key seals one message, so the zero nonce is never reused under a key.
crypto::SecretBytes shareEncryptionKey(Span<const std::uint8_t> encryptionSecret, const crypto::Sha256Digest& session,
                                       std::uint64_t round, std::uint32_t sender, std::uint32_t recipient);
// AAD of a sealed share: session id || round || sender || recipient.
std::vector<std::uint8_t> shareAad(const crypto::Sha256Digest& session, std::uint64_t round, std::uint32_t sender,
                                   std::uint32_t recipient);
inline constexpr std::array<std::uint8_t, crypto::kAesGcmNonceSize> kShareNonce{};

// The pairwise mask seed of a and b: HKDF(ECDH(s_sk, peer s_pk), salt = session id,
// info = purpose || round || min(a, b) || max(a, b)); the same from either side.
crypto::SecretBytes pairwiseMaskSeed(Span<const std::uint8_t> ownMaskingPrivateKey,
                                     const crypto::X25519PublicKey& peerMaskingKey, const crypto::Sha256Digest& session,
                                     std::uint64_t round, std::uint32_t a, std::uint32_t b);

// The self-mask seed of a participant: HKDF(b, salt = session id, info = purpose || round || id).
crypto::SecretBytes selfMaskSeed(Span<const std::uint8_t> seed, const crypto::Sha256Digest& session,
                                 std::uint64_t round, std::uint32_t participant);

// values += or -= the pairwise mask as participant `self` applies it towards `peer`: + when
// self < peer, - when self > peer, so the two cancel in the sum.
void applyPairwiseMask(Span<Ring> values, Span<const std::uint8_t> seed, std::uint32_t self, std::uint32_t peer);

}  // namespace fedtl::secagg
