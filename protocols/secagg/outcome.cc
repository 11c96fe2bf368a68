#include "protocols/secagg/outcome.h"

namespace fedtl::secagg {

const char* stageName(Stage stage) {
  switch (stage) {
    case Stage::kAdvertiseKeys:
      return "AdvertiseKeys";
    case Stage::kShareKeys:
      return "ShareKeys";
    case Stage::kMaskedInput:
      return "MaskedInput";
    case Stage::kConsistencyCheck:
      return "ConsistencyCheck";
    case Stage::kUnmask:
      return "Unmask";
    case Stage::kDone:
      return "Done";
    case Stage::kAborted:
      return "Aborted";
  }
  return "unknown";
}

const char* abortReasonName(AbortReason reason) {
  switch (reason) {
    case AbortReason::kTooFewParticipants:
      return "too few participants";
    case AbortReason::kTooFewNeighbours:
      return "too few neighbours";
    case AbortReason::kTooFewShares:
      return "too few shares";
    case AbortReason::kShareReconstructionFailed:
      return "share reconstruction failed";
    case AbortReason::kKeyMismatch:
      return "reconstructed key does not match its public key";
    case AbortReason::kCommitmentMismatch:
      return "reconstructed seed does not match its commitment";
    case AbortReason::kInconsistentDropoutSets:
      return "inconsistent dropout sets";
    case AbortReason::kMalformedRequest:
      return "malformed request";
    case AbortReason::kInvalidAdvertisement:
      return "invalid advertisement";
    case AbortReason::kInconsistentView:
      return "inconsistent view of the contributors";
    case AbortReason::kTooFewSignatures:
      return "too few signatures on the contributor set";
  }
  return "unknown";
}

}  // namespace fedtl::secagg
