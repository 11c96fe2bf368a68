// The vocabulary shared by the SecAgg client and server state machines: the stages of a round,
// why a round aborts, and Outcome<T>, the value-or-abort a stage answers with. A peer's
// misbehaviour or too many dropouts end a round with an Abort (an expected event, never an
// exception); driving a state machine out of order is a caller bug and throws UsageError.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>

#include "common/crypto/ed25519.h"
#include "common/error.h"

namespace fedtl::secagg {

using Ring = std::uint32_t;  // masks and sums live in the ring of integers mod 2^32

// A state machine was driven out of order or given inconsistent local input: a bug in the
// caller (the round engine), never something a peer can cause.
class UsageError : public Error {
 public:
  using Error::Error;
};

// The allow-list: every participant's long-term Ed25519 identity key, by participant id.
using IdentityTable = std::map<std::uint32_t, crypto::Ed25519PublicKey>;

enum class Stage : std::uint8_t {
  kAdvertiseKeys,     // each participant publishes two fresh X25519 keys and a commitment, signed
  kShareKeys,         // each participant sends encrypted Shamir shares to its neighbours
  kMaskedInput,       // each participant sends its masked vector (the server only sees the sum)
  kConsistencyCheck,  // hardened mode only: each contributor signs the contributor set U3
  kUnmask,            // survivors reveal the shares that remove the masks left in the sum
  kDone,              // server: the unmasked sum is available; client: nothing more to do
  kAborted,
};
const char* stageName(Stage stage);

enum class AbortReason : std::uint8_t {
  kTooFewParticipants,         // fewer than t participants left in a stage
  kTooFewNeighbours,           // a neighbourhood fell below t live members
  kTooFewShares,               // a secret needed at Unmask has fewer than t readable shares
  kShareReconstructionFailed,  // the shares of a secret do not interpolate to one
  kKeyMismatch,                // a reconstructed mask key does not match its advertised public key
  kCommitmentMismatch,         // a reconstructed self-mask seed does not match its commitment
  kInconsistentDropoutSets,    // client: the alive and dropped sets contradict each other or it
  kMalformedRequest,           // client: the server's request does not decode or names wrong ids
  kInvalidAdvertisement,       // client: the server relayed an altered or badly signed advertisement
  kInconsistentView,           // client, hardened mode: the server's sets or signatures contradict the
                               // contributor set U3 it signed
  kTooFewSignatures,           // hardened mode: fewer than t of a neighbourhood signed U3
};
const char* abortReasonName(AbortReason reason);

struct Abort {
  AbortReason reason;
  std::string detail;  // names the participant(s) and numbers involved
};

// A stage's answer: the message to send on, or why the round is over for this party.
template <typename T>
class Outcome {
 public:
  Outcome(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Outcome(Abort abort) : state_(std::move(abort)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    requireValue();
    return std::get<0>(state_);
  }
  const T& value() const& {
    requireValue();
    return std::get<0>(state_);
  }
  T&& value() && {
    requireValue();
    return std::get<0>(std::move(state_));
  }
  const Abort& abort() const {
    FEDTL_ENFORCE(!ok(), UsageError, "SecAgg outcome holds a value, not an abort");
    return std::get<1>(state_);
  }

 private:
  void requireValue() const {
    if (!ok()) {
      const Abort& a = std::get<1>(state_);
      throw UsageError(detail::concat("SecAgg stage aborted (", abortReasonName(a.reason), "): ", a.detail));
    }
  }
  std::variant<T, Abort> state_;
};

}  // namespace fedtl::secagg
