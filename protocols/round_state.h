// The coordinator's state after a completed round, checkpointed atomically so `--resume`
// continues from the last completed round with nothing lost or repeated.
//
//   "FEDTLRND" | u32 version | wire-archive RoundState | SHA-256 of every byte before it
#pragma once

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fedtl::protocols {

struct RoundState {
  std::int64_t completedRounds = 0;
  std::string backboneDigest;  // the run's backbone: resuming with another one is refused
  std::string strategy;
  std::vector<float> parameters;
  std::vector<float> serverFirstMoment, serverSecondMoment;
  std::vector<float> batchNormStatistics;  // pooled before round 1 (federated AdaBN), or empty

  template <class A>
  void serialize(A& ar) {
    ar(completedRounds, backboneDigest, strategy, parameters, serverFirstMoment, serverSecondMoment,
       batchNormStatistics);
  }
};

// The same fields as RoundState, borrowed: a checkpoint is written from the engine's own
// vectors without copying them first.
struct RoundStateView {
  std::int64_t completedRounds = 0;
  const std::string& backboneDigest;
  const std::string& strategy;
  const std::vector<float>& parameters;
  const std::vector<float>& serverFirstMoment;
  const std::vector<float>& serverSecondMoment;
  const std::vector<float>& batchNormStatistics;

  template <class A>
  void serialize(A& ar) {
    ar(completedRounds, backboneDigest, strategy, parameters, serverFirstMoment, serverSecondMoment,
       batchNormStatistics);
  }
};

std::string encodeRoundState(const RoundStateView& state);
inline std::string encodeRoundState(const RoundState& s) {
  return encodeRoundState(RoundStateView{s.completedRounds, s.backboneDigest, s.strategy, s.parameters,
                                         s.serverFirstMoment, s.serverSecondMoment, s.batchNormStatistics});
}
// Throws CheckpointError naming the problem (magic, version, digest, malformed contents).
RoundState decodeRoundState(std::string_view bytes, const std::string& origin);

}  // namespace fedtl::protocols
