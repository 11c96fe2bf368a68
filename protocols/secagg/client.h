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
//  ConsistencyCheck  hardened mode only (SecAggConfig::consistencyCheck; the active-security
//                 variant of Bonawitz et al., per neighbourhood). The server sends each
//                 contributor U3. i refuses (aborts) when U3 leaves it out, names a participant
//                 that was not accepted or a neighbour that never shared keys with i, or holds
//                 fewer than t of i's neighbourhood; otherwise it signs consistencyStatement
//                 (session id, round, U3; derivation.h) with its long-term Ed25519 identity, wipes
//                 that key (it signs one U3 per session, whatever it is asked later) and keeps U3.
//                 The contributors whose signature verifies are U4; only they are asked to unmask.
//  Unmask         the server tells each contributor (each of U4, hardened) which of its neighbours
//                 contributed (alive) and which shared keys but did not (dropped). The client
//                 refuses (aborts) when an id is in both, when it is itself called dropped, when a
//                 set names a neighbour that never shared keys with it or leaves one out, or when
//                 fewer than t are alive. In hardened mode it also refuses unless the sets are
//                 exactly what the U3 it signed implies, and unless the request carries, for every
//                 participant j it classifies, valid signatures on that same statement from at
//                 least t members of N(j) ∪ {j} (the server relays those of i's two-hop
//                 neighbourhood). Otherwise it reveals its shares of b for the alive and of s_sk
//                 for the dropped — never both for the same participant. The server reconstructs,
//                 checks each s_sk against s_pk and each b against its commitment, removes the self
//                 masks and the masks between dropped and contributing neighbours, and outputs the sum.
//
// Why hardened mode, and its bound. Each client reveals one kind of share per participant, but
// without ConsistencyCheck a malicious server may tell different clients different alive sets:
// it withholds from j the shares of some neighbours (so j masks with the others only), calls j
// alive to j's holders and each of j's mask partners dropped to enough of that partner's
// holders, and gets b_j and every s_sk needed to strip x_j's masks — with no colluding client
// at all (tests/unit/secagg_test.cc, SecAggAttack). In hardened mode two views of j's fate
// (j in U3, j not in U3) each need t signatures from the k + 1 members of N(j) ∪ {j} (n for the
// complete graph), and an honest member signs one U3 per session: a server wanting both needs at
// least 2t − (k + 1) members of that neighbourhood to sign twice, i.e. to collude with it. With
// fewer colluders in every neighbourhood, every honest client that reveals a share of j's
// secrets does so under one and the same U3, with t of j's neighbourhood vouching for it: the
// server gets b_j (j in U3) or s_sk_j (j not in U3), never both, and cannot split one
// neighbourhood's views to strip a single input's masks. Since t > (k + 1)/2, at least one
// colluder is needed; at t = k + 1 even all k neighbours fall short. The tests reach the bound.
// The guarantee is per neighbourhood: on the SecAgg+ graph two distant neighbourhoods may still
// be shown different U3s, each consistent in itself, which yields no single input.
//
// Not covered here: the 64-bit ring.
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
  // Hardened mode only (the stage after maskInput): signs the contributor set U3.
  Outcome<ConsistencyCheckResponse> consistencyCheck(const ConsistencyCheckRequest& request);
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
  // Hardened mode: the abort when `request` contradicts the U3 this client signed.
  std::optional<Abort> checkSignedView(const UnmaskRequest& request);

  std::shared_ptr<const RoundParameters> params_;
  std::shared_ptr<const IdentityTable> identities_;
  std::uint32_t self_;
  crypto::SecretBytes identityKey_;  // kept until ConsistencyCheck in hardened mode
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
  // Hardened mode.
  std::vector<std::uint32_t> accepted_;      // the accepted roster U1, from ShareKeys
  std::vector<std::uint32_t> contributors_;  // U3 as signed at ConsistencyCheck
  std::vector<std::uint8_t> statement_;      // the signed bytes: other signatures must be on these
};

}  // namespace fedtl::secagg
