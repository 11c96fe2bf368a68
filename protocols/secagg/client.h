// Secure aggregation: SecAgg (Bonawitz et al., CCS 2017) over the SecAgg+ neighbour graph
// (Bell et al., CCS 2020), as two pure state machines — secagg::Client (one per participant and
// round) and secagg::Server (protocols/secagg/server.h). No I/O, no threads, no clocks: the
// round engine moves the messages (protocols/secagg/messages.h) and decides when a stage's
// deadline has passed (Server::closeStage).
//
// Protocol, for participant i with neighbours N(i) (all others for the complete graph):
//  AdvertiseKeys  i draws two fresh X25519 pairs — c for share encryption, s for pairwise
//                 masks — and a fresh 32-byte self-mask seed b, and sends c_pk, s_pk,
//                 SHA-256 commitment(b) signed with its long-term Ed25519 identity. The server
//                 drops advertisements with bad signatures, unknown identities or small-order
//                 keys, and participants with fewer than t - 1 accepted neighbours.
//  ShareKeys      i receives the accepted roster (ids and advertisement digests; the session id
//                 is the hash of it) and its accepted neighbours' advertisements, checks every
//                 signature itself, Shamir-splits s_sk and b t-of-(|N'(i)| + 1) among its accepted
//                 neighbours N'(i) and itself, and seals each neighbour's pair of shares with
//                 AES-256-GCM under HKDF(ECDH(c_sk_i, c_pk_j), session id), AAD = (session, round,
//                 i, j). The server routes the sealed shares; it cannot read them.
//  MaskedInput    i receives the shares addressed to it. Their senders are the neighbours still
//                 in the round (U2); only with those does i add a pairwise mask, so a neighbour
//                 that vanished before sharing never leaves a mask in the sum. i sends
//                 x_i + PRG(b_i) + sum_{j in U2 ∩ N(i)} ±PRG(HKDF(ECDH(s_sk_i, s_pk_j), session))
//                 (+ when i < j, - when i > j; mod 2^32), where x_i is the quantised update
//                 followed by the weight. The server only ever sees the sum over contributors U3.
//  Unmask         the server tells each contributor which of its neighbours contributed (alive)
//                 and which shared keys but did not (dropped). The client refuses (aborts) when an
//                 id is in both, when it is itself called dropped, when a set names a neighbour
//                 that never shared keys with it or leaves one out, or when fewer than t are
//                 alive; otherwise it reveals its shares of b for the alive and of s_sk for the
//                 dropped — never both for the same participant. The server reconstructs, checks
//                 each s_sk against s_pk and each b against its commitment, removes the self masks
//                 and the masks between dropped and contributing neighbours, and outputs the sum.
//
// Not covered here: the hardened-mode ConsistencyCheck round (signatures over U3 exchanged
// between survivors) that stops a malicious server from telling different clients different
// alive sets; and the 64-bit ring.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/crypto/secret_bytes.h"
#include "common/crypto/x25519.h"
#include "common/fixed_point.h"
#include "common/span.h"
#include "protocols/secagg/config.h"
#include "protocols/secagg/messages.h"
#include "protocols/secagg/outcome.h"

namespace fedtl::secagg {

class Client {
 public:
  // Draws this round's fresh keys and seed. Throws ConfigError when `self` is not selected or
  // the identity key does not match the allow-list's entry for `self`.
  Client(std::shared_ptr<const RoundParameters> params, std::shared_ptr<const IdentityTable> identities,
         std::uint32_t self, Span<const std::uint8_t> identityPrivateKey);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  std::uint32_t id() const { return self_; }
  Stage stage() const { return stage_; }
  // Why this client stopped (set once stage() is kAborted).
  const std::optional<Abort>& abortReason() const { return abort_; }
  // Neighbours whose sealed shares did not authenticate (tampered, replayed or misrouted).
  const std::vector<std::uint32_t>& unreadableShareSenders() const { return unreadable_; }

  // Each stage may be driven once, in order; anything else throws UsageError. A stage that
  // aborts leaves the client in kAborted and answers every later call with the same abort.
  KeyAdvertisement advertiseKeys();
  Outcome<ShareKeysResponse> shareKeys(const ShareKeysRequest& request);
  // `update` is the already quantised update (d ring elements, see common/fixed_point.h).
  Outcome<MaskedInput> maskInput(const MaskedInputRequest& request, Span<const Ring> update, Ring weight);
  // Convenience: quantises a float update with `codec` (clipping, stochastic rounding from a
  // fresh secure seed) and masks it.
  Outcome<MaskedInput> maskInput(const MaskedInputRequest& request, Span<const float> update, Ring weight,
                                 const FixedPointCodec<Ring>& codec);
  Outcome<UnmaskResponse> unmask(const UnmaskRequest& request);

 private:
  struct Neighbour {
    std::uint32_t id = 0;
    crypto::X25519PublicKey encryptionKey{};
    crypto::X25519PublicKey maskingKey{};
    crypto::SecretBytes openingKey;  // opens the shares this neighbour seals for us
  };
  // This client's shares (x = its id) of one participant's s_sk and b.
  struct HeldShares {
    std::uint32_t owner = 0;
    ShareValues maskKey{};
    ShareValues selfMask{};
  };

  void requireStage(Stage expected, const char* call) const;
  Abort fail(AbortReason reason, std::string detail);
  void wipeSecrets();
  Neighbour* findNeighbour(std::uint32_t id);
  HeldShares* findHeld(std::uint32_t owner);

  std::shared_ptr<const RoundParameters> params_;
  std::shared_ptr<const IdentityTable> identities_;
  std::uint32_t self_;
  crypto::SecretBytes identityKey_;
  Stage stage_ = Stage::kAdvertiseKeys;
  std::optional<Abort> abort_;

  crypto::X25519KeyPair encryptionKeys_;  // c
  crypto::X25519KeyPair maskingKeys_;     // s
  crypto::SecretBytes selfMaskSeed_;      // b
  KeyAdvertisement advertisement_;
  crypto::Sha256Digest session_{};

  std::vector<Neighbour> neighbours_;  // accepted neighbours, ascending (set in ShareKeys)
  std::vector<HeldShares, crypto::WipingAllocator<HeldShares>> held_;  // shares held, by owner
  std::vector<std::uint32_t> sharedNeighbours_;                        // U2 ∩ N(i), as seen at MaskedInput
  std::vector<std::uint32_t> unreadable_;
};

}  // namespace fedtl::secagg
