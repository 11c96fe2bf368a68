// The messages of the round protocol: plain structs with a fixed wire type, serialised with
// the wire archive (no type names, no polymorphism). See docs/protocol.md.
#pragma once

#include <cereal/types/array.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/ed25519.h"
#include "protocols/frame.h"
#include "protocols/secagg/messages.h"

namespace fedtl::protocols {

inline constexpr std::size_t kMaxNameLength = 256;

struct Hello {
  static constexpr MessageType kType = MessageType::kHello;
  std::string participantName;   // --id NAME
  std::string cachedBackbone;    // hex SHA-256 of the backbone the participant holds, or empty
  std::uint64_t trainSamples = 0;
  std::string identityKey{};     // Ed25519 public key (32 bytes): signs its SecAgg key advertisements

  template <class A>
  void serialize(A& ar) {
    ar(participantName, cachedBackbone, trainSamples, identityKey);
  }
};

struct Welcome {
  static constexpr MessageType kType = MessageType::kWelcome;
  std::uint32_t participantId = 0;
  std::string backboneDigest;    // what the participant must hold before training
  bool backboneFollows = false;  // a kBackbone frame comes next (cache miss)
  std::string signature;         // the coordinator's Ed25519 signature of backboneStatement, or empty

  template <class A>
  void serialize(A& ar) {
    ar(participantId, backboneDigest, backboneFollows, signature);
  }
};

struct BackboneData {
  static constexpr MessageType kType = MessageType::kBackbone;
  std::string digest;
  std::string checkpoint;  // the checkpoint file's bytes

  template <class A>
  void serialize(A& ar) {
    ar(digest, checkpoint);
  }
};

struct TrainConfig {
  std::string strategy = "linear-probe";
  std::int64_t steps = 0;
  std::int64_t batchSize = 64;
  double learningRate = 0.05;
  double proximalMu = 0.0;     // FedProx: 0 disables
  bool localBatchNorm = false;  // FedBN: BatchNorm parameters stay local and never travel
  std::uint64_t seed = 0;

  template <class A>
  void serialize(A& ar) {
    ar(strategy, steps, batchSize, learningRate, proximalMu, localBatchNorm, seed);
  }
};

// Losses ride through secure aggregation as two more coordinates, each the loss clipped to a
// scale and divided by it (times the clip): the fine one reads the mean loss to about 10^-3,
// the coarse one still reads it when losses run past the fine scale. The metric only.
inline constexpr double kSecAggLossScales[] = {16.0, 4096.0};
inline constexpr std::size_t kSecAggLossCoordinates = std::size(kSecAggLossScales);
// SecAgg round ids: round · this + attempt, so a retried round never reuses a session.
inline constexpr std::uint64_t kSecAggAttemptsPerRound = 1000;

struct SecAggMember {
  std::uint32_t id = 0;                      // the id assigned in Welcome
  crypto::Ed25519PublicKey identityKey{};  // from its hello (checked against the allow-list)

  template <class A>
  void serialize(A& ar) {
    ar(id, identityKey);
  }
};

// What a participant needs beyond the SecAgg messages to take part in one secure attempt:
// the public round parameters (protocols/secagg/config.h), the fixed-point encoding and the
// weighting. Each participant sends Δ·(w'/W) encoded with (clip, bits), the loss scaled the
// same way as one more coordinate, then the weight w'/u as the masked weight, where
// w' = u·floor(min(w, W)/u) for its w training samples; the coordinator divides the decoded
// sum by Σw' (docs/protocol.md, "Secure aggregation").
struct SecAggSetup {
  std::uint64_t session = 0;         // the SecAgg round id: round · 1000 + attempt
  std::vector<SecAggMember> roster;  // the selected participants, ascending ids; empty: plaintext
  std::uint32_t threshold = 0;       // t
  std::uint32_t neighbours = 0;      // k (0 = complete graph)
  std::uint64_t dimension = 0;       // d: the parameters, then the loss (kSecAggLossCoordinates)
  double clip = 0;                   // c: scaled values are clipped to [-c, c]
  std::uint32_t bits = 0;            // q: each value becomes an integer in [0, 2^q - 1]
  std::uint64_t weightScale = 0;     // W: the largest sample count in the selection
  std::uint64_t weightUnit = 1;      // u: weights are counted in units of u samples, so Σ w'/u < 2^32
  // Differential privacy (common/dp/dp_config.h), off when dpSigma is 0: each participant clips
  // Δ to L2 norm dpL2Clip, adds N_Z(0, dpSigma²) to every encoded parameter, weighs uniformly
  // (W = u = 1) and reports no loss.
  double dpL2Clip = 0;  // C, float units
  double dpSigma = 0;   // σ_local, quantisation levels
  // Hardened mode: a ConsistencyCheck stage between MaskedInput and Unmask, so a malicious
  // coordinator cannot show participants different contributor sets (protocols/secagg/client.h).
  bool consistencyCheck = false;

  bool enabled() const { return !roster.empty(); }
  bool differentialPrivacy() const { return dpSigma > 0; }

  template <class A>
  void serialize(A& ar) {
    ar(session, roster, threshold, neighbours, dimension, clip, bits, weightScale, weightUnit, dpL2Clip, dpSigma,
       consistencyCheck);
  }
};

struct RoundStart {
  static constexpr MessageType kType = MessageType::kRoundStart;
  TrainConfig config;
  std::vector<float> parameters;           // the global trainable parameters, flattened
  std::vector<float> batchNormStatistics;  // pooled (federated AdaBN), or empty: adapt locally
  std::string signature;                   // Ed25519 signature of roundStartStatement, or empty
  SecAggSetup secure{};                    // secure aggregation for this attempt, or empty

  template <class A>
  void serialize(A& ar) {
    ar(config, parameters, batchNormStatistics, secure, signature);
  }
};

struct Update {
  static constexpr MessageType kType = MessageType::kUpdate;
  std::uint64_t trainSamples = 0;
  double trainLoss = 0;
  std::vector<float> delta;  // local parameters minus the round's global parameters

  template <class A>
  void serialize(A& ar) {
    ar(trainSamples, trainLoss, delta);
  }
};

// An update decoded in place: the delta stays in the frame's bytes, to be folded straight into
// the coordinator's running sum, so a large update is never held twice.
struct UpdateView {
  std::uint64_t trainSamples = 0;
  double trainLoss = 0;
  std::string_view delta;  // little-endian float32 values
  std::size_t size() const { return delta.size() / sizeof(float); }
};
// Decodes and validates (as validate(Update) does) the payload of an update frame.
UpdateView decodeUpdateView(const FrameHeader& header, std::string_view payload);

// Upload flow control: a participant announces a finished update and sends it only when
// granted, so the coordinator bounds the bytes in flight towards it (see docs/protocol.md).
struct UploadReady {
  static constexpr MessageType kType = MessageType::kUploadReady;
  template <class A>
  void serialize(A&) {}
};

struct UploadGrant {
  static constexpr MessageType kType = MessageType::kUploadGrant;
  template <class A>
  void serialize(A&) {}
};

struct EvalRequest {
  static constexpr MessageType kType = MessageType::kEvalRequest;
  std::vector<float> parameters;
  std::string signature;  // Ed25519 signature of evalRequestStatement, or empty

  template <class A>
  void serialize(A& ar) {
    ar(parameters, signature);
  }
};

// Encode exactly as RoundStart and EvalRequest do, from parameters held elsewhere: the
// coordinator sends its global vector without copying it into a message first.
struct RoundStartRef {
  static constexpr MessageType kType = MessageType::kRoundStart;
  const TrainConfig& config;
  const std::vector<float>& parameters;
  const std::vector<float>& batchNormStatistics;
  const std::string& signature;
  const SecAggSetup& secure;

  template <class A>
  void serialize(A& ar) {
    ar(config, parameters, batchNormStatistics, secure, signature);
  }
};

struct EvalRequestRef {
  static constexpr MessageType kType = MessageType::kEvalRequest;
  const std::vector<float>& parameters;
  const std::string& signature;

  template <class A>
  void serialize(A& ar) {
    ar(parameters, signature);
  }
};

// Federated AdaBN, once before the first round: each participant's BatchNorm statistics on its
// training images (ml::batchNormStatistics form), pooled by the coordinator weighted by samples.
// Asks for the BatchNorm statistics of the participant's training images (federated AdaBN).
// With a SecAgg setup the statistics are not sent but summed securely like an update (the
// vector in place of Δ, no loss): the coordinator learns only their sample-weighted mean.
struct StatsRequest {
  static constexpr MessageType kType = MessageType::kStatsRequest;
  SecAggSetup secure{};   // empty: reply with Stats in the clear
  std::string signature;  // Ed25519 signature of statsRequestStatement, or empty

  template <class A>
  void serialize(A& ar) {
    ar(secure, signature);
  }
};

struct Stats {
  static constexpr MessageType kType = MessageType::kStats;
  std::uint64_t samples = 0;
  std::vector<float> statistics;  // empty when the backbone has no BatchNorm

  template <class A>
  void serialize(A& ar) {
    ar(samples, statistics);
  }
};

struct EvalResult {
  static constexpr MessageType kType = MessageType::kEvalResult;
  std::uint64_t testSamples = 0;
  double accuracy = 0;
  double loss = 0;

  template <class A>
  void serialize(A& ar) {
    ar(testSamples, accuracy, loss);
  }
};

struct Heartbeat {
  static constexpr MessageType kType = MessageType::kHeartbeat;
  std::uint64_t sentAtMillis = 0;

  template <class A>
  void serialize(A& ar) {
    ar(sentAtMillis);
  }
};

struct Bye {
  static constexpr MessageType kType = MessageType::kBye;
  std::string reason;

  template <class A>
  void serialize(A& ar) {
    ar(reason);
  }
};

// A SecAgg message (protocols/secagg/messages.h) in its frame, tagged with the session it
// belongs to, so a message of an earlier attempt is told apart and dropped.
template <MessageType T, class Body>
struct SecAggMessage {
  static constexpr MessageType kType = T;
  std::uint64_t session = 0;  // SecAggSetup::session
  Body body;

  template <class A>
  void serialize(A& ar) {
    ar(session, body);
  }
};
using SecAggAdvertise = SecAggMessage<MessageType::kSecAggAdvertise, secagg::KeyAdvertisement>;
using SecAggShareKeysRequest = SecAggMessage<MessageType::kSecAggShareKeysRequest, secagg::ShareKeysRequest>;
using SecAggShareKeysResponse = SecAggMessage<MessageType::kSecAggShareKeysResponse, secagg::ShareKeysResponse>;
using SecAggMaskedInputRequest = SecAggMessage<MessageType::kSecAggMaskedInputRequest, secagg::MaskedInputRequest>;
using SecAggMaskedInput = SecAggMessage<MessageType::kSecAggMaskedInput, secagg::MaskedInput>;
using SecAggUnmaskRequest = SecAggMessage<MessageType::kSecAggUnmaskRequest, secagg::UnmaskRequest>;
using SecAggUnmaskResponse = SecAggMessage<MessageType::kSecAggUnmaskResponse, secagg::UnmaskResponse>;
using SecAggConsistencyCheckRequest =
    SecAggMessage<MessageType::kSecAggConsistencyCheckRequest, secagg::ConsistencyCheckRequest>;
using SecAggConsistencyCheckResponse =
    SecAggMessage<MessageType::kSecAggConsistencyCheckResponse, secagg::ConsistencyCheckResponse>;

// A masked input decoded in place, like UpdateView: the ring elements stay in the frame and
// are added straight into the coordinator's running sum.
struct MaskedInputView {
  std::uint64_t session = 0;
  std::string_view values;  // little-endian uint32 ring elements
  std::size_t size() const { return values.size() / sizeof(secagg::Ring); }
};
MaskedInputView decodeMaskedInputView(const FrameHeader& header, std::string_view payload);

// Semantic checks after decoding (lengths and ranges the wire archive cannot know); throw
// DecodeError. With `connection`, a hello must also name the connection it came on.
void validate(const Hello& m, std::string_view connection = {});
// A setup is well formed for a round of `parameters` values: ascending non-zero ids, d =
// parameters + kSecAggLossCoordinates, a usable encoding and weighting (RoundParameters checks
// t and k).
void validate(const SecAggSetup& m, std::size_t parameters);
void validate(const Welcome& m);
void validate(const TrainConfig& m);
void validate(const Update& m);
void validate(const EvalResult& m);
void validate(const Stats& m);

}  // namespace fedtl::protocols
