// A participant's side of the round protocol, over a transport Link and torch-free: the
// training itself is behind LocalTrainer. The session says hello (with the digest of the
// backbone it has cached and its Ed25519 identity key), takes the backbone if the coordinator
// sends one (refusing bytes whose SHA-256 differs from the announced digest), then answers
// round starts and evaluation requests with metrics until the coordinator says goodbye. While
// it hears nothing it says hello again now and then, so a restarted coordinator finds it.
//
// A round start decides how the update travels. Plaintext: announced first, uploaded when the
// coordinator grants it. Secure aggregation (the round start carries a SecAgg setup): the
// session runs one secagg::Client for the attempt — key advertisement once trained, shares,
// the masked update when asked, the unmasking shares — and drops the attempt, logged, on any
// abort or out-of-order message; the next round start begins afresh.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/transport/transport.h"
#include "protocols/frame.h"
#include "protocols/messages.h"

namespace fedtl::participant {

class LocalTrainer {
 public:
  virtual ~LocalTrainer() = default;
  virtual std::uint64_t trainSamples() const = 0;
  // Digest of the backbone already held (from a cache), or empty.
  virtual std::string cachedBackbone() const = 0;
  // Takes a verified backbone checkpoint.
  virtual void setBackbone(const std::string& digest, const std::string& checkpoint) = 0;
  // BatchNorm statistics of the backbone on the local training data (federated AdaBN), or
  // empty when the backbone has none.
  virtual std::vector<float> batchNormStatistics() = 0;
  // Local training from the round's global parameters; returns the update (delta).
  virtual protocols::Update train(const protocols::RoundStart& start) = 0;
  virtual protocols::EvalResult evaluate(const std::vector<float>& parameters) = 0;
};

struct SessionOptions {
  transport::Millis helloInterval{10000};    // silence after which hello is said again
  transport::Millis announceInterval{3000};  // silence after which a kept update is announced again
  transport::Millis sendTimeout{5000};
  protocols::FrameLimits limits;
  // The coordinator's pinned Ed25519 key: when set, a backbone, round start or evaluation
  // request that it did not sign is refused.
  std::optional<crypto::Ed25519PublicKey> coordinatorKey;
  // This participant's Ed25519 identity (the raw 32-byte seed of --identity): it signs the
  // SecAgg key advertisements. Unset, the session makes an ephemeral pair when it is created.
  std::shared_ptr<const crypto::SecretBytes> identityKey;
  // TEST ONLY, never in production: SecAgg's stochastic rounding draws from a seed derived from
  // this value and the round instead of a fresh secure one, so runs over different transports
  // can be compared bit for bit. Predictable rounding leaks information about the update.
  std::optional<std::uint64_t> deterministicRoundingSeed;
  // Take part in secure aggregation only in hardened mode (with the ConsistencyCheck stage):
  // otherwise a malicious coordinator can unmask this participant's update on its own.
  bool requireConsistencyCheck = true;
};

struct SessionReport {
  std::int64_t roundsTrained = 0;
  std::int64_t evaluations = 0;
  std::string endReason;  // the coordinator's goodbye, or "stopped"
};

class ParticipantSession {
 public:
  ParticipantSession(transport::Link& link, LocalTrainer& trainer, SessionOptions options = {});
  ~ParticipantSession();
  // Runs until the coordinator says goodbye or stop() returns true (checked between waits).
  SessionReport run(const std::function<bool()>& stop);

  const crypto::Ed25519PublicKey& identityKey() const { return identity_.publicKey; }

 private:
  struct SecureAttempt;

  void sayHello();
  void announceUpdate();
  // Throws DecodeError unless the pinned coordinator key (if any) signed `statement`.
  void checkSigned(const std::vector<std::uint8_t>& statement, const std::string& signature, const char* what) const;
  void handle(std::string_view frame, SessionReport& report);
  void onRoundStart(const protocols::FrameHeader& header, std::string_view payload, SessionReport& report);
  // Trains, or reuses the update trained for the same round and inputs (a retried attempt).
  const protocols::Update& trainOnce(std::uint64_t round, const protocols::RoundStart& start, SessionReport& report);
  // Joins the SecAgg session `setup` describes with the update `produce` gives (trained once
  // per round start, or the BatchNorm statistics of a secure statistics request).
  void startSecureAttempt(std::uint64_t round, const protocols::SecAggSetup& setup,
                          const std::function<const protocols::Update&()>& produce);
  // The SecAgg request of the frame, to answer; nothing when it is for no attempt in progress.
  template <class Request>
  std::optional<Request> secureRequest(const protocols::FrameHeader& header, std::string_view payload);
  // Answers a SecAgg request whose client step is `step(client, body)` (an Outcome): refused
  // out of `stage`, the attempt dropped on an abort, else the Response sent. True when sent.
  template <class Request, class Response, class Step>
  bool answerSecure(const protocols::FrameHeader& header, std::string_view payload, secagg::Stage stage,
                    const char* what, Step step);
  void onMaskedInputRequest(const protocols::FrameHeader& header, std::string_view payload);
  void onUnmaskRequest(const protocols::FrameHeader& header, std::string_view payload);
  void sendSecure(const std::string& frame);
  void dropSecureAttempt(const std::string& why);

  transport::Link& link_;
  LocalTrainer& trainer_;
  SessionOptions options_;
  crypto::Ed25519KeyPair identity_;
  std::uint32_t id_ = 0;
  std::unique_ptr<SecureAttempt> secure_;
  // The update of the last secure round trained, by a digest of its round and inputs: a
  // retried attempt (fresh session, same round start otherwise) masks it again, untrained.
  std::string trainedDigest_;
  protocols::Update trained_;
  // The last round start answered (its round and payload digest) and the answer, re-sent when
  // exactly that round start comes again (a retry) instead of training twice.
  std::uint64_t lastRound_ = 0;
  std::string lastStartDigest_;
  std::string lastUpdate_;
  bool uploadPending_ = false;
  std::chrono::steady_clock::time_point lastHello_{};  // announced; the coordinator has not moved past the round yet
  std::string expectedBackbone_;
  bool haveBackbone_ = false;
  bool finished_ = false;
  std::string endReason_;
};

}  // namespace fedtl::participant
