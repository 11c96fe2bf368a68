#include "protocols/secagg/messages.h"

#include <algorithm>

#include "common/crypto/shamir.h"

namespace fedtl::secagg {
namespace {

using protocols::DecodeError;

template <typename T, typename Key>
void requireStrictlyAscending(const std::vector<T>& items, Key key, const char* what) {
  for (std::size_t i = 1; i < items.size(); ++i)
    FEDTL_ENFORCE(key(items[i - 1]) < key(items[i]), DecodeError, what, " must be strictly ascending by id");
}
const auto kIdentity = [](std::uint32_t id) { return id; };

void requireAtMost(std::size_t size, std::size_t bound, const char* what) {
  FEDTL_ENFORCE(size <= bound, DecodeError, what, " holds ", size, " entries, at most ", bound, " allowed");
}

void requireNeighbour(const RoundParameters& params, std::uint32_t self, std::uint32_t other, const char* what) {
  FEDTL_ENFORCE(params.areNeighbours(self, other), DecodeError, what, " names participant ", other,
                ", not a neighbour of ", self, " in SecAgg round ", params.round());
}

void requireInNeighbourhood(const RoundParameters& params, std::uint32_t self, std::uint32_t other, const char* what) {
  if (other != self) requireNeighbour(params, self, other, what);
}

void requireSelected(const RoundParameters& params, std::uint32_t id, const char* what) {
  FEDTL_ENFORCE(params.isSelected(id), DecodeError, what, " names participant ", id, ", not selected for SecAgg round ",
                params.round());
}

void validateRevealed(const std::vector<RevealedShare>& shares, const RoundParameters& params, std::uint32_t sender,
                      bool selfAllowed, const char* what) {
  requireAtMost(shares.size(), params.neighbourhoodSize(), what);
  requireStrictlyAscending(
      shares, [](const RevealedShare& s) { return s.owner; }, what);
  for (const RevealedShare& share : shares) {
    FEDTL_ENFORCE(selfAllowed || share.owner != sender, DecodeError, what, " from ", sender,
                  " reveals a share of its own key");
    requireInNeighbourhood(params, sender, share.owner, what);
    for (std::uint64_t v : share.values)
      FEDTL_ENFORCE(v < crypto::shamir::kPrime, DecodeError, what, " holds a value outside the Shamir field");
  }
}

}  // namespace

void validate(const KeyAdvertisement& m, const RoundParameters& params) {
  FEDTL_ENFORCE(m.round == params.round(), DecodeError, "key advertisement for round ", m.round, " received in round ",
                params.round());
  requireSelected(params, m.participant, "key advertisement");
}

void validate(const ShareKeysRequest& m, const RoundParameters& params, std::uint32_t recipient) {
  requireAtMost(m.accepted.size(), params.size(), "accepted roster");
  requireStrictlyAscending(m.accepted, kIdentity, "accepted roster");
  for (std::uint32_t id : m.accepted) requireSelected(params, id, "accepted roster");
  FEDTL_ENFORCE(m.digests.size() == m.accepted.size(), DecodeError, "accepted roster has ", m.accepted.size(),
                " ids but ", m.digests.size(), " advertisement digests");
  requireAtMost(m.neighbourAdvertisements.size(), params.neighbourhoodSize() - 1, "neighbour advertisements");
  requireStrictlyAscending(
      m.neighbourAdvertisements, [](const KeyAdvertisement& a) { return a.participant; }, "neighbour advertisements");
  for (const KeyAdvertisement& ad : m.neighbourAdvertisements) {
    validate(ad, params);
    requireNeighbour(params, recipient, ad.participant, "neighbour advertisements");
  }
}

void validate(const ShareKeysResponse& m, const RoundParameters& params, std::uint32_t sender) {
  requireAtMost(m.shares.size(), params.neighbourhoodSize() - 1, "share keys response");
  requireStrictlyAscending(
      m.shares, [](const EncryptedShare& s) { return s.recipient; }, "share keys response");
  for (const EncryptedShare& share : m.shares) {
    FEDTL_ENFORCE(share.sender == sender, DecodeError, "share keys response from ", sender, " holds a share sent by ",
                  share.sender);
    requireNeighbour(params, sender, share.recipient, "share keys response");
  }
}

void validate(const MaskedInputRequest& m, const RoundParameters& params, std::uint32_t recipient) {
  requireAtMost(m.shares.size(), params.neighbourhoodSize() - 1, "masked input request");
  requireStrictlyAscending(
      m.shares, [](const EncryptedShare& s) { return s.sender; }, "masked input request");
  for (const EncryptedShare& share : m.shares) {
    FEDTL_ENFORCE(share.recipient == recipient, DecodeError, "masked input request for ", recipient,
                  " holds a share addressed to ", share.recipient);
    requireNeighbour(params, recipient, share.sender, "masked input request");
  }
}

void validate(const MaskedInput& m, const RoundParameters& params) {
  FEDTL_ENFORCE(m.masked.size() == params.maskedLength(), DecodeError, "masked input holds ", m.masked.size(),
                " ring elements, expected ", params.maskedLength(), " (d = ", params.dimension(), " plus the weight)");
}

void validate(const ConsistencyCheckRequest& m, const RoundParameters& params) {
  requireAtMost(m.contributors.size(), params.size(), "consistency check's contributor set");
  requireStrictlyAscending(m.contributors, kIdentity, "consistency check's contributor set");
  for (std::uint32_t id : m.contributors) requireSelected(params, id, "consistency check's contributor set");
}

void validate(const UnmaskRequest& m, const RoundParameters& params, std::uint32_t recipient) {
  requireAtMost(m.alive.size(), params.neighbourhoodSize(), "unmask request's alive set");
  requireAtMost(m.dropped.size(), params.neighbourhoodSize() - 1, "unmask request's dropped set");
  requireStrictlyAscending(m.alive, kIdentity, "unmask request's alive set");
  requireStrictlyAscending(m.dropped, kIdentity, "unmask request's dropped set");
  for (std::uint32_t id : m.alive) requireInNeighbourhood(params, recipient, id, "unmask request's alive set");
  for (std::uint32_t id : m.dropped) requireInNeighbourhood(params, recipient, id, "unmask request's dropped set");
  FEDTL_ENFORCE(params.consistencyCheck() || m.signatures.empty(), DecodeError,
                "unmask request carries contributor-set signatures in a round without ConsistencyCheck");
  requireAtMost(m.signatures.size(), params.twoHopNeighbourhoodSize(), "unmask request's signatures");
  requireStrictlyAscending(
      m.signatures, [](const ContributorSignature& s) { return s.signer; }, "unmask request's signatures");
  for (const ContributorSignature& s : m.signatures)
    FEDTL_ENFORCE(params.withinTwoHops(recipient, s.signer), DecodeError,
                  "unmask request's signatures name participant ", s.signer, ", not within two hops of ", recipient,
                  " in SecAgg round ", params.round());
}

void validate(const UnmaskResponse& m, const RoundParameters& params, std::uint32_t sender) {
  validateRevealed(m.selfMaskShares, params, sender, true, "self-mask shares");
  validateRevealed(m.maskKeyShares, params, sender, false, "mask-key shares");
  requireAtMost(m.unreadableShareSenders.size(), params.neighbourhoodSize() - 1, "unreadable share senders");
  requireStrictlyAscending(m.unreadableShareSenders, kIdentity, "unreadable share senders");
  for (std::uint32_t id : m.unreadableShareSenders) requireNeighbour(params, sender, id, "unreadable share senders");
}

}  // namespace fedtl::secagg
