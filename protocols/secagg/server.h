// The server side of SecAgg / SecAgg+ (protocol summary in protocols/secagg/client.h): a pure
// state machine the round engine feeds with received messages and asks for the messages to
// send. It never sees an individual masked vector: the engine sums them as they arrive
// (MaskedSumAccumulator) or MPI_Reduce does, and hands over the sum and who is in it.
//
//   Server server(params, identities);
//   for each selected id: send the advertise-keys prompt; on arrival receiveAdvertisement(id, ad)
//   at the deadline: closeStage()                          -> kShareKeys (or kAborted)
//   for id in recipients(): send shareKeysRequest(id); on arrival receiveShares(id, response)
//   at the deadline: closeStage()                          -> kMaskedInput
//   for id in recipients(): send maskedInputRequest(id); sum the MaskedInput vectors that arrive
//   at the deadline: setMaskedSum(sum, contributors)       -> kUnmask (kConsistencyCheck, hardened)
//   hardened mode only (RoundParameters::consistencyCheck()):
//     for id in recipients(): send consistencyCheckRequest(id);
//                             on arrival receiveConsistencyResponse(id, response)
//     at the deadline (or once all answered): closeStage()  -> kUnmask
//   for id in recipients(): send unmaskRequest(id); on arrival receiveUnmaskResponse(id, response)
//   at the deadline (or once all answered): closeStage()   -> kDone: result(); or kAborted: abortReason()
//
// A message that arrives in the wrong stage, twice, from someone not expected, malformed, or
// badly signed is not an error: it is recorded in rejections() and its sender leaves the round.
// Too few participants, neighbours or shares, or a reconstructed secret that does not match
// what was advertised, end the round in kAborted with the reason.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto/sha256.h"
#include "common/fixed_point.h"
#include "common/span.h"
#include "protocols/secagg/config.h"
#include "protocols/secagg/messages.h"
#include "protocols/secagg/outcome.h"

namespace fedtl::secagg {

struct AggregateResult {
  std::vector<Ring> sum;                    // d ring elements: the sum of the contributors' updates
  Ring weightSum = 0;                       // the sum of their weights
  std::vector<std::uint32_t> contributors;  // ascending
};

// The aggregate decoded back to floats with the codec the participants encoded with.
std::vector<float> decodeAggregate(const AggregateResult& result, const FixedPointCodec<Ring>& codec);

enum class RejectionReason : std::uint8_t {
  kNotSelected,       // the sender is not a selected participant
  kWrongStage,        // arrived after its stage closed, or from someone not asked in this stage
  kDuplicate,         // a second message for the same stage
  kMalformed,         // does not validate (lengths, ids) or does not fit the sender's neighbourhood
  kUnknownIdentity,   // the sender is not on the allow-list
  kBadSignature,      // the advertisement's (or, hardened, the contributor-set) Ed25519 signature does not verify
  kSmallOrderKey,     // the advertisement carries a small-order X25519 key
  kTooFewNeighbours,  // left out: fewer than t - 1 of its neighbours remain to hold its shares
  kShareUnreadable,   // reported by a neighbour: the participant's sealed shares did not authenticate
};
const char* rejectionReasonName(RejectionReason reason);

struct Rejection {
  std::uint32_t participant = 0;  // whose message or shares
  Stage stage = Stage::kAdvertiseKeys;
  RejectionReason reason = RejectionReason::kMalformed;
  std::string detail;
};

class Server {
 public:
  Server(std::shared_ptr<const RoundParameters> params, std::shared_ptr<const IdentityTable> identities);
  ~Server();
  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;

  Stage stage() const { return stage_; }
  const std::optional<Abort>& abortReason() const { return abort_; }
  const std::vector<Rejection>& rejections() const { return rejections_; }
  const RoundParameters& parameters() const { return *params_; }
  // Who the current stage's request goes to and whose answer counts, ascending: all selected
  // (AdvertiseKeys), the accepted (ShareKeys), those that shared keys (MaskedInput), the
  // contributors (ConsistencyCheck; Unmask in the classic mode), the contributors whose
  // signature on U3 verified (Unmask, hardened); none once the round is over.
  std::vector<std::uint32_t> recipients() const;
  // The session id (valid from ShareKeys on).
  const crypto::Sha256Digest& sessionId() const { return session_; }

  // Ends the current stage (its deadline passed, or everyone answered) and moves to the next
  // one; returns the new stage. In MaskedInput it aborts (no sum was set); use setMaskedSum.
  Stage closeStage();

  void receiveAdvertisement(std::uint32_t from, const KeyAdvertisement& advertisement);
  ShareKeysRequest shareKeysRequest(std::uint32_t recipient) const;
  void receiveShares(std::uint32_t from, const ShareKeysResponse& response);
  MaskedInputRequest maskedInputRequest(std::uint32_t recipient) const;
  // Closes MaskedInput. `sum` is the ring sum of the MaskedInput vectors of `contributors`
  // (d + 1 elements); every contributor must be one of recipients(), each named once
  // (UsageError otherwise). Returns the new stage.
  Stage setMaskedSum(std::vector<Ring> sum, std::vector<std::uint32_t> contributors);
  // Hardened mode: the contributor set U3, the same for every recipient.
  ConsistencyCheckRequest consistencyCheckRequest(std::uint32_t recipient) const;
  // Hardened mode: a contributor's signature on U3. One that does not verify is rejected
  // (kBadSignature) and its sender is not asked to unmask; its input stays in the sum.
  void receiveConsistencyResponse(std::uint32_t from, const ConsistencyCheckResponse& response);
  // In hardened mode it also carries the U3 signatures the recipient checks.
  UnmaskRequest unmaskRequest(std::uint32_t recipient) const;
  void receiveUnmaskResponse(std::uint32_t from, const UnmaskResponse& response);

  // The unmasked sum; UsageError unless stage() is kDone.
  const AggregateResult& result() const;

 private:
  struct Party;

  void requireStage(Stage expected, const char* call) const;
  Party& party(std::uint32_t id);
  const Party& party(std::uint32_t id) const;
  // Whether a message from `from` may be taken in `expected`; records why not otherwise.
  bool admit(std::uint32_t from, Stage expected, bool Party::*expectedIn, bool Party::*answered);
  void reject(std::uint32_t participant, RejectionReason reason, std::string detail);
  Stage abortRound(AbortReason reason, std::string detail);
  // Leaves out members of `set` with fewer than t - 1 neighbours in it, until none is left.
  void pruneThinNeighbourhoods(bool Party::*set);
  std::size_t count(bool Party::*set) const;
  std::vector<std::uint32_t> members(bool Party::*set) const;
  Stage closeAdvertiseKeys();
  Stage closeShareKeys();
  Stage closeConsistencyCheck();
  Stage closeUnmask();
  // Who is asked to unmask: the signers of U3 in hardened mode, else the contributors.
  bool Party::*unmaskedBy() const;

  std::shared_ptr<const RoundParameters> params_;
  std::shared_ptr<const IdentityTable> identities_;
  Stage stage_ = Stage::kAdvertiseKeys;
  std::optional<Abort> abort_;
  std::vector<Rejection> rejections_;
  std::vector<Party> parties_;  // by index in params_->participants()
  crypto::Sha256Digest session_{};
  std::vector<std::uint32_t> accepted_;
  std::vector<crypto::Sha256Digest> acceptedDigests_;
  std::vector<Ring> maskedSum_;
  std::vector<std::uint32_t> contributors_;  // hardened: U3, ascending
  std::vector<std::uint8_t> statement_;      // hardened: what each contributor signs
  std::optional<AggregateResult> result_;
};

// Sums masked inputs as they arrive, so the engine holds one vector however many participants
// contribute. Hand the result to Server::setMaskedSum.
class MaskedSumAccumulator {
 public:
  explicit MaskedSumAccumulator(const RoundParameters& params);
  // Adds one participant's masked vector. Throws protocols::DecodeError (nothing added) for a
  // vector of the wrong length or a participant already added or not selected.
  void add(std::uint32_t from, Span<const Ring> masked);
  void add(std::uint32_t from, const MaskedInput& input) { add(from, input.masked); }
  const std::vector<std::uint32_t>& contributors() const { return contributors_; }
  // Hands over the sum and the contributors; the accumulator is empty afterwards.
  Stage submitTo(Server& server) &&;

 private:
  const RoundParameters& params_;
  std::vector<Ring> sum_;
  std::vector<std::uint32_t> contributors_;
};

}  // namespace fedtl::secagg
