#include "protocols/secagg/client.h"

#include <algorithm>
#include <cstring>

#include "common/crypto/aead.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/random.h"
#include "common/crypto/shamir.h"
#include "protocols/secagg/derivation.h"

namespace fedtl::secagg {
namespace {

void putValues(const ShareValues& values, std::uint8_t* out) { std::memcpy(out, values.data(), sizeof values); }
void getValues(const std::uint8_t* in, ShareValues& values) { std::memcpy(&values, in, sizeof values); }

ShareValues valuesOf(const crypto::shamir::Share& share) {
  FEDTL_ENFORCE(share.y.size() == kShareLimbs, UsageError, "a Shamir share of ", kSecretSize, " bytes holds ",
                share.y.size(), " limbs, expected ", kShareLimbs);
  ShareValues values{};
  std::copy(share.y.begin(), share.y.end(), values.begin());
  return values;
}

bool contains(const std::vector<std::uint32_t>& sorted, std::uint32_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

}  // namespace

Client::Client(std::shared_ptr<const RoundParameters> params, std::shared_ptr<const IdentityTable> identities,
               std::uint32_t self, Span<const std::uint8_t> identityPrivateKey)
    : params_(std::move(params)), identities_(std::move(identities)), self_(self), identityKey_(identityPrivateKey) {
  FEDTL_ENFORCE(params_ && identities_, UsageError, "SecAgg client needs round parameters and an identity table");
  FEDTL_ENFORCE(params_->isSelected(self_), ConfigError, "participant ", self_, " is not selected for SecAgg round ",
                params_->round());
  const auto listed = identities_->find(self_);
  FEDTL_ENFORCE(listed != identities_->end(), ConfigError, "participant ", self_,
                " has no identity key on the allow-list");
  FEDTL_ENFORCE(crypto::ed25519KeyPairFromPrivate(identityKey_).publicKey == listed->second, ConfigError,
                "the identity key of participant ", self_,
                " does not match its allow-list entry (wrong key file, or the allow-list is stale)");
  // Fresh per round: a Client lives for one round, so no key or seed is ever reused.
  encryptionKeys_ = crypto::generateX25519KeyPair();
  maskingKeys_ = crypto::generateX25519KeyPair();
  selfMaskSeed_ = crypto::randomSecret(kSecretSize);
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::requireStage(Stage expected, const char* call) const {
  FEDTL_ENFORCE(stage_ == expected || stage_ == Stage::kAborted, UsageError, "SecAgg client ", self_, ": ", call,
                " called in stage ", stageName(stage_), ", expected ", stageName(expected));
}

Abort Client::fail(AbortReason reason, std::string detail) {
  abort_ = Abort{reason, detail::concat("participant ", self_, ": ", detail)};
  stage_ = Stage::kAborted;
  wipeSecrets();
  return *abort_;
}

void Client::wipeSecrets() {
  identityKey_.clear();
  encryptionKeys_.privateKey.clear();
  maskingKeys_.privateKey.clear();
  selfMaskSeed_.clear();
  for (Neighbour& peer : neighbours_) peer.openingKey.clear();
  held_.clear();
  held_.shrink_to_fit();  // the wiping allocator cleans the buffer as it goes
}

Client::Neighbour* Client::findNeighbour(std::uint32_t id) {
  const auto it = std::lower_bound(neighbours_.begin(), neighbours_.end(), id,
                                   [](const Neighbour& n, std::uint32_t v) { return n.id < v; });
  return it != neighbours_.end() && it->id == id ? &*it : nullptr;
}

Client::HeldShares* Client::findHeld(std::uint32_t owner) {
  const auto it = std::lower_bound(held_.begin(), held_.end(), owner,
                                   [](const HeldShares& h, std::uint32_t v) { return h.owner < v; });
  return it != held_.end() && it->owner == owner ? &*it : nullptr;
}

KeyAdvertisement Client::advertiseKeys() {
  FEDTL_ENFORCE(stage_ == Stage::kAdvertiseKeys, UsageError, "SecAgg client ", self_,
                ": advertiseKeys called in stage ", stageName(stage_));
  advertisement_.round = params_->round();
  advertisement_.participant = self_;
  advertisement_.encryptionKey = encryptionKeys_.publicKey;
  advertisement_.maskingKey = maskingKeys_.publicKey;
  advertisement_.selfMaskCommitment = selfMaskCommitment(params_->round(), self_, selfMaskSeed_);
  signAdvertisement(advertisement_, identityKey_);
  // Its only other use is the one signature on U3 in hardened mode.
  if (!params_->consistencyCheck()) identityKey_.clear();
  stage_ = Stage::kShareKeys;
  return advertisement_;
}

Outcome<ShareKeysResponse> Client::shareKeys(const ShareKeysRequest& request) {
  requireStage(Stage::kShareKeys, "shareKeys");
  if (abort_) return *abort_;
  try {
    validate(request, *params_, self_);
  } catch (const protocols::DecodeError& e) {
    return fail(AbortReason::kMalformedRequest, e.what());
  }
  const auto& accepted = request.accepted;
  const auto own = std::lower_bound(accepted.begin(), accepted.end(), self_);
  if (own == accepted.end() || *own != self_)
    return fail(AbortReason::kMalformedRequest, "the accepted roster leaves out this participant");
  if (request.digests[static_cast<std::size_t>(own - accepted.begin())] != advertisementDigest(advertisement_))
    return fail(AbortReason::kInvalidAdvertisement,
                "the accepted roster carries a different advertisement for this participant");

  // The advertisements must be exactly those of the accepted neighbours, each one genuine.
  std::vector<std::uint32_t> expected;
  for (std::uint32_t id : params_->neighboursOf(self_))
    if (contains(accepted, id)) expected.push_back(id);
  if (request.neighbourAdvertisements.size() != expected.size())
    return fail(AbortReason::kMalformedRequest,
                detail::concat("the request carries ", request.neighbourAdvertisements.size(),
                               " neighbour advertisements for ", expected.size(), " accepted neighbours"));
  neighbours_.clear();
  for (const KeyAdvertisement& ad : request.neighbourAdvertisements) {
    const std::uint32_t id = ad.participant;
    if (!contains(expected, id))
      return fail(AbortReason::kMalformedRequest, detail::concat("advertisement of ", id, " is not in the roster"));
    const auto identity = identities_->find(id);
    if (identity == identities_->end())
      return fail(AbortReason::kInvalidAdvertisement, detail::concat("neighbour ", id, " is not on the allow-list"));
    if (!advertisementSignatureValid(ad, identity->second))
      return fail(AbortReason::kInvalidAdvertisement,
                  detail::concat("the advertisement of neighbour ", id, " carries an invalid signature"));
    if (crypto::isSmallOrderX25519PublicKey(ad.encryptionKey) || crypto::isSmallOrderX25519PublicKey(ad.maskingKey))
      return fail(AbortReason::kInvalidAdvertisement,
                  detail::concat("the advertisement of neighbour ", id, " carries a small-order key"));
    const auto at = std::lower_bound(accepted.begin(), accepted.end(), id);
    if (request.digests[static_cast<std::size_t>(at - accepted.begin())] != advertisementDigest(ad))
      return fail(AbortReason::kInvalidAdvertisement,
                  detail::concat("the advertisement of neighbour ", id, " does not match its roster digest"));
    neighbours_.push_back(Neighbour{id, ad.encryptionKey, ad.maskingKey, {}});
  }
  const std::uint32_t t = params_->threshold();
  if (neighbours_.size() + 1 < t)
    return fail(
        AbortReason::kTooFewNeighbours,
        detail::concat("only ", neighbours_.size(), " neighbours advertised keys; shares need t = ", t, " holders"));
  session_ = sessionId(params_->round(), accepted, request.digests);
  if (params_->consistencyCheck()) accepted_ = accepted;

  // Shares for the accepted neighbours and for this participant itself (x = holder id).
  std::vector<std::uint32_t> holders = expected;
  holders.insert(std::lower_bound(holders.begin(), holders.end(), self_), self_);
  const auto maskKeyShares = crypto::shamir::split(maskingKeys_.privateKey, t, holders);
  const auto selfMaskShares = crypto::shamir::split(selfMaskSeed_, t, holders);

  ShareKeysResponse response;
  response.shares.reserve(neighbours_.size());
  crypto::SecretBytes plaintext(kSharePlaintextSize);
  for (std::size_t h = 0; h < holders.size(); ++h) {
    const std::uint32_t holder = holders[h];
    if (holder == self_) {
      held_.push_back(HeldShares{self_, valuesOf(maskKeyShares[h]), valuesOf(selfMaskShares[h])});
      continue;
    }
    // One key agreement per neighbour gives the keys of both directions.
    Neighbour& peer = *findNeighbour(holder);
    const crypto::SecretBytes secret = crypto::x25519SharedSecret(encryptionKeys_.privateKey, peer.encryptionKey);
    peer.openingKey = shareEncryptionKey(secret, session_, params_->round(), holder, self_);
    const crypto::SecretBytes sealingKey = shareEncryptionKey(secret, session_, params_->round(), self_, holder);
    putValues(valuesOf(maskKeyShares[h]), plaintext.data());
    putValues(valuesOf(selfMaskShares[h]), plaintext.data() + sizeof(ShareValues));
    const auto sealed =
        crypto::aesGcmSeal(sealingKey, kShareNonce, shareAad(session_, params_->round(), self_, holder), plaintext);
    EncryptedShare share;
    share.sender = self_;
    share.recipient = holder;
    std::copy(sealed.begin(), sealed.end(), share.ciphertext.begin());
    response.shares.push_back(share);
  }
  stage_ = Stage::kMaskedInput;
  return response;
}

Outcome<MaskedInput> Client::maskInput(const MaskedInputRequest& request, Span<const Ring> update, Ring weight) {
  requireStage(Stage::kMaskedInput, "maskInput");
  if (abort_) return *abort_;
  FEDTL_ENFORCE(update.size() == params_->dimension(), UsageError, "SecAgg client ", self_, ": update holds ",
                update.size(), " ring elements, the round's dimension is ", params_->dimension());
  try {
    validate(request, *params_, self_);
  } catch (const protocols::DecodeError& e) {
    return fail(AbortReason::kMalformedRequest, e.what());
  }

  // The senders are the neighbours still in the round: only their masks go into the sum.
  sharedNeighbours_.clear();
  for (const EncryptedShare& share : request.shares) {
    const Neighbour* peer = findNeighbour(share.sender);
    if (!peer)
      return fail(AbortReason::kMalformedRequest,
                  detail::concat("shares from ", share.sender, ", which was not an accepted neighbour"));
    sharedNeighbours_.push_back(share.sender);
    const auto opened = crypto::aesGcmOpen(peer->openingKey, kShareNonce,
                                           shareAad(session_, params_->round(), share.sender, self_), share.ciphertext);
    if (!opened || opened->size() != kSharePlaintextSize) {
      // Still masked with: the sender is in the round. Only its shares are lost to the server.
      unreadable_.push_back(share.sender);
      continue;
    }
    HeldShares held{share.sender, {}, {}};
    getValues(opened->data(), held.maskKey);
    getValues(opened->data() + sizeof(ShareValues), held.selfMask);
    held_.push_back(held);
  }
  std::sort(held_.begin(), held_.end(), [](const HeldShares& a, const HeldShares& b) { return a.owner < b.owner; });
  const std::uint32_t t = params_->threshold();
  if (sharedNeighbours_.size() + 1 < t)
    return fail(AbortReason::kTooFewNeighbours,
                detail::concat("only ", sharedNeighbours_.size(), " neighbours shared keys; t = ", t));

  MaskedInput input;
  input.masked.resize(params_->maskedLength());
  std::copy(update.begin(), update.end(), input.masked.begin());
  input.masked.back() = weight;
  Span<Ring> values(input.masked);
  crypto::addMask(values, selfMaskSeed(selfMaskSeed_, session_, params_->round(), self_));
  for (std::uint32_t peerId : sharedNeighbours_) {
    const Neighbour& peer = *findNeighbour(peerId);
    applyPairwiseMask(
        values, pairwiseMaskSeed(maskingKeys_.privateKey, peer.maskingKey, session_, params_->round(), self_, peerId),
        self_, peerId);
  }
  // The masks are applied; from here on only shares are revealed, never the keys themselves.
  encryptionKeys_.privateKey.clear();
  maskingKeys_.privateKey.clear();
  selfMaskSeed_.clear();
  for (Neighbour& peer : neighbours_) peer.openingKey.clear();
  stage_ = params_->consistencyCheck() ? Stage::kConsistencyCheck : Stage::kUnmask;
  return input;
}

Outcome<MaskedInput> Client::maskInput(const MaskedInputRequest& request, Span<const float> update, Ring weight,
                                       const FixedPointCodec<Ring>& codec) {
  std::vector<Ring> encoded(update.size());
  crypto::MaskPrg rounding(crypto::randomSecret(crypto::MaskPrg::kSeedSize));
  codec.encode(update, encoded, rounding);
  return maskInput(request, encoded, weight);
}

Outcome<ConsistencyCheckResponse> Client::consistencyCheck(const ConsistencyCheckRequest& request) {
  requireStage(Stage::kConsistencyCheck, "consistencyCheck");
  if (abort_) return *abort_;
  try {
    validate(request, *params_);
  } catch (const protocols::DecodeError& e) {
    return fail(AbortReason::kMalformedRequest, e.what());
  }
  const auto& contributors = request.contributors;
  if (!contains(contributors, self_))
    return fail(AbortReason::kInconsistentView,
                "the contributor set leaves out this participant, although it sent its masked input");
  for (std::uint32_t id : contributors)
    if (!contains(accepted_, id))
      return fail(AbortReason::kInconsistentView,
                  detail::concat("the contributor set names ", id, ", which was not in the accepted roster"));
  // A neighbour in U3 masked with this participant, so it must have shared keys with it; and the
  // neighbourhood must keep t contributors, as Unmask will need.
  std::uint32_t inNeighbourhood = 1;
  for (std::uint32_t nb : params_->neighboursOf(self_)) {
    if (!contains(contributors, nb)) continue;
    if (!contains(sharedNeighbours_, nb))
      return fail(AbortReason::kInconsistentView,
                  detail::concat("the contributor set names neighbour ", nb, ", which never shared keys with it"));
    ++inNeighbourhood;
  }
  const std::uint32_t t = params_->threshold();
  if (inNeighbourhood < t)
    return fail(AbortReason::kTooFewNeighbours,
                detail::concat("only ", inNeighbourhood, " of this neighbourhood are contributors; t = ", t));

  contributors_ = contributors;
  statement_ = consistencyStatement(session_, params_->round(), contributors_);
  ConsistencyCheckResponse response;
  response.signature = crypto::ed25519Sign(identityKey_, statement_);
  identityKey_.clear();  // one signature per session: this client never vouches for a second U3
  stage_ = Stage::kUnmask;
  return response;
}

std::optional<Abort> Client::checkSignedView(const UnmaskRequest& request) {
  // The classification must be exactly the one U3 implies: alive, the neighbourhood's
  // contributors (all shared keys with it, checked when signing); dropped, the neighbours that
  // shared keys but are not in U3.
  std::vector<std::uint32_t> alive, dropped;
  for (std::uint32_t nb : sharedNeighbours_) (contains(contributors_, nb) ? alive : dropped).push_back(nb);
  alive.insert(std::lower_bound(alive.begin(), alive.end(), self_), self_);
  if (request.alive != alive)
    return fail(AbortReason::kInconsistentView, "the alive set is not the contributor set this participant signed");
  if (request.dropped != dropped)
    return fail(AbortReason::kInconsistentView,
                "the dropped set is not what the contributor set this participant signed implies");

  // Every signature relayed must be a contributor's, on the very U3 this client signed.
  std::vector<std::uint32_t> signers;
  signers.reserve(request.signatures.size());
  for (const ContributorSignature& s : request.signatures) {
    if (!contains(contributors_, s.signer))
      return fail(AbortReason::kInconsistentView,
                  detail::concat("the request carries a signature of ", s.signer, ", which is not a contributor"));
    const auto identity = identities_->find(s.signer);
    if (identity == identities_->end() || !crypto::ed25519Verify(identity->second, statement_, s.signature))
      return fail(AbortReason::kInconsistentView,
                  detail::concat("the signature of ", s.signer,
                                 " does not verify on the contributor set this participant signed (forged, or for "
                                 "another set or session)"));
    signers.push_back(s.signer);  // ascending: validate() checked the order
  }
  // t signers in the neighbourhood of each participant classified: a contradicting view of that
  // participant would need t more of the same k + 1, and an honest member signs only once.
  const std::uint32_t t = params_->threshold();
  for (const auto* set : {&alive, &dropped})
    for (std::uint32_t owner : *set) {
      std::size_t vouching = signers.size();  // the complete graph: every signer is in the neighbourhood
      if (!params_->isCompleteGraph()) {
        vouching = contains(signers, owner) ? 1 : 0;
        for (std::uint32_t nb : params_->neighboursOf(owner)) vouching += contains(signers, nb) ? 1 : 0;
      }
      if (vouching < t)
        return fail(AbortReason::kTooFewSignatures,
                    detail::concat("only ", vouching, " of participant ", owner,
                                   "'s neighbourhood signed the contributor set; t = ", t));
    }
  return std::nullopt;
}

Outcome<UnmaskResponse> Client::unmask(const UnmaskRequest& request) {
  requireStage(Stage::kUnmask, "unmask");
  if (abort_) return *abort_;
  try {
    validate(request, *params_, self_);
  } catch (const protocols::DecodeError& e) {
    return fail(AbortReason::kMalformedRequest, e.what());
  }
  const auto& alive = request.alive;
  const auto& dropped = request.dropped;
  for (std::uint32_t id : dropped) {
    if (contains(alive, id))
      return fail(AbortReason::kInconsistentDropoutSets,
                  detail::concat("participant ", id, " is listed both alive and dropped"));
    if (id == self_)
      return fail(AbortReason::kInconsistentDropoutSets,
                  "this participant is listed as dropped although its masked input was used");
    if (!contains(sharedNeighbours_, id))
      return fail(AbortReason::kInconsistentDropoutSets,
                  detail::concat("dropped participant ", id, " never shared keys with this participant"));
  }
  if (!contains(alive, self_))
    return fail(AbortReason::kInconsistentDropoutSets, "this participant is missing from the alive set");
  for (std::uint32_t id : alive)
    if (id != self_ && !contains(sharedNeighbours_, id))
      return fail(AbortReason::kInconsistentDropoutSets,
                  detail::concat("alive participant ", id, " never shared keys with this participant"));
  // Every neighbour that shared keys is classified, so no mask is left unaccounted for.
  if (alive.size() + dropped.size() != sharedNeighbours_.size() + 1)
    return fail(AbortReason::kInconsistentDropoutSets,
                "the alive and dropped sets leave out a neighbour that shared keys");
  const std::uint32_t t = params_->threshold();
  if (alive.size() < t)
    return fail(AbortReason::kTooFewNeighbours,
                detail::concat("only ", alive.size(), " of this neighbourhood are alive; t = ", t));
  if (params_->consistencyCheck())
    if (std::optional<Abort> refused = checkSignedView(request)) return *std::move(refused);

  UnmaskResponse response;
  for (std::uint32_t owner : alive)
    if (const HeldShares* held = findHeld(owner)) response.selfMaskShares.push_back({owner, held->selfMask});
  for (std::uint32_t owner : dropped)
    if (const HeldShares* held = findHeld(owner)) response.maskKeyShares.push_back({owner, held->maskKey});
  response.unreadableShareSenders = unreadable_;
  std::sort(response.unreadableShareSenders.begin(), response.unreadableShareSenders.end());
  wipeSecrets();
  stage_ = Stage::kDone;
  return response;
}

}  // namespace fedtl::secagg
