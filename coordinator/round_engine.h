// The round engine: the coordinator's side of federated rounds, written once over the
// transport interface (in-process, ZeroMQ) and torch-free: parameters are flat float vectors,
// evaluation and checkpointing are callbacks.
//
// Each round: wait for enough participants, select a fraction of them, send the global
// trainable parameters with the training config (one shared buffer for all), fold updates into
// a running weighted sum as they arrive until all are in or the stage deadline passes, then
// aggregate and apply the server optimiser if at least the minimum arrived; otherwise retry
// the round with a fresh selection. No wait is without a deadline.
//
// Memory stays O(model size) whatever the number of participants: a participant announces its
// finished update and uploads it only when granted, and grants are issued while the updates in
// flight fit the upload window; each arriving update is summed straight from its frame. Over a
// hub that reduces in the transport (MPI) FedAvg's updates travel in no frame at all: each
// participant stages w·Δ (with w and w·loss) in the transport, its announcement is the whole
// upload, and the round's weighted sum is one float reduction over those who announced.
//
// With secure aggregation (EngineOptions::secure) a round runs one SecAgg session
// (protocols/secagg) per attempt instead: the round start carries the session's setup; each
// participant's key advertisement says it has trained; shares are routed; masked inputs are
// requested under the same upload window and summed as they arrive; the survivors' shares
// remove the masks, and only the sum of the weighted updates is ever decoded. A SecAgg abort
// (too few at any stage) is a failed attempt, retried with a fresh selection and session.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/dp/dp_config.h"
#include "common/dp/rdp_accountant.h"
#include "common/transport/transport.h"
#include "coordinator/aggregation.h"
#include "protocols/frame.h"
#include "protocols/messages.h"

namespace fedtl::coordinator {

// Secure aggregation's parameters (docs/protocol.md, "A secure round").
struct SecureAggregationOptions {
  bool enabled = false;          // off for the library; `fedtl coordinator` turns it on by default
  std::uint32_t threshold = 0;   // t: 0 = secagg::defaultThreshold; raised to it, capped at a neighbourhood
  std::uint32_t neighbours = 0;  // k: 0 = secagg::defaultNeighbourCount (the complete graph up to 50)
  // c: each weighted update value Δ·(w/W) is clipped to [-c, c]. Measured on the three
  // strategies at their defaults, the largest per-round change was 0.9 (linear probe), 1.2
  // (partial:1), 4.4 (full: dozens of 50k values above 2, a handful above 4): 4 clips almost
  // nothing, and its quantum 2c/(2^16 - 1) = 1.2e-4 is unbiased noise well below a round's change.
  double clip = 4.0;
  unsigned bits = 16;            // q: values become integers in [0, 2^q - 1]; n_max·(2^q - 1) < 2^32
  // n_max, the most participants one round selects: 0 = the identity allow-list's size, or
  // kDefaultSecureMaxParticipants without one.
  std::size_t maxParticipants = 0;
  // Differential privacy on the secure sum (common/dp/dp_config.h): each participant clips its
  // update to L2 norm C and adds discrete Gaussian noise sized so that any n_min survivors'
  // noise sums to σ = z·C; updates are weighted uniformly and losses not reported. Unset: off.
  // n_min (minSurvivors) 0 means the round minimum.
  std::optional<dp::DpConfig> differentialPrivacy;
  // Hardened mode: a ConsistencyCheck stage (each contributor signs the contributor set) so that
  // a malicious coordinator cannot unmask one participant's input by telling participants
  // different stories about who dropped (docs/threat-model.md). Costs one round trip and a few
  // Ed25519 signatures per participant.
  bool consistencyCheck = true;
};
inline constexpr std::size_t kDefaultSecureMaxParticipants = 1024;

struct EngineOptions {
  std::int64_t rounds = 5;
  std::size_t minParticipants = 2;      // per round, and to start one
  double fraction = 1.0;                // of the ready participants selected per round
  transport::Millis joinTimeout{60000};  // to gather minParticipants before a round
  transport::Millis stageTimeout{60000};  // for the updates of one round
  int maxRetriesPerRound = 3;           // then the run stops with an error, never hangs
  protocols::TrainConfig train;
  AggregationOptions aggregation;        // robust kinds hold every update: plaintext only
  ServerOptimizerOptions server;
  std::uint64_t uploadWindowBytes = 64ull << 20;  // updates in flight at once (at least one)
  transport::Millis uploadTimeout{30000};         // a granted upload that does not come frees its slot
  std::uint64_t seed = 0;
  bool cosineLearningRate = true;  // the local learning rate decays over the rounds
  // Federated AdaBN: before round 1, pool the participants' BatchNorm statistics of their
  // training images (weighted by samples) and have everyone use them (not with FedBN).
  bool federatedBatchNorm = true;
  // How many BatchNorm statistics the backbone has (0: none, or unknown). Under secure
  // aggregation the statistics are pooled through a SecAgg session, which needs the length up
  // front; the plaintext path learns it from the replies.
  std::size_t batchNormValues = 0;
  bool federatedEvaluation = true;
  protocols::FrameLimits limits;
  // Signs with the coordinator's Ed25519 identity (protocols/signing.h statements); unset, the
  // backbone and round parameters go unsigned and only unpinned participants accept them.
  std::function<crypto::Ed25519Signature(const std::vector<std::uint8_t>&)> sign;
  SecureAggregationOptions secure;
  transport::Millis secureStageTimeout{30000};  // SecAgg's share-keys and unmask stages
  // The participants' Ed25519 identities by name (--allow): when not empty, a hello from a name
  // not listed, or with another key, is refused. Without it any hello's key is taken.
  std::map<std::string, crypto::Ed25519PublicKey> identityKeys;
};

// Throws ConfigError, naming the fix, when secure aggregation is on and misconfigured: robust
// aggregation, fewer than 2 participants per round, an odd or oversized neighbour count, a
// threshold of 1, or an encoding whose sum over n_max participants could wrap 2^32.
void checkSecureAggregation(const EngineOptions& options);
// n_max under these options (see SecureAggregationOptions::maxParticipants).
std::size_t secureMaxParticipants(const EngineOptions& options);

struct Backbone {
  std::string digest;  // hex SHA-256 of the checkpoint file
  std::string bytes;   // the checkpoint file (moved into the one encoded frame every peer shares)
};

struct RoundMetrics {
  std::int64_t round = 0;
  std::size_t selected = 0;
  std::size_t received = 0;
  std::size_t retries = 0;
  bool secure = false;              // the updates were summed under secure aggregation
  double trainLoss = 0;             // sample-weighted mean of the participants' losses
  double federatedAccuracy = -1;    // sample-weighted over participants' local test sets, -1 if none
  double centralAccuracy = -1;      // on the coordinator's test set, -1 if none
  std::uint64_t bytesDown = 0, bytesUp = 0;
  double trainSeconds = 0, evalSeconds = 0, totalSeconds = 0;
  double epsilon = -1;              // under differential privacy: ε spent so far (at the configured δ), else -1
};

// The local learning rate of `round` (1-based) under the options' schedule.
double roundLearningRate(const EngineOptions& options, std::int64_t round);

class RoundEngine {
 public:
  using Evaluator = std::function<double(const std::vector<float>&)>;  // accuracy in [0, 1]
  using RoundCallback = std::function<void(const RoundMetrics&, const std::vector<float>& params)>;

  RoundEngine(transport::Hub& hub, EngineOptions options, Backbone backbone, std::vector<float> initialParameters);
  ~RoundEngine();

  void setCentralEvaluator(Evaluator e) { central_ = std::move(e); }
  // Called after every completed round (metrics lines, checkpoints).
  void setRoundCallback(RoundCallback cb) { onRound_ = std::move(cb); }
  // Resume after `completedRounds` with the parameters and server optimiser moments then.
  void resumeFrom(std::int64_t completedRounds, std::vector<float> parameters, std::vector<float> firstMoment,
                  std::vector<float> secondMoment);
  const ServerOptimizer& serverOptimizer() const { return server_; }
  // The pooled BatchNorm statistics (empty until gathered, or without BatchNorm); checkpoints
  // keep them and a resumed run restores them here.
  const std::vector<float>& batchNormStatistics() const { return bnStatistics_; }
  void setBatchNormStatistics(std::vector<float> statistics) { bnStatistics_ = std::move(statistics); }

  // Runs the remaining rounds and tells the participants goodbye; throws Error when a round
  // cannot gather its minimum after the configured retries.
  void run();

  const std::vector<float>& parameters() const { return params_; }
  std::size_t readyParticipants() const;

 private:
  struct Peer {
    std::uint32_t id = 0;
    std::uint64_t trainSamples = 0;
    crypto::Ed25519PublicKey identityKey{};  // from its hello; signs its SecAgg advertisements
    bool ready = false;  // holds the backbone (and, under SecAgg, answered when last asked)
    std::chrono::steady_clock::time_point backboneSentAt{};
  };
  using Clock = std::chrono::steady_clock;
  struct SecureRound;  // the SecAgg session of the attempt in progress

  // Receives and handles frames until `done()` or the deadline; returns done().
  bool pump(Clock::time_point deadline, const std::function<bool()>& done);
  void handle(const transport::Incoming& in);
  void onHello(const std::string& name, const protocols::Hello& hello);
  bool sendTo(const std::string& name, const transport::SharedFrame& frame);
  // One frame to each of `names` through the hub's broadcast; says which were reached.
  std::vector<bool> sendToAll(const std::vector<std::string>& names, const transport::SharedFrame& frame);
  void onUpdate(const std::string& name, const protocols::FrameHeader& header, std::string_view payload,
                std::size_t frameBytes);
  void onUploadReady(const std::string& name, const protocols::FrameHeader& header, std::size_t frameBytes);
  void grantUploads();
  void gatherBatchNormStatistics();
  // The same under secure aggregation: one SecAgg session (round 0) over the statistics in
  // place of an update, retried with a fresh selection like a round.
  void gatherSecureBatchNormStatistics();
  // Waits (up to the join timeout) for the minimum, then takes in every hello already waiting.
  void awaitParticipants();
  // Awaits the minimum, then a seeded selection of `fraction` of the ready participants (at least
  // the minimum, at most n_max under SecAgg); empty, with a warning, when too few are ready.
  std::vector<std::string> selectParticipants(std::int64_t round, std::size_t retry, double fraction);
  bool runRound(RoundMetrics& metrics);
  bool runPlaintextRound(RoundMetrics& metrics, const std::vector<std::string>& selected);
  void finishRound(RoundMetrics& metrics, const std::vector<std::string>& evaluators);
  void evaluateFederated(const std::vector<std::string>& selected, RoundMetrics& metrics);
  std::size_t uploadSlots() const;
  // Plaintext FedAvg over a hub that reduces (MPI): each participant stages its weighted update
  // in the transport and only announces it; the round's sum is one float reduction.
  bool reducesUpdates() const;
  // That reduction over the round's contributors; the weighted mean in `mean`, the loss sums set.
  bool reduceUpdates(RoundMetrics& metrics, std::vector<float>& mean);

  // Secure aggregation (round_engine.cc, "Secure rounds").
  bool runSecureRound(RoundMetrics& metrics, const std::vector<std::string>& selected);
  // Setup to unmasked sum; false when the attempt failed (the caller drops its state).
  // `statistics`: the session sums BatchNorm statistics (round 0), not the round's updates.
  bool runSecureStages(RoundMetrics& metrics, const std::vector<std::string>& selected, bool statistics = false);
  bool beginSecureRound(RoundMetrics& metrics, const std::vector<std::string>& selected, bool statistics);
  // Sends each of the server's recipients its request and awaits `answer` from them.
  // Sends the attempt's first request to its roster and awaits their advertisements.
  void sendToRoster(const transport::SharedFrame& frame, const char* stage);
  void askSecure(protocols::MessageType answer, const std::function<std::string(std::uint32_t)>& request);
  void awaitSecure(Clock::time_point deadline);
  // Closes the stage (deadline passed or all answered); false when the attempt is over.
  bool closeSecureStage(const char* stage);
  bool collectMaskedInputs(RoundMetrics& metrics);
  bool applySecureSum(RoundMetrics& metrics);
  void grantMaskedInputs();
  void handleSecure(const transport::Incoming& in, const protocols::FrameHeader& header, std::string_view payload);
  // The sender's SecAgg id when its `header`-typed message of `session` is awaited from it.
  std::optional<std::uint32_t> secureAnswer(const std::string& name, const protocols::FrameHeader& header,
                                            std::uint64_t session);
  void onMaskedInput(const std::string& name, const protocols::FrameHeader& header, std::string_view payload,
                     std::size_t frameBytes);
  // A selected participant that did not answer in time sits out until its next hello.
  void benchSilent(std::uint32_t id, const char* stage);
  void logRejections();

  transport::Hub& hub_;
  EngineOptions options_;
  std::optional<dp::DpNoisePlan> dpPlan_;  // set under differential privacy
  dp::RdpAccountant accountant_;           // the revealed noisy sums so far
  std::string signatureOf(const std::vector<std::uint8_t>& statement) const;

  std::string backboneDigest_;
  std::string backboneSignature_;
  transport::SharedFrame backboneFrame_;
  std::vector<float> params_;
  ServerOptimizer server_;
  Evaluator central_;
  RoundCallback onRound_;
  std::int64_t nextRound_ = 1;
  std::uint32_t nextId_ = 1;
  std::map<std::string, Peer> peers_;

  // The stage in progress: which updates and evaluations are awaited, and their sums.
  std::int64_t stageRound_ = 0;
  std::map<std::string, bool> awaitingUpdate_, awaitingEval_;
  std::deque<std::string> uploadQueue_;                   // ready to upload, not yet granted
  std::map<std::string, Clock::time_point> uploadGrants_;  // granted, update not yet in
  WeightedSum updates_;
  std::vector<std::vector<float>> robustUpdates_;          // robust aggregation only
  std::vector<float> bnStatistics_;
  std::map<std::string, bool> awaitingStats_;
  std::vector<double> statsSum_;
  double statsSamples_ = 0;
  std::size_t statsReplies_ = 0;
  double lossSum_ = 0, lossWeight_ = 0, evalAccuracySum_ = 0, evalSamples_ = 0;
  std::uint64_t bytesUp_ = 0, bytesDown_ = 0;
  std::size_t secureMaxParticipants_ = 0;
  std::unique_ptr<SecureRound> secure_;
};

}  // namespace fedtl::coordinator
