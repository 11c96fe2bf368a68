// The messages of the round protocol: plain structs with a fixed wire type, serialised with
// the wire archive (no type names, no polymorphism). See docs/protocol.md.
#pragma once

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "protocols/frame.h"

namespace fedtl::protocols {

inline constexpr std::size_t kMaxNameLength = 256;

struct Hello {
  static constexpr MessageType kType = MessageType::kHello;
  std::string participantName;   // --id NAME
  std::string cachedBackbone;    // hex SHA-256 of the backbone the participant holds, or empty
  std::uint64_t trainSamples = 0;

  template <class A>
  void serialize(A& ar) {
    ar(participantName, cachedBackbone, trainSamples);
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

struct RoundStart {
  static constexpr MessageType kType = MessageType::kRoundStart;
  TrainConfig config;
  std::vector<float> parameters;           // the global trainable parameters, flattened
  std::vector<float> batchNormStatistics;  // pooled (federated AdaBN), or empty: adapt locally
  std::string signature;                   // Ed25519 signature of roundStartStatement, or empty

  template <class A>
  void serialize(A& ar) {
    ar(config, parameters, batchNormStatistics, signature);
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

  template <class A>
  void serialize(A& ar) {
    ar(config, parameters, batchNormStatistics, signature);
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
struct StatsRequest {
  static constexpr MessageType kType = MessageType::kStatsRequest;
  template <class A>
  void serialize(A&) {}
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

// Semantic checks after decoding (lengths and ranges the wire archive cannot know); throw
// DecodeError.
void validate(const Hello& m);
void validate(const Welcome& m);
void validate(const TrainConfig& m);
void validate(const Update& m);
void validate(const EvalResult& m);
void validate(const Stats& m);

}  // namespace fedtl::protocols
