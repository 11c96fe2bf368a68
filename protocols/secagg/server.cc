#include "protocols/secagg/server.h"

#include <algorithm>
#include <deque>

#include "common/crypto/mask_prg.h"
#include "common/crypto/shamir.h"
#include "common/crypto/x25519.h"
#include "protocols/secagg/derivation.h"

namespace fedtl::secagg {

struct Server::Party {
  std::uint32_t id = 0;
  KeyAdvertisement advertisement;
  bool advertised = false;                      // an advertisement arrived (valid or not)
  bool accepted = false;                        // U1: a valid advertisement, and enough accepted neighbours
  bool answeredShares = false;                  // a share-keys response arrived (valid or not)
  bool shared = false;                          // U2: sealed shares for every accepted neighbour, routed on
  bool contributed = false;                     // U3: its masked input is in the sum
  bool answeredConsistency = false;             // hardened: a consistency-check response arrived
  bool signedView = false;                      // hardened, U4: its signature on U3 verified
  crypto::Ed25519Signature viewSignature{};     // that signature, relayed at Unmask
  bool answeredUnmask = false;                  // an unmask response arrived (valid or not)
  std::vector<EncryptedShare> inbox;            // sealed shares addressed to this participant
  std::vector<RevealedShare> revealedSelfMask;  // what it revealed at Unmask
  std::vector<RevealedShare> revealedMaskKey;
};

const char* rejectionReasonName(RejectionReason reason) {
  switch (reason) {
    case RejectionReason::kNotSelected:
      return "not selected";
    case RejectionReason::kWrongStage:
      return "wrong stage";
    case RejectionReason::kDuplicate:
      return "duplicate";
    case RejectionReason::kMalformed:
      return "malformed";
    case RejectionReason::kUnknownIdentity:
      return "unknown identity";
    case RejectionReason::kBadSignature:
      return "bad signature";
    case RejectionReason::kSmallOrderKey:
      return "small-order key";
    case RejectionReason::kTooFewNeighbours:
      return "too few neighbours";
    case RejectionReason::kShareUnreadable:
      return "share unreadable";
  }
  return "unknown";
}

std::vector<float> decodeAggregate(const AggregateResult& result, const FixedPointCodec<Ring>& codec) {
  std::vector<float> out(result.sum.size());
  codec.decodeSum(result.sum, result.contributors.size(), out);
  return out;
}

Server::Server(std::shared_ptr<const RoundParameters> params, std::shared_ptr<const IdentityTable> identities)
    : params_(std::move(params)), identities_(std::move(identities)) {
  FEDTL_ENFORCE(params_ && identities_, UsageError, "SecAgg server needs round parameters and an identity table");
  parties_.resize(params_->size());
  for (std::size_t i = 0; i < parties_.size(); ++i) parties_[i].id = params_->participants()[i];
}

Server::~Server() = default;
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;

Server::Party& Server::party(std::uint32_t id) { return parties_[params_->indexOf(id)]; }
const Server::Party& Server::party(std::uint32_t id) const { return parties_[params_->indexOf(id)]; }

void Server::requireStage(Stage expected, const char* call) const {
  FEDTL_ENFORCE(stage_ == expected, UsageError, "SecAgg server: ", call, " called in stage ", stageName(stage_),
                ", expected ", stageName(expected));
}

void Server::reject(std::uint32_t participant, RejectionReason reason, std::string detail) {
  rejections_.push_back(Rejection{participant, stage_, reason, std::move(detail)});
}

Stage Server::abortRound(AbortReason reason, std::string detail) {
  abort_ = Abort{reason, std::move(detail)};
  stage_ = Stage::kAborted;
  maskedSum_.clear();
  for (Party& p : parties_) {
    p.inbox.clear();
    p.revealedSelfMask.clear();
    p.revealedMaskKey.clear();
  }
  return stage_;
}

bool Server::admit(std::uint32_t from, Stage expected, bool Party::*expectedIn, bool Party::*answered) {
  if (!params_->isSelected(from)) {
    reject(from, RejectionReason::kNotSelected, "message from a participant not selected for this round");
    return false;
  }
  if (stage_ != expected) {
    reject(from, RejectionReason::kWrongStage,
           detail::concat(stageName(expected), " message arrived in stage ", stageName(stage_)));
    return false;
  }
  Party& p = party(from);
  if (expectedIn && !(p.*expectedIn)) {
    reject(from, RejectionReason::kWrongStage, detail::concat("not asked for a ", stageName(expected), " message"));
    return false;
  }
  if (p.*answered) {
    reject(from, RejectionReason::kDuplicate, detail::concat("second ", stageName(expected), " message ignored"));
    return false;
  }
  p.*answered = true;
  return true;
}

std::size_t Server::count(bool Party::*set) const {
  return static_cast<std::size_t>(
      std::count_if(parties_.begin(), parties_.end(), [&](const Party& p) { return p.*set; }));
}

std::vector<std::uint32_t> Server::members(bool Party::*set) const {
  std::vector<std::uint32_t> ids;
  for (const Party& p : parties_)
    if (p.*set) ids.push_back(p.id);
  return ids;
}

void Server::pruneThinNeighbourhoods(bool Party::*set) {
  const std::uint32_t t = params_->threshold();
  // live[i]: how many of i's neighbours are in the set; a member needs t - 1 of them.
  std::vector<std::uint32_t> live(parties_.size(), 0);
  std::deque<std::size_t> thin;
  for (std::size_t i = 0; i < parties_.size(); ++i) {
    if (!(parties_[i].*set)) continue;
    for (std::uint32_t nb : params_->neighboursOf(parties_[i].id)) live[i] += party(nb).*set ? 1 : 0;
    if (live[i] + 1 < t) thin.push_back(i);
  }
  while (!thin.empty()) {
    const std::size_t i = thin.front();
    thin.pop_front();
    Party& p = parties_[i];
    if (!(p.*set)) continue;
    p.*set = false;
    reject(
        p.id, RejectionReason::kTooFewNeighbours,
        detail::concat("left out: only ", live[i], " of its neighbours remain, its shares need t = ", t, " holders"));
    for (std::uint32_t nb : params_->neighboursOf(p.id)) {
      const std::size_t j = params_->indexOf(nb);
      if (!(parties_[j].*set)) continue;
      if (--live[j] + 1 < t) thin.push_back(j);
    }
  }
}

std::vector<std::uint32_t> Server::recipients() const {
  switch (stage_) {
    case Stage::kAdvertiseKeys:
      return params_->participants();
    case Stage::kShareKeys:
      return members(&Party::accepted);
    case Stage::kMaskedInput:
      return members(&Party::shared);
    case Stage::kConsistencyCheck:
      return members(&Party::contributed);
    case Stage::kUnmask:
      return members(unmaskedBy());
    case Stage::kDone:
    case Stage::kAborted:
      break;
  }
  return {};
}

Stage Server::closeStage() {
  switch (stage_) {
    case Stage::kAdvertiseKeys:
      return closeAdvertiseKeys();
    case Stage::kShareKeys:
      return closeShareKeys();
    case Stage::kMaskedInput:
      return abortRound(AbortReason::kTooFewParticipants, "the MaskedInput stage closed without a masked sum");
    case Stage::kConsistencyCheck:
      return closeConsistencyCheck();
    case Stage::kUnmask:
      return closeUnmask();
    case Stage::kDone:
    case Stage::kAborted:
      break;
  }
  return stage_;
}

// ---- AdvertiseKeys ----

void Server::receiveAdvertisement(std::uint32_t from, const KeyAdvertisement& advertisement) {
  if (!admit(from, Stage::kAdvertiseKeys, nullptr, &Party::advertised)) return;
  try {
    validate(advertisement, *params_);
  } catch (const protocols::DecodeError& e) {
    return reject(from, RejectionReason::kMalformed, e.what());
  }
  if (advertisement.participant != from)
    return reject(from, RejectionReason::kMalformed,
                  detail::concat("advertisement names participant ", advertisement.participant));
  const auto identity = identities_->find(from);
  if (identity == identities_->end())
    return reject(from, RejectionReason::kUnknownIdentity, "no identity key on the allow-list");
  if (!advertisementSignatureValid(advertisement, identity->second))
    return reject(from, RejectionReason::kBadSignature, "advertisement signature does not verify");
  if (crypto::isSmallOrderX25519PublicKey(advertisement.encryptionKey) ||
      crypto::isSmallOrderX25519PublicKey(advertisement.maskingKey))
    return reject(from, RejectionReason::kSmallOrderKey, "advertisement carries a small-order X25519 key");
  Party& p = party(from);
  p.advertisement = advertisement;
  p.accepted = true;
}

Stage Server::closeAdvertiseKeys() {
  const std::uint32_t t = params_->threshold();
  std::size_t accepted = count(&Party::accepted);
  if (accepted >= t) {
    pruneThinNeighbourhoods(&Party::accepted);
    accepted = count(&Party::accepted);
  }
  if (accepted < t)
    return abortRound(AbortReason::kTooFewParticipants,
                      detail::concat("only ", accepted, " of ", parties_.size(),
                                     " participants advertised valid keys with enough neighbours; t = ", t));
  accepted_ = members(&Party::accepted);
  acceptedDigests_.clear();
  for (std::uint32_t id : accepted_) acceptedDigests_.push_back(advertisementDigest(party(id).advertisement));
  session_ = secagg::sessionId(params_->round(), accepted_, acceptedDigests_);
  stage_ = Stage::kShareKeys;
  return stage_;
}

// ---- ShareKeys ----

ShareKeysRequest Server::shareKeysRequest(std::uint32_t recipient) const {
  requireStage(Stage::kShareKeys, "shareKeysRequest");
  FEDTL_ENFORCE(party(recipient).accepted, UsageError, "participant ", recipient,
                " is not in the ShareKeys stage (its advertisement was not accepted)");
  ShareKeysRequest request;
  request.accepted = accepted_;
  request.digests = acceptedDigests_;
  for (std::uint32_t nb : params_->neighboursOf(recipient))
    if (party(nb).accepted) request.neighbourAdvertisements.push_back(party(nb).advertisement);
  return request;
}

void Server::receiveShares(std::uint32_t from, const ShareKeysResponse& response) {
  if (!admit(from, Stage::kShareKeys, &Party::accepted, &Party::answeredShares)) return;
  try {
    validate(response, *params_, from);
  } catch (const protocols::DecodeError& e) {
    return reject(from, RejectionReason::kMalformed, e.what());
  }
  // Exactly one sealed share per accepted neighbour (both lists ascending).
  std::vector<std::uint32_t> expected;
  for (std::uint32_t nb : params_->neighboursOf(from))
    if (party(nb).accepted) expected.push_back(nb);
  const bool complete = std::equal(expected.begin(), expected.end(), response.shares.begin(), response.shares.end(),
                                   [](std::uint32_t id, const EncryptedShare& s) { return s.recipient == id; });
  if (!complete)
    return reject(from, RejectionReason::kMalformed,
                  detail::concat("sent ", response.shares.size(), " sealed shares for its ", expected.size(),
                                 " accepted neighbours"));
  for (const EncryptedShare& share : response.shares) party(share.recipient).inbox.push_back(share);
  party(from).shared = true;
}

Stage Server::closeShareKeys() {
  const std::uint32_t t = params_->threshold();
  std::size_t shared = count(&Party::shared);
  if (shared >= t) {
    // Dropping a participant here loses a holder of its neighbours' shares: prune again.
    pruneThinNeighbourhoods(&Party::shared);
    shared = count(&Party::shared);
  }
  if (shared < t)
    return abortRound(AbortReason::kTooFewParticipants,
                      detail::concat("only ", shared, " participants shared their keys; t = ", t));
  for (Party& p : parties_) {
    if (!p.shared) {
      p.inbox.clear();
      continue;
    }
    // Only shares from participants still in the round are delivered: their senders are the
    // neighbours the recipient masks with.
    p.inbox.erase(std::remove_if(p.inbox.begin(), p.inbox.end(),
                                 [&](const EncryptedShare& s) { return !party(s.sender).shared; }),
                  p.inbox.end());
    std::sort(p.inbox.begin(), p.inbox.end(),
              [](const EncryptedShare& a, const EncryptedShare& b) { return a.sender < b.sender; });
  }
  stage_ = Stage::kMaskedInput;
  return stage_;
}

// ---- MaskedInput ----

MaskedInputRequest Server::maskedInputRequest(std::uint32_t recipient) const {
  requireStage(Stage::kMaskedInput, "maskedInputRequest");
  const Party& p = party(recipient);
  FEDTL_ENFORCE(p.shared, UsageError, "participant ", recipient,
                " is not in the MaskedInput stage (it did not share its keys)");
  return MaskedInputRequest{p.inbox};
}

Stage Server::setMaskedSum(std::vector<Ring> sum, std::vector<std::uint32_t> contributors) {
  requireStage(Stage::kMaskedInput, "setMaskedSum");
  FEDTL_ENFORCE(sum.size() == params_->maskedLength(), UsageError, "masked sum holds ", sum.size(),
                " ring elements, expected ", params_->maskedLength());
  std::sort(contributors.begin(), contributors.end());
  FEDTL_ENFORCE(std::adjacent_find(contributors.begin(), contributors.end()) == contributors.end(), UsageError,
                "a contributor is named twice in the masked sum");
  for (std::uint32_t id : contributors)
    FEDTL_ENFORCE(params_->isSelected(id) && party(id).shared, UsageError, "participant ", id,
                  " is in the masked sum but was not asked for a masked input");
  for (std::uint32_t id : contributors) party(id).contributed = true;
  maskedSum_ = std::move(sum);

  const std::uint32_t t = params_->threshold();
  if (contributors.size() < t)
    return abortRound(AbortReason::kTooFewParticipants,
                      detail::concat("only ", contributors.size(), " masked inputs arrived; t = ", t));
  // Every mask left in the sum must be removable: t shares of each contributor's b among its
  // contributing neighbourhood, t shares of each dropped participant's s_sk among its
  // contributing neighbours (only if one of them masked with it).
  for (const Party& p : parties_) {
    if (!p.shared) continue;
    std::uint32_t holders = p.contributed ? 1 : 0;
    for (std::uint32_t nb : params_->neighboursOf(p.id)) holders += party(nb).contributed ? 1 : 0;
    const bool needed = p.contributed || holders > 0;
    if (needed && holders < t)
      return abortRound(
          AbortReason::kTooFewNeighbours,
          detail::concat("only ", holders, " contributors hold shares of ",
                         p.contributed ? "contributor " : "dropped participant ", p.id, "'s secret; t = ", t));
  }
  if (params_->consistencyCheck()) {
    contributors_ = members(&Party::contributed);
    statement_ = consistencyStatement(session_, params_->round(), contributors_);
    stage_ = Stage::kConsistencyCheck;
    return stage_;
  }
  stage_ = Stage::kUnmask;
  return stage_;
}

// ---- ConsistencyCheck (hardened mode) ----

bool Server::Party::*Server::unmaskedBy() const {
  return params_->consistencyCheck() ? &Party::signedView : &Party::contributed;
}

ConsistencyCheckRequest Server::consistencyCheckRequest(std::uint32_t recipient) const {
  requireStage(Stage::kConsistencyCheck, "consistencyCheckRequest");
  FEDTL_ENFORCE(party(recipient).contributed, UsageError, "participant ", recipient,
                " is not in the ConsistencyCheck stage (its masked input is not in the sum)");
  return ConsistencyCheckRequest{contributors_};
}

void Server::receiveConsistencyResponse(std::uint32_t from, const ConsistencyCheckResponse& response) {
  if (!admit(from, Stage::kConsistencyCheck, &Party::contributed, &Party::answeredConsistency)) return;
  const auto identity = identities_->find(from);
  if (identity == identities_->end())
    return reject(from, RejectionReason::kUnknownIdentity, "no identity key on the allow-list");
  if (!crypto::ed25519Verify(identity->second, statement_, response.signature))
    return reject(from, RejectionReason::kBadSignature,
                  "contributor-set signature does not verify (another set, session or key)");
  Party& p = party(from);
  p.viewSignature = response.signature;
  p.signedView = true;
}

Stage Server::closeConsistencyCheck() {
  const std::uint32_t t = params_->threshold();
  const std::size_t signers = count(&Party::signedView);
  if (signers < t)
    return abortRound(AbortReason::kTooFewParticipants,
                      detail::concat("only ", signers, " contributors signed the contributor set; t = ", t));
  // The holders of a secret reveal their shares only with t signatures on U3 from its owner's
  // neighbourhood, and only signers are asked: check now what Unmask will need.
  for (const Party& p : parties_) {
    if (!p.shared) continue;
    std::uint32_t contributing = 0, vouching = p.signedView ? 1 : 0;
    for (std::uint32_t nb : params_->neighboursOf(p.id)) {
      contributing += party(nb).contributed ? 1 : 0;
      vouching += party(nb).signedView ? 1 : 0;
    }
    const bool needed = p.contributed || contributing > 0;
    if (needed && vouching < t)
      return abortRound(
          AbortReason::kTooFewSignatures,
          detail::concat("only ", vouching, " of ", p.contributed ? "contributor " : "dropped participant ", p.id,
                         "'s neighbourhood signed the contributor set; t = ", t));
  }
  stage_ = Stage::kUnmask;
  return stage_;
}

// ---- Unmask ----

UnmaskRequest Server::unmaskRequest(std::uint32_t recipient) const {
  requireStage(Stage::kUnmask, "unmaskRequest");
  FEDTL_ENFORCE(party(recipient).*unmaskedBy(), UsageError, "participant ", recipient,
                params_->consistencyCheck() ? " is not in the Unmask stage (it did not sign the contributor set)"
                                            : " is not in the Unmask stage (its masked input is not in the sum)");
  UnmaskRequest request;
  request.alive.push_back(recipient);
  for (std::uint32_t nb : params_->neighboursOf(recipient)) {
    const Party& p = party(nb);
    if (p.contributed)
      request.alive.push_back(nb);
    else if (p.shared)
      request.dropped.push_back(nb);
  }
  std::sort(request.alive.begin(), request.alive.end());
  if (!params_->consistencyCheck()) return request;

  // The signatures the recipient checks: those of the signers in the neighbourhood of each
  // participant it classifies (everyone's, on the complete graph).
  std::vector<std::uint32_t> signers;
  if (params_->isCompleteGraph()) {
    signers = members(&Party::signedView);
  } else {
    for (const auto* set : {&request.alive, &request.dropped})
      for (std::uint32_t owner : *set) {
        if (party(owner).signedView) signers.push_back(owner);
        for (std::uint32_t nb : params_->neighboursOf(owner))
          if (party(nb).signedView) signers.push_back(nb);
      }
    std::sort(signers.begin(), signers.end());
    signers.erase(std::unique(signers.begin(), signers.end()), signers.end());
  }
  request.signatures.reserve(signers.size());
  for (std::uint32_t signer : signers) request.signatures.push_back({signer, party(signer).viewSignature});
  return request;
}

void Server::receiveUnmaskResponse(std::uint32_t from, const UnmaskResponse& response) {
  if (!admit(from, Stage::kUnmask, unmaskedBy(), &Party::answeredUnmask)) return;
  try {
    validate(response, *params_, from);
  } catch (const protocols::DecodeError& e) {
    return reject(from, RejectionReason::kMalformed, e.what());
  }
  // b only of contributors, s_sk only of dropped participants: never both of anyone.
  for (const RevealedShare& share : response.selfMaskShares)
    if (!party(share.owner).contributed)
      return reject(from, RejectionReason::kMalformed,
                    detail::concat("revealed a self-mask share of ", share.owner, ", which did not contribute"));
  for (const RevealedShare& share : response.maskKeyShares) {
    const Party& owner = party(share.owner);
    if (owner.contributed || !owner.shared)
      return reject(from, RejectionReason::kMalformed,
                    detail::concat("revealed a mask-key share of ", share.owner, ", which is not a dropped neighbour"));
  }
  for (std::uint32_t sender : response.unreadableShareSenders)
    reject(sender, RejectionReason::kShareUnreadable,
           detail::concat("participant ", from, " could not authenticate the shares sealed by ", sender));
  Party& p = party(from);
  p.revealedSelfMask = response.selfMaskShares;
  p.revealedMaskKey = response.maskKeyShares;
}

Stage Server::closeUnmask() {
  const std::uint32_t t = params_->threshold();
  const std::uint64_t round = params_->round();
  // Shares by owner, x = the revealer's id.
  std::vector<std::vector<crypto::shamir::Share>> selfMaskShares(parties_.size()), maskKeyShares(parties_.size());
  auto collect = [&](std::vector<std::vector<crypto::shamir::Share>>& into, std::uint32_t revealer,
                     const RevealedShare& revealed) {
    crypto::shamir::Share share;
    share.x = revealer;
    share.threshold = t;
    share.secretSize = kSecretSize;
    share.y.assign(revealed.values.begin(), revealed.values.end());
    into[params_->indexOf(revealed.owner)].push_back(std::move(share));
  };
  for (const Party& p : parties_) {
    for (const RevealedShare& s : p.revealedSelfMask) collect(selfMaskShares, p.id, s);
    for (const RevealedShare& s : p.revealedMaskKey) collect(maskKeyShares, p.id, s);
  }

  // Reconstruct and check every secret before any of them touches the sum.
  std::vector<crypto::SecretBytes> selfSeeds;
  struct DroppedKey {
    std::size_t index;
    crypto::SecretBytes privateKey;
  };
  std::vector<DroppedKey> droppedKeys;
  for (std::size_t i = 0; i < parties_.size(); ++i) {
    const Party& p = parties_[i];
    const bool dropped = p.shared && !p.contributed;
    if (!p.contributed && !dropped) continue;
    if (dropped) {
      const auto& nbs = params_->neighboursOf(p.id);
      if (std::none_of(nbs.begin(), nbs.end(), [&](std::uint32_t nb) { return party(nb).contributed; })) continue;
    }
    const auto& shares = p.contributed ? selfMaskShares[i] : maskKeyShares[i];
    const char* what = p.contributed ? "self-mask seed" : "mask key";
    if (shares.size() < t)
      return abortRound(AbortReason::kTooFewShares,
                        detail::concat("participant ", p.id, "'s ", what, " has ", shares.size(),
                                       " readable shares from survivors; t = ", t));
    crypto::SecretBytes secret;
    try {
      secret = crypto::shamir::reconstruct(shares);
    } catch (const CryptoError& e) {
      return abortRound(AbortReason::kShareReconstructionFailed,
                        detail::concat("participant ", p.id, "'s ", what, ": ", e.what()));
    }
    if (p.contributed) {
      if (selfMaskCommitment(round, p.id, secret) != p.advertisement.selfMaskCommitment)
        return abortRound(AbortReason::kCommitmentMismatch,
                          detail::concat("the reconstructed self-mask seed of ", p.id,
                                         " does not match its advertised commitment (altered shares)"));
      selfSeeds.push_back(selfMaskSeed(secret, session_, round, p.id));
    } else {
      if (crypto::x25519KeyPairFromPrivate(secret).publicKey != p.advertisement.maskingKey)
        return abortRound(AbortReason::kKeyMismatch,
                          detail::concat("the reconstructed mask key of ", p.id,
                                         " does not match its advertised public key (altered shares)"));
      droppedKeys.push_back(DroppedKey{i, std::move(secret)});
    }
  }

  Span<Ring> values(maskedSum_);
  for (const crypto::SecretBytes& seed : selfSeeds) crypto::subtractMask(values, seed);
  for (const DroppedKey& dropped : droppedKeys) {
    const Party& gone = parties_[dropped.index];
    for (std::uint32_t nb : params_->neighboursOf(gone.id)) {
      const Party& contributor = party(nb);
      if (!contributor.contributed) continue;
      const crypto::SecretBytes seed =
          pairwiseMaskSeed(dropped.privateKey, contributor.advertisement.maskingKey, session_, round, gone.id, nb);
      // The contributor added the mask towards `gone` (nb < gone) or subtracted it: undo that.
      if (nb < gone.id)
        crypto::subtractMask(values, seed);
      else
        crypto::addMask(values, seed);
    }
  }

  AggregateResult result;
  result.weightSum = maskedSum_.back();
  maskedSum_.pop_back();
  result.sum = std::move(maskedSum_);
  result.contributors = members(&Party::contributed);
  result_ = std::move(result);
  stage_ = Stage::kDone;
  return stage_;
}

const AggregateResult& Server::result() const {
  FEDTL_ENFORCE(stage_ == Stage::kDone && result_, UsageError, "SecAgg server: no result in stage ", stageName(stage_),
                abort_ ? detail::concat(" (", abortReasonName(abort_->reason), ": ", abort_->detail, ")") : "");
  return *result_;
}

// ---- MaskedSumAccumulator ----

MaskedSumAccumulator::MaskedSumAccumulator(const RoundParameters& params)
    : params_(params), sum_(params.maskedLength(), 0) {}

void MaskedSumAccumulator::add(std::uint32_t from, Span<const Ring> masked) {
  FEDTL_ENFORCE(masked.size() == params_.maskedLength(), protocols::DecodeError, "masked input from ", from, " holds ",
                masked.size(), " ring elements, expected ", params_.maskedLength());
  FEDTL_ENFORCE(params_.isSelected(from), protocols::DecodeError, "masked input from ", from,
                ", not selected for this round");
  const auto at = std::lower_bound(contributors_.begin(), contributors_.end(), from);
  FEDTL_ENFORCE(at == contributors_.end() || *at != from, protocols::DecodeError, "second masked input from ", from);
  contributors_.insert(at, from);
  for (std::size_t i = 0; i < sum_.size(); ++i) sum_[i] += masked[i];  // wraps mod 2^32 by design
}

Stage MaskedSumAccumulator::submitTo(Server& server) && {
  std::vector<Ring> sum = std::move(sum_);
  std::vector<std::uint32_t> contributors = std::move(contributors_);
  sum_.clear();
  contributors_.clear();
  return server.setMaskedSum(std::move(sum), std::move(contributors));
}

}  // namespace fedtl::secagg
