#include "coordinator/round_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "common/crypto/sha256.h"
#include "common/error.h"
#include "common/fixed_point.h"
#include "protocols/secagg/server.h"
#include "protocols/signing.h"

namespace fedtl::coordinator {
namespace {

using protocols::DecodeError;
using protocols::MessageType;

// True when no participant of a stage is still awaited (the map's value: still awaited).
bool allAnswered(const std::map<std::string, bool>& awaiting) {
  return std::none_of(awaiting.begin(), awaiting.end(), [](const auto& a) { return a.second; });
}
using secagg::Ring;

constexpr transport::Millis kSendTimeout{2000};
constexpr transport::Millis kPumpSlice{100};
constexpr std::chrono::seconds kBackboneResendInterval{10};
constexpr std::size_t kMaxFramesDrained = 1024;  // before a selection: bounded however busy the hub

// Adds `packed` (little-endian ring elements straight from a frame, maybe unaligned) into `sum`.
// Wraps mod 2^32 by design: the masks cancel only in the ring.
void addPackedRing(std::vector<Ring>& sum, std::string_view packed) {
  const char* p = packed.data();
  for (std::size_t i = 0; i < sum.size(); ++i) {
    Ring v;
    std::memcpy(&v, p + i * sizeof v, sizeof v);
    sum[i] += v;
  }
}

// u: participants count their weight in units of u samples so that n weights below W/u each
// sum below 2^32 (u = 1 unless n·W reaches 2^32).
std::uint64_t weightUnit(std::uint64_t weightScale, std::size_t participants) {
  const std::uint64_t perParticipant = std::numeric_limits<Ring>::max() / participants;
  return weightScale <= perParticipant ? 1 : (weightScale + perParticipant - 1) / perParticipant;
}

// BatchNorm statistics pooled under SecAgg: running means and variances of the features,
// clipped to ±c like an update (a variance above it would be clipped, and the participant warns).
constexpr double kStatisticsClip = 256;

// The finest grid whose sum over n_max participants cannot wrap the ring: the statistics are
// few, so every bit the ring allows goes to precision.
unsigned statisticsBits(std::size_t maxParticipants) {
  unsigned bits = 31;
  while (bits > 1 && static_cast<long double>(maxParticipants) * (std::ldexp(1.0L, static_cast<int>(bits)) - 1) >=
                         std::ldexp(1.0L, 32))
    --bits;
  return bits;
}

// The mean training loss from the decoded loss coordinates (after the parameters in `sums`):
// the fine reading, unless the coarse one exceeds it by more than its own rounding error (some
// losses ran past the fine scale and were clipped there).
double secureLoss(const std::vector<float>& sums, double toMean, const protocols::SecAggSetup& setup,
                  std::size_t contributors) {
  const std::size_t first = sums.size() - protocols::kSecAggLossCoordinates;
  const auto reading = [&](std::size_t i) {
    return sums[first + i] * toMean * protocols::kSecAggLossScales[i] / setup.clip;
  };
  const double fine = reading(0), coarse = reading(1);
  // One quantum (2c / (2^q - 1)) per contributor at most, in loss units.
  const double levels = std::ldexp(1.0, static_cast<int>(setup.bits)) - 1;
  const double coarseError = static_cast<double>(contributors) * toMean * 2 * protocols::kSecAggLossScales[1] / levels;
  return coarse > fine + coarseError ? coarse : fine;
}

}  // namespace

// The SecAgg session of one attempt: the server state machine, who is asked for what, and
// the running sum of the masked inputs.
struct RoundEngine::SecureRound {
  bool statistics = false;  // sums BatchNorm statistics (round 0) instead of updates
  protocols::SecAggSetup setup;
  std::optional<secagg::Server> server;
  std::map<std::uint32_t, std::string> names;  // SecAgg id (the Welcome id) -> peer
  MessageType expecting = MessageType::kSecAggAdvertise;
  std::set<std::uint32_t> pending;  // asked in this stage, not answered yet
  // MaskedInput: the request is the upload grant, issued while the inputs in flight fit the window.
  std::deque<std::uint32_t> queue;                      // not asked yet
  std::map<std::uint32_t, Clock::time_point> granted;  // asked, input not in: holds a slot
  std::set<std::uint32_t> asked;
  std::vector<Ring> sum;
  std::set<std::uint32_t> contributors;
  std::size_t rejectionsLogged = 0;
};

std::size_t secureMaxParticipants(const EngineOptions& options) {
  if (options.secure.maxParticipants > 0) return options.secure.maxParticipants;
  return options.identityKeys.empty() ? kDefaultSecureMaxParticipants : options.identityKeys.size();
}

void checkSecureAggregation(const EngineOptions& options) {
  const SecureAggregationOptions& s = options.secure;
  if (!s.enabled) {
    FEDTL_ENFORCE(!s.differentialPrivacy, ConfigError,
                  "differential privacy adds its noise under secure aggregation (each participant a share of it); "
                  "drop --no-secure-aggregation or the --dp-* options");
    return;
  }
  FEDTL_ENFORCE(options.aggregation.streaming(), ConfigError,
                "robust aggregation needs plaintext updates; use --aggregation mean or --no-secure-aggregation");
  FEDTL_ENFORCE(options.minParticipants >= 2, ConfigError,
                "secure aggregation needs at least 2 participants per round (the sum of one is its update); raise "
                "--min-participants or use --no-secure-aggregation");
  const std::size_t nMax = secureMaxParticipants(options);
  FEDTL_ENFORCE(nMax >= options.minParticipants && nMax <= secagg::kMaxParticipants, ConfigError,
                "secure aggregation selects at most ", nMax, " participants per round, which must lie in [",
                options.minParticipants, " (the minimum), ", secagg::kMaxParticipants, "]");
  FEDTL_ENFORCE(s.threshold != 1, ConfigError, "the SecAgg threshold must be 0 (the default) or at least 2");
  FEDTL_ENFORCE(s.neighbours % 2 == 0, ConfigError, "the SecAgg neighbour count k = ", s.neighbours,
                " must be even (k/2 on either side of the ring); use ", s.neighbours + 1, " or 0 for the default");
  FEDTL_ENFORCE(s.neighbours < protocols::kMaxSecAggNeighbourhood, ConfigError, "the SecAgg neighbour count k = ",
                s.neighbours, " exceeds ", protocols::kMaxSecAggNeighbourhood - 2, " (neighbourhoods are bounded by ",
                protocols::kMaxSecAggNeighbourhood, ")");
  FEDTL_ENFORCE(options.maxRetriesPerRound >= 0 &&
                    static_cast<std::uint64_t>(options.maxRetriesPerRound) < protocols::kSecAggAttemptsPerRound,
                ConfigError, "secure aggregation allows at most ", protocols::kSecAggAttemptsPerRound - 1,
                " retries per round (each attempt needs its own SecAgg session)");
  // Refuses, naming the ways out, an encoding whose sum over n_max participants could wrap.
  try {
    checkFixedPointConfig<Ring>(FixedPointConfig{s.clip, s.bits, nMax});
  } catch (const ConfigError& e) {
    throw ConfigError(detail::concat("secure aggregation: ", e.what(), " (--secagg-bits sets the bits; n_max is the ",
                                     "number of allow-listed participants, or ", kDefaultSecureMaxParticipants,
                                     " without an allow-list)"));
  }
}

double roundLearningRate(const EngineOptions& options, std::int64_t round) {
  if (!options.cosineLearningRate || options.rounds <= 1) return options.train.learningRate;
  // Local schedules restart every round; without a global decay the model keeps hopping
  // around the optimum at full step size. Cosine over rounds, never below 5% of the base.
  const double progress = static_cast<double>(round - 1) / static_cast<double>(options.rounds);
  return options.train.learningRate * std::max(0.05, 0.5 * (1 + std::cos(M_PI * progress)));
}

RoundEngine::RoundEngine(transport::Hub& hub, EngineOptions options, Backbone backbone,
                         std::vector<float> initialParameters)
    : hub_(hub),
      options_(std::move(options)),
      backboneDigest_(backbone.digest),
      backboneFrame_(transport::share(protocols::encodeFrame(
          protocols::BackboneData{std::move(backbone.digest), std::move(backbone.bytes)}, 0, 0))),
      params_(std::move(initialParameters)),
      server_(params_.size(), options_.server),
      updates_(params_.size()) {
  FEDTL_ENFORCE(options_.minParticipants >= 1, ConfigError, "the minimum number of participants must be at least 1");
  FEDTL_ENFORCE(options_.fraction > 0 && options_.fraction <= 1, ConfigError, "fraction must lie in (0, 1]");
  FEDTL_ENFORCE(options_.rounds >= 1, ConfigError, "rounds must be at least 1");
  FEDTL_ENFORCE(!params_.empty(), ConfigError, "the model has no trainable parameters");
  protocols::validate(options_.train);
  checkSecureAggregation(options_);
  FEDTL_ENFORCE(!options_.secure.enabled || params_.size() < secagg::kMaxDimension, ConfigError,
                "secure aggregation handles at most ", secagg::kMaxDimension - 1, " parameters, the model shares ",
                params_.size());
  secureMaxParticipants_ = secureMaxParticipants(options_);
  if (options_.secure.enabled && options_.secure.differentialPrivacy) {
    dp::DpConfig& dp = *options_.secure.differentialPrivacy;
    if (dp.minSurvivors == 0) dp.minSurvivors = options_.minParticipants;  // sums of fewer are never unmasked
    // Refuses noise below one quantum, or a noisy sum that could wrap the ring.
    dpPlan_ = dp::planDpNoise<Ring>(dp, FixedPointConfig{options_.secure.clip, options_.secure.bits, secureMaxParticipants_},
                                    params_.size());
  }
  backboneSignature_ = signatureOf(protocols::backboneStatement(backboneDigest_));
}

RoundEngine::~RoundEngine() = default;

std::string RoundEngine::signatureOf(const std::vector<std::uint8_t>& statement) const {
  if (!options_.sign) return {};
  auto signature = options_.sign(statement);
  return std::string(signature.begin(), signature.end());
}

void RoundEngine::resumeFrom(std::int64_t completedRounds, std::vector<float> parameters, std::vector<float> firstMoment,
                             std::vector<float> secondMoment) {
  FEDTL_ENFORCE(parameters.size() == params_.size(), CheckpointError, "resumed parameters have ", parameters.size(),
                " values, the model has ", params_.size());
  FEDTL_ENFORCE(completedRounds >= 0, CheckpointError, "negative completed rounds in the checkpoint");
  server_.restore(std::move(firstMoment), std::move(secondMoment));
  params_ = std::move(parameters);
  nextRound_ = completedRounds + 1;
  // The checkpoint does not say how many summed each past round: counted at the fewest (n_min),
  // whose sums carry the least noise, so ε is never understated.
  if (dpPlan_)
    accountant_.addRounds(dpPlan_->round(options_.secure.differentialPrivacy->minSurvivors),
                          static_cast<std::size_t>(completedRounds));
}

std::size_t RoundEngine::readyParticipants() const {
  return static_cast<std::size_t>(std::count_if(peers_.begin(), peers_.end(), [](auto& p) { return p.second.ready; }));
}

bool RoundEngine::sendTo(const std::string& name, const transport::SharedFrame& frame) {
  bool ok = hub_.send(name, frame, kSendTimeout);
  if (ok) bytesDown_ += frame->size();
  return ok;
}

std::vector<bool> RoundEngine::sendToAll(const std::vector<std::string>& names, const transport::SharedFrame& frame) {
  auto sent = hub_.broadcast(names, frame, kSendTimeout);
  bytesDown_ += frame->size() * static_cast<std::uint64_t>(std::count(sent.begin(), sent.end(), true));
  return sent;
}

bool RoundEngine::pump(Clock::time_point deadline, const std::function<bool()>& done) {
  while (!done()) {
    auto now = Clock::now();
    if (now >= deadline) return false;
    auto wait = std::min<transport::Millis>(kPumpSlice, std::chrono::duration_cast<transport::Millis>(deadline - now));
    if (auto in = hub_.receive(wait)) handle(*in);
    grantUploads();
    grantMaskedInputs();
  }
  return true;
}

void RoundEngine::handle(const transport::Incoming& in) {
  // Malformed input from one peer is logged and dropped; the others are served on.
  try {
    const std::string_view frame = in.frame.bytes();
    auto header = protocols::decodeFrameHeader(frame, options_.limits);
    std::string_view payload = frame.substr(protocols::kFrameHeaderSize);
    switch (header.type) {
      case MessageType::kHello: {
        auto hello = protocols::decodePayload<protocols::Hello>(header, payload);
        protocols::validate(hello, in.peer);
        onHello(in.peer, hello);
        return;
      }
      case MessageType::kHeartbeat: return;
      case MessageType::kBye:
        peers_.erase(in.peer);
        spdlog::info("participant {} left", in.peer);
        return;
      case MessageType::kUploadReady: onUploadReady(in.peer, header, frame.size()); return;
      case MessageType::kStats: {
        auto it = awaitingStats_.find(in.peer);
        if (it == awaitingStats_.end() || !it->second) return;
        auto stats = protocols::decodePayload<protocols::Stats>(header, payload);
        protocols::validate(stats);
        it->second = false;
        if (stats.statistics.empty()) return;  // a backbone without BatchNorm
        if (statsSum_.empty()) statsSum_.assign(stats.statistics.size(), 0.0);
        FEDTL_ENFORCE(stats.statistics.size() == statsSum_.size(), DecodeError, "statistics have ",
                      stats.statistics.size(), " values, the others ", statsSum_.size());
        for (std::size_t i = 0; i < statsSum_.size(); ++i)
          statsSum_[i] += static_cast<double>(stats.samples) * stats.statistics[i];
        statsSamples_ += static_cast<double>(stats.samples);
        ++statsReplies_;
        return;
      }
      case MessageType::kUpdate: onUpdate(in.peer, header, payload, frame.size()); return;
      case MessageType::kSecAggMaskedInput: onMaskedInput(in.peer, header, payload, frame.size()); return;
      case MessageType::kSecAggAdvertise:
      case MessageType::kSecAggShareKeysResponse:
      case MessageType::kSecAggUnmaskResponse:
      case MessageType::kSecAggConsistencyCheckResponse: handleSecure(in, header, payload); return;
      case MessageType::kEvalResult: {
        auto it = awaitingEval_.find(in.peer);
        if (header.round != static_cast<std::uint64_t>(stageRound_) || it == awaitingEval_.end() || !it->second) return;
        auto result = protocols::decodePayload<protocols::EvalResult>(header, payload);
        protocols::validate(result);
        evalAccuracySum_ += result.accuracy * static_cast<double>(result.testSamples);
        evalSamples_ += static_cast<double>(result.testSamples);
        bytesUp_ += frame.size();
        it->second = false;
        return;
      }
      default:
        throw DecodeError(std::string("a participant may not send ") + protocols::messageTypeName(header.type));
    }
  } catch (const Error& e) {
    spdlog::warn("rejected frame from {}: {}", in.peer, e.what());
  }
}

void RoundEngine::onUploadReady(const std::string& name, const protocols::FrameHeader& header, std::size_t frameBytes) {
  protocols::decodePayload<protocols::UploadReady>(header, {});
  auto it = awaitingUpdate_.find(name);
  if (header.round != static_cast<std::uint64_t>(stageRound_) || it == awaitingUpdate_.end() || !it->second) return;
  if (reducesUpdates()) {
    // The weighted update waits in the transport for the round's reduction: the announcement is
    // the whole upload, and with no update travelling there is no window to grant from.
    it->second = false;
    bytesUp_ += frameBytes;
    return;
  }
  // Participants repeat the announcement while they wait. A granted one is not granted again
  // (its update may be on the way); if the grant or the update was lost, the grant expires
  // after uploadTimeout and the next announcement queues it anew.
  if (uploadGrants_.count(name) || std::find(uploadQueue_.begin(), uploadQueue_.end(), name) != uploadQueue_.end())
    return;
  uploadQueue_.push_back(name);
  grantUploads();
}

void RoundEngine::grantUploads() {
  const auto now = Clock::now();
  for (auto it = uploadGrants_.begin(); it != uploadGrants_.end();) {
    if (now - it->second < options_.uploadTimeout) {
      ++it;
      continue;
    }
    spdlog::warn("round {}: granted upload from {} did not arrive in time; its slot goes to the next", stageRound_,
                 it->first);
    it = uploadGrants_.erase(it);
  }
  const std::size_t slots = uploadSlots();
  while (!uploadQueue_.empty() && uploadGrants_.size() < slots) {
    std::string name = std::move(uploadQueue_.front());
    uploadQueue_.pop_front();
    auto grant = transport::share(protocols::encodeFrame(protocols::UploadGrant{}, stageRound_, 0));
    if (sendTo(name, grant)) uploadGrants_[name] = now;
  }
}

bool RoundEngine::reducesUpdates() const {
  // Robust aggregation needs every update on its own: those still travel in frames.
  return hub_.reducesInTransport() && options_.aggregation.streaming() && !options_.secure.enabled;
}

bool RoundEngine::reduceUpdates(RoundMetrics& m, std::vector<float>& mean) {
  std::vector<std::string> names;
  double expectedWeight = 0;
  for (const auto& [name, waiting] : awaitingUpdate_) {
    if (waiting) continue;
    names.push_back(name);
    if (auto peer = peers_.find(name); peer != peers_.end())
      expectedWeight += static_cast<double>(peer->second.trainSamples);
  }
  // Each contribution is w·Δ followed by w and w·loss (participant/session.cc): the sums of
  // weights and losses come out of the same reduction, so the mean never counts a weight whose
  // update was not added.
  const std::size_t n = params_.size();
  std::vector<float> sum(n + 2, 0.0f);
  if (!hub_.reduceFloatSum(static_cast<std::uint64_t>(m.round), names, sum,
                           options_.uploadTimeout + options_.stageTimeout)) {
    spdlog::warn("round {}: the transport's reduction of {} updates failed; retrying", m.round, names.size());
    return false;
  }
  const double weight = sum[n];
  if (!(weight > 0) || !std::isfinite(weight)) {
    spdlog::warn("round {}: the transport's reduction of {} updates carries no weight; retrying", m.round,
                 names.size());
    return false;
  }
  if (std::abs(weight - expectedWeight) > 0.5)
    spdlog::warn(
        "round {}: the reduced updates weigh {} samples, the contributors announced {} (a contribution "
        "missing, or a trainer's sample count changed)",
        m.round, weight, expectedWeight);
  mean.resize(n);
  const auto inv = static_cast<float>(1.0 / weight);
  for (std::size_t i = 0; i < n; ++i) mean[i] = sum[i] * inv;
  lossSum_ = sum[n + 1];
  lossWeight_ = weight;
  spdlog::info("round {}: {} weighted updates summed by the transport's reduction", m.round, names.size());
  return true;
}

std::size_t RoundEngine::uploadSlots() const {
  // The window counts whole updates (a masked input is the same size plus two values): at
  // least one is always in flight.
  const std::uint64_t updateBytes = (params_.size() + 2) * sizeof(float) + protocols::kFrameHeaderSize + 24;
  return std::max<std::uint64_t>(1, options_.uploadWindowBytes / updateBytes);
}

void RoundEngine::onUpdate(const std::string& name, const protocols::FrameHeader& header, std::string_view payload,
                           std::size_t frameBytes) {
  auto it = awaitingUpdate_.find(name);
  if (header.round != static_cast<std::uint64_t>(stageRound_) || it == awaitingUpdate_.end() || !it->second) {
    spdlog::warn("dropping update from {} for round {} (not awaited)", name, header.round);
    return;
  }
  uploadGrants_.erase(name);
  auto update = protocols::decodeUpdateView(header, payload);
  FEDTL_ENFORCE(update.size() == params_.size(), DecodeError, "update has ", update.size(), " values, the model has ",
                params_.size());
  const auto weight = static_cast<double>(update.trainSamples);
  if (options_.aggregation.streaming()) {
    updates_.addPacked(update.delta.data(), update.size(), weight);
  } else {
    std::vector<float> delta(update.size());
    std::memcpy(delta.data(), update.delta.data(), update.delta.size());
    robustUpdates_.push_back(std::move(delta));
  }
  lossSum_ += update.trainLoss * weight;
  lossWeight_ += weight;
  bytesUp_ += frameBytes;
  it->second = false;
}

void RoundEngine::onHello(const std::string& name, const protocols::Hello& hello) {
  crypto::Ed25519PublicKey key{};
  std::memcpy(key.data(), hello.identityKey.data(), key.size());  // validate() checked the size
  if (!options_.identityKeys.empty()) {
    const auto listed = options_.identityKeys.find(name);
    FEDTL_ENFORCE(listed != options_.identityKeys.end(), DecodeError, "participant ", name,
                  " has no Ed25519 identity on the allow-list; hello refused");
    FEDTL_ENFORCE(listed->second == key, DecodeError, "hello from ", name, " carries Ed25519 key ",
                  crypto::toHex(key.data(), key.size()).substr(0, 16), "..., not its allow-listed key ",
                  crypto::toHex(listed->second.data(), listed->second.size()).substr(0, 16),
                  "...; refused (is the participant running with its --identity?)");
  }
  auto [it, fresh] = peers_.try_emplace(name);
  Peer& peer = it->second;
  const bool wasReady = peer.ready;
  if (fresh) peer.id = nextId_++;
  peer.trainSamples = hello.trainSamples;
  peer.identityKey = key;
  const bool cached = hello.cachedBackbone == backboneDigest_;
  protocols::Welcome welcome{peer.id, backboneDigest_, !cached, backboneSignature_};
  if (!sendTo(name, transport::share(protocols::encodeFrame(welcome, 0, 0)))) return;
  if (!cached) {
    // A peer that keeps asking (it cannot verify, or its downloads fail) gets the backbone at
    // most once per interval, so hellos cannot make the coordinator stream it in a loop.
    const auto now = Clock::now();
    if (peer.backboneSentAt != Clock::time_point{} && now - peer.backboneSentAt < kBackboneResendInterval) return;
    if (!sendTo(name, backboneFrame_)) return;
    peer.backboneSentAt = now;
  }
  peer.ready = true;
  if (wasReady && cached) return;  // a periodic hello from a participant we already serve
  spdlog::info("participant {} (id {}) {}, {} training samples{}", name, peer.id, fresh ? "joined" : "rejoined",
               hello.trainSamples, cached ? ", backbone cached" : "");
}

void RoundEngine::awaitParticipants() {
  pump(Clock::now() + options_.joinTimeout, [&] { return readyParticipants() >= options_.minParticipants; });
  // Hellos already waiting count too: a round selects among everyone there, not the first few.
  for (std::size_t i = 0; i < kMaxFramesDrained; ++i) {
    auto in = hub_.receive(transport::Millis(0));
    if (!in) break;
    handle(*in);
  }
}

std::vector<std::string> RoundEngine::selectParticipants(std::int64_t round, std::size_t retry, double fraction) {
  // Enough participants, or the join deadline.
  awaitParticipants();
  std::vector<std::string> ready;
  for (auto& [name, peer] : peers_)
    if (peer.ready) ready.push_back(name);
  if (ready.size() < options_.minParticipants) {
    spdlog::warn("round {}: {} participants ready, {} needed", round, ready.size(), options_.minParticipants);
    return {};
  }
  // Seeded selection: the same seed, round and retry choose the same participants.
  std::mt19937_64 rng(options_.seed ^ (static_cast<std::uint64_t>(round) << 20) ^ retry);
  std::shuffle(ready.begin(), ready.end(), rng);
  auto want = std::max(options_.minParticipants,
                       static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(ready.size()))));
  if (options_.secure.enabled) want = std::min(want, secureMaxParticipants_);
  ready.resize(std::min(want, ready.size()));
  return ready;
}

bool RoundEngine::runRound(RoundMetrics& m) {
  const auto selected = selectParticipants(m.round, m.retries, options_.fraction);
  if (selected.empty()) return false;
  return options_.secure.enabled ? runSecureRound(m, selected) : runPlaintextRound(m, selected);
}

bool RoundEngine::runPlaintextRound(RoundMetrics& m, const std::vector<std::string>& ready) {
  if (m.retries == 0) {
    stageRound_ = m.round;
    updates_.reset();
    robustUpdates_.clear();
    lossSum_ = lossWeight_ = 0;
    awaitingUpdate_.clear();
    uploadQueue_.clear();
    uploadGrants_.clear();
  }
  // A retry keeps the updates already in (the round's parameters have not changed) and asks
  // again only those selected participants that have not answered; late answers still count.
  protocols::TrainConfig config = options_.train;
  config.seed = options_.train.seed + static_cast<std::uint64_t>(m.round);
  config.learningRate = roundLearningRate(options_, m.round);
  {
    // The transport holds the frame until the last peer has it; then it is freed at once.
    const auto round = static_cast<std::uint64_t>(m.round);
    const protocols::SecAggSetup plaintext;
    const std::string signature =
        signatureOf(protocols::roundStartStatement(round, config, params_, bnStatistics_, plaintext));
    const auto frame = transport::share(protocols::encodeFrame(
        protocols::RoundStartRef{config, params_, bnStatistics_, signature, plaintext}, round, 0));
    for (const auto& name : ready) {
      auto it = awaitingUpdate_.find(name);
      if (it != awaitingUpdate_.end() && !it->second) continue;  // already answered this round
      if (sendTo(name, frame)) awaitingUpdate_[name] = true;
    }
  }
  m.selected = awaitingUpdate_.size();

  auto trainStart = Clock::now();
  pump(trainStart + options_.stageTimeout, [&] { return allAnswered(awaitingUpdate_); });
  m.trainSeconds = std::chrono::duration<double>(Clock::now() - trainStart).count();
  if (reducesUpdates())
    m.received = static_cast<std::size_t>(
        std::count_if(awaitingUpdate_.begin(), awaitingUpdate_.end(), [](const auto& a) { return !a.second; }));
  else
    m.received = options_.aggregation.streaming() ? updates_.count() : robustUpdates_.size();
  for (auto& [name, waiting] : awaitingUpdate_)
    if (waiting) spdlog::warn("round {}: no update from {} before the deadline", m.round, name);
  if (m.received < options_.minParticipants) {
    spdlog::warn("round {}: {} updates arrived, {} needed; retrying with a fresh selection", m.round, m.received,
                 options_.minParticipants);
    return false;
  }
  {
    std::vector<float> aggregate;
    if (reducesUpdates()) {
      // A failed reduction keeps the contributors: the transport keeps their contributions.
      if (!reduceUpdates(m, aggregate)) return false;
    } else {
      aggregate = options_.aggregation.streaming() ? updates_.mean() : options_.aggregation.robust(robustUpdates_);
    }
    server_.apply(params_, aggregate);
  }  // the aggregate is gone before the evaluation request is encoded: the peak stays put
  robustUpdates_.clear();
  m.trainLoss = lossSum_ / lossWeight_;
  finishRound(m, ready);
  return true;
}

void RoundEngine::finishRound(RoundMetrics& m, const std::vector<std::string>& evaluators) {
  auto evalStart = Clock::now();
  if (options_.federatedEvaluation) evaluateFederated(evaluators, m);
  if (central_) m.centralAccuracy = central_(params_);
  m.evalSeconds = std::chrono::duration<double>(Clock::now() - evalStart).count();
}

void RoundEngine::evaluateFederated(const std::vector<std::string>& selected, RoundMetrics& m) {
  awaitingEval_.clear();
  evalAccuracySum_ = evalSamples_ = 0;
  const auto round = static_cast<std::uint64_t>(m.round);
  const std::string signature = signatureOf(protocols::evalRequestStatement(round, params_));
  const auto frame = transport::share(protocols::encodeFrame(protocols::EvalRequestRef{params_, signature}, round, 0));
  for (const auto& name : selected)
    if (sendTo(name, frame)) awaitingEval_[name] = true;
  pump(Clock::now() + options_.stageTimeout, [&] { return allAnswered(awaitingEval_); });
  if (evalSamples_ > 0) m.federatedAccuracy = evalAccuracySum_ / evalSamples_;
}

void RoundEngine::gatherBatchNormStatistics() {
  awaitParticipants();
  awaitingStats_.clear();
  statsSum_.clear();
  statsSamples_ = 0;
  statsReplies_ = 0;
  const auto request = transport::share(protocols::encodeFrame(protocols::StatsRequest{}, 0, 0));
  for (auto& [name, peer] : peers_)
    if (peer.ready && sendTo(name, request)) awaitingStats_[name] = true;
  pump(Clock::now() + options_.stageTimeout, [&] { return allAnswered(awaitingStats_); });
  awaitingStats_.clear();
  if (statsReplies_ < options_.minParticipants || statsSamples_ <= 0) {
    spdlog::warn("BatchNorm statistics from {} participants, {} needed: each adapts to its own data instead",
                 statsReplies_, options_.minParticipants);
    return;
  }
  bnStatistics_.resize(statsSum_.size());
  for (std::size_t i = 0; i < statsSum_.size(); ++i) bnStatistics_[i] = static_cast<float>(statsSum_[i] / statsSamples_);
  spdlog::info("pooled BatchNorm statistics of {} participants ({} samples)", statsReplies_, statsSamples_);
}

void RoundEngine::gatherSecureBatchNormStatistics() {
  if (options_.batchNormValues == 0) {
    spdlog::info("secure aggregation: the BatchNorm statistics count is unknown; each participant adapts to its own data");
    return;
  }
  for (int attempt = 0; attempt <= options_.maxRetriesPerRound; ++attempt) {
    RoundMetrics m;  // round 0: the statistics session, among everyone ready
    m.retries = static_cast<std::size_t>(attempt);
    const auto selected = selectParticipants(0, m.retries, 1.0);
    if (selected.empty()) continue;
    const bool pooled = runSecureStages(m, selected, /*statistics=*/true);
    secure_.reset();
    if (pooled) return;
  }
  spdlog::warn("secure aggregation: BatchNorm statistics could not be pooled in {} attempts; each participant adapts to "
               "its own data",
               options_.maxRetriesPerRound + 1);
}

// ---- Secure rounds ----
//
// One SecAgg session per attempt (protocols/secagg/server.h): the round start carries the
// setup, the advertisements say who trained, then share keys, masked inputs (under the upload
// window) and unmasking, each stage with its deadline. Whoever is asked and does not answer in
// time sits out until its next hello, so a retry selects among those that are still there.

bool RoundEngine::runSecureRound(RoundMetrics& m, const std::vector<std::string>& selected) {
  m.secure = true;
  m.selected = selected.size();
  m.received = 0;
  const bool summed = runSecureStages(m, selected);
  // Evaluated by the contributors still there (one that vanished at Unmask would cost a deadline).
  std::vector<std::string> contributors;
  if (summed)
    for (std::uint32_t id : secure_->server->result().contributors) {
      const auto peer = peers_.find(secure_->names.at(id));
      if (peer != peers_.end() && peer->second.ready) contributors.push_back(peer->first);
    }
  secure_.reset();  // the server's state and the sum go at once
  if (!summed) return false;
  finishRound(m, contributors);
  return true;
}

bool RoundEngine::runSecureStages(RoundMetrics& m, const std::vector<std::string>& selected, bool statistics) {
  const auto trainStart = Clock::now();
  if (!beginSecureRound(m, selected, statistics)) return false;
  awaitSecure(trainStart + options_.stageTimeout);  // training, then the advertisement
  m.trainSeconds = std::chrono::duration<double>(Clock::now() - trainStart).count();
  if (!closeSecureStage("advertise-keys")) return false;

  const auto round = static_cast<std::uint64_t>(m.round);
  SecureRound& s = *secure_;
  askSecure(MessageType::kSecAggShareKeysResponse, [&](std::uint32_t id) {
    return protocols::encodeFrame(protocols::SecAggShareKeysRequest{s.setup.session, s.server->shareKeysRequest(id)},
                                  round, 0);
  });
  awaitSecure(Clock::now() + options_.secureStageTimeout);
  if (!closeSecureStage("share-keys") || !collectMaskedInputs(m)) return false;

  if (s.server->stage() == secagg::Stage::kConsistencyCheck) {
    // Hardened mode: every contributor signs the one contributor set before anyone unmasks.
    askSecure(MessageType::kSecAggConsistencyCheckResponse, [&](std::uint32_t id) {
      return protocols::encodeFrame(
          protocols::SecAggConsistencyCheckRequest{s.setup.session, s.server->consistencyCheckRequest(id)}, round, 0);
    });
    awaitSecure(Clock::now() + options_.secureStageTimeout);
    if (!closeSecureStage("consistency-check")) return false;
  }

  askSecure(MessageType::kSecAggUnmaskResponse, [&](std::uint32_t id) {
    return protocols::encodeFrame(protocols::SecAggUnmaskRequest{s.setup.session, s.server->unmaskRequest(id)}, round,
                                  0);
  });
  awaitSecure(Clock::now() + options_.secureStageTimeout);
  return closeSecureStage("unmask") && applySecureSum(m);
}

bool RoundEngine::beginSecureRound(RoundMetrics& m, const std::vector<std::string>& selected, bool statistics) {
  stageRound_ = m.round;
  auto secure = std::make_unique<SecureRound>();
  secure->statistics = statistics;
  protocols::SecAggSetup& setup = secure->setup;
  const std::size_t n = selected.size();
  const SecureAggregationOptions& o = options_.secure;
  setup.session = static_cast<std::uint64_t>(m.round) * protocols::kSecAggAttemptsPerRound + m.retries;
  setup.neighbours = o.neighbours > 0 ? o.neighbours : secagg::defaultNeighbourCount(n);
  // Never below the safe threshold (more than half a neighbourhood), never above a neighbourhood.
  setup.threshold = std::clamp(o.threshold, secagg::defaultThreshold(n, setup.neighbours),
                               secagg::neighbourhoodSize(n, setup.neighbours));
  // The parameters (or statistics), then the loss; the weight rides after them.
  setup.dimension = (statistics ? options_.batchNormValues : params_.size()) + protocols::kSecAggLossCoordinates;
  setup.clip = statistics ? kStatisticsClip : o.clip;
  setup.bits = statistics ? statisticsBits(secureMaxParticipants_) : o.bits;
  for (const auto& name : selected) {
    const Peer& peer = peers_.at(name);
    setup.roster.push_back({peer.id, peer.identityKey});
    secure->names.emplace(peer.id, name);
    setup.weightScale = std::max<std::uint64_t>({setup.weightScale, peer.trainSamples, 1});
  }
  std::sort(setup.roster.begin(), setup.roster.end(), [](auto& a, auto& b) { return a.id < b.id; });
  setup.weightUnit = weightUnit(setup.weightScale, n);
  if (dpPlan_ && !statistics) {
    // Uniform weights: a sample count in the sum would sit outside the privacy guarantee.
    setup.weightScale = setup.weightUnit = 1;
    setup.dpL2Clip = options_.secure.differentialPrivacy->l2Clip;
    setup.dpSigma = dpPlan_->sigmaPerParticipant;
  }

  setup.consistencyCheck = o.consistencyCheck;

  secagg::SecAggConfig config{setup.session, {}, setup.threshold, setup.neighbours, setup.dimension};
  config.consistencyCheck = setup.consistencyCheck;
  auto identities = std::make_shared<secagg::IdentityTable>();
  for (const auto& member : setup.roster) {
    config.participants.push_back(member.id);
    identities->emplace(member.id, member.identityKey);
  }
  try {
    secure->server.emplace(std::make_shared<const secagg::RoundParameters>(std::move(config)), std::move(identities));
  } catch (const ConfigError& e) {
    spdlog::warn("round {}: no secure aggregation among these {} participants: {}", m.round, n, e.what());
    return false;
  }
  secure_ = std::move(secure);
  secure_->expecting = MessageType::kSecAggAdvertise;
  if (statistics) {
    const std::string signature = signatureOf(protocols::statsRequestStatement(0, setup));
    const auto frame = transport::share(protocols::encodeFrame(protocols::StatsRequest{setup, signature}, 0, 0));
    sendToRoster(frame, "stats-request");
    spdlog::info("pooling BatchNorm statistics under secure aggregation among {} (threshold {}, session {})", n,
                 setup.threshold, setup.session);
    return true;
  }

  protocols::TrainConfig train = options_.train;
  train.seed = options_.train.seed + static_cast<std::uint64_t>(m.round);
  train.learningRate = roundLearningRate(options_, m.round);
  const auto round = static_cast<std::uint64_t>(m.round);
  const std::string signature = signatureOf(protocols::roundStartStatement(round, train, params_, bnStatistics_, setup));
  const auto frame = transport::share(
      protocols::encodeFrame(protocols::RoundStartRef{train, params_, bnStatistics_, signature, setup}, round, 0));
  sendToRoster(frame, "round-start");
  spdlog::info("round {}: secure aggregation among {} (threshold {}, neighbourhoods of {}, session {})", m.round, n,
               setup.threshold, secure_->server->parameters().neighbourhoodSize(), setup.session);
  return true;
}

void RoundEngine::sendToRoster(const transport::SharedFrame& frame, const char* stage) {
  const auto& roster = secure_->setup.roster;
  std::vector<std::string> names;
  for (const auto& member : roster) names.push_back(secure_->names.at(member.id));
  const auto sent = sendToAll(names, frame);  // one broadcast where the transport has it
  for (std::size_t i = 0; i < roster.size(); ++i) {
    if (sent[i])
      secure_->pending.insert(roster[i].id);
    else
      benchSilent(roster[i].id, stage);
  }
}

void RoundEngine::askSecure(MessageType answer, const std::function<std::string(std::uint32_t)>& request) {
  SecureRound& s = *secure_;
  s.expecting = answer;
  s.pending.clear();
  for (std::uint32_t id : s.server->recipients()) {
    if (sendTo(s.names.at(id), transport::share(request(id))))
      s.pending.insert(id);
    else
      benchSilent(id, protocols::messageTypeName(answer));
  }
}

void RoundEngine::awaitSecure(Clock::time_point deadline) {
  pump(deadline, [&] { return secure_->pending.empty(); });
}

bool RoundEngine::closeSecureStage(const char* stage) {
  SecureRound& s = *secure_;
  for (std::uint32_t id : s.pending) benchSilent(id, stage);
  s.pending.clear();
  const secagg::Stage next = s.server->closeStage();
  logRejections();
  if (next != secagg::Stage::kAborted) return true;
  const auto& abort = *s.server->abortReason();
  spdlog::warn("round {}: secure aggregation aborted after {} ({}: {}); retrying with a fresh selection", stageRound_,
               stage, secagg::abortReasonName(abort.reason), abort.detail);
  return false;
}

bool RoundEngine::collectMaskedInputs(RoundMetrics& m) {
  SecureRound& s = *secure_;
  s.expecting = MessageType::kSecAggMaskedInput;
  const auto recipients = s.server->recipients();
  s.queue.assign(recipients.begin(), recipients.end());
  // Streamed, the inputs are summed here as they arrive; a transport that reduces sums them below.
  if (!hub_.reducesInTransport()) s.sum.assign(s.server->parameters().maskedLength(), 0);
  // Bounded without a stage deadline of its own: each request expires after uploadTimeout.
  const auto rounds = recipients.size() / uploadSlots() + 2;
  pump(Clock::now() + options_.uploadTimeout * static_cast<int>(rounds) + options_.secureStageTimeout,
       [&] { return s.queue.empty() && s.granted.empty(); });
  for (std::uint32_t id : recipients)
    if (!s.contributors.count(id)) benchSilent(id, "masked-input");
  s.granted.clear();
  s.queue.clear();
  m.received = s.contributors.size();
  // Unmasking reveals the sum: never for fewer than the minimum, so a retry cannot set two
  // sums of one round side by side that differ by a single participant.
  // Under differential privacy, never fewer than the noise was sized for either.
  const std::size_t needed = std::max<std::size_t>(
      {options_.minParticipants, s.server->parameters().threshold(),
       options_.secure.differentialPrivacy ? options_.secure.differentialPrivacy->minSurvivors : std::size_t{0}});
  if (s.contributors.size() < needed) {
    spdlog::warn("round {}: {} masked inputs arrived, {} needed; not unmasked, retrying with a fresh selection",
                 m.round, s.contributors.size(), needed);
    return false;
  }
  if (hub_.reducesInTransport()) {
    // Exactly the inputs counted here: the hub names the contributors, everyone else adds zeros.
    std::vector<std::string> names;
    for (std::uint32_t id : s.contributors) names.push_back(s.names.at(id));
    s.sum.assign(s.server->parameters().maskedLength(), 0);
    if (!hub_.reduceSum(s.setup.session, names, s.sum, options_.uploadTimeout + options_.secureStageTimeout)) {
      spdlog::warn("round {}: the transport's reduction of {} masked inputs failed; retrying with a fresh selection",
                   m.round, names.size());
      return false;
    }
  }
  const secagg::Stage next = s.server->setMaskedSum(std::move(s.sum), {s.contributors.begin(), s.contributors.end()});
  logRejections();
  if (next != secagg::Stage::kAborted) return true;
  const auto& abort = *s.server->abortReason();
  spdlog::warn("round {}: secure aggregation aborted after masked-input ({}: {}); retrying with a fresh selection",
               m.round, secagg::abortReasonName(abort.reason), abort.detail);
  return false;
}

void RoundEngine::grantMaskedInputs() {
  if (!secure_ || secure_->expecting != MessageType::kSecAggMaskedInput) return;
  SecureRound& s = *secure_;
  const auto now = Clock::now();
  for (auto it = s.granted.begin(); it != s.granted.end();) {
    if (now - it->second < options_.uploadTimeout) {
      ++it;
      continue;
    }
    // Not asked again: a SecAgg client masks once. A late input still counts while the stage is open.
    spdlog::warn("round {}: masked input from {} did not arrive in time; its slot goes to the next", stageRound_,
                 s.names.at(it->first));
    it = s.granted.erase(it);
  }
  // A reduction in the transport brings no vector to the coordinator: no window to respect.
  const std::size_t slots = hub_.reducesInTransport() ? s.queue.size() + s.granted.size() : uploadSlots();
  const auto round = static_cast<std::uint64_t>(stageRound_);
  while (!s.queue.empty() && s.granted.size() < slots) {
    const std::uint32_t id = s.queue.front();
    s.queue.pop_front();
    s.asked.insert(id);
    auto request = protocols::SecAggMaskedInputRequest{s.setup.session, s.server->maskedInputRequest(id)};
    if (sendTo(s.names.at(id), transport::share(protocols::encodeFrame(request, round, 0))))
      s.granted[id] = now;
    else
      benchSilent(id, "masked-input");
  }
}

void RoundEngine::onMaskedInput(const std::string& name, const protocols::FrameHeader& header,
                                std::string_view payload, std::size_t frameBytes) {
  const auto input = protocols::decodeMaskedInputView(header, payload);
  const auto peer = peers_.find(name);
  const bool awaited = secure_ && secure_->expecting == MessageType::kSecAggMaskedInput &&
                       header.round == static_cast<std::uint64_t>(stageRound_) &&
                       input.session == secure_->setup.session && peer != peers_.end() &&
                       secure_->asked.count(peer->second.id) && !secure_->contributors.count(peer->second.id);
  if (!awaited) {
    spdlog::warn("dropping masked input from {} for round {} (not awaited)", name, header.round);
    return;
  }
  SecureRound& s = *secure_;
  const std::uint32_t id = peer->second.id;
  s.granted.erase(id);  // its slot is free, whatever the input holds
  if (hub_.reducesInTransport()) {
    // The vector waits in the transport for its reduction; the frame only says it is there.
    FEDTL_ENFORCE(input.size() == 0, DecodeError, "masked input carries ", input.size(),
                  " ring elements; this transport sums them in its reduction and expects none");
  } else {
    FEDTL_ENFORCE(input.size() == s.sum.size(), DecodeError, "masked input holds ", input.size(),
                  " ring elements, the round needs ", s.sum.size());
    addPackedRing(s.sum, input.values);
  }
  s.contributors.insert(id);
  bytesUp_ += frameBytes;
}

std::optional<std::uint32_t> RoundEngine::secureAnswer(const std::string& name, const protocols::FrameHeader& header,
                                                       std::uint64_t session) {
  if (!secure_ || header.type != secure_->expecting || header.round != static_cast<std::uint64_t>(stageRound_) ||
      session != secure_->setup.session)
    return std::nullopt;
  const auto peer = peers_.find(name);
  if (peer == peers_.end() || !secure_->pending.erase(peer->second.id)) return std::nullopt;
  return peer->second.id;
}

void RoundEngine::handleSecure(const transport::Incoming& in, const protocols::FrameHeader& header,
                               std::string_view payload) {
  std::optional<std::uint32_t> from;
  std::uint64_t session = 0;
  // Decodes the message, and hands its body to the server when it is an awaited answer.
  const auto route = [&](auto message, auto receive) {
    session = message.session;
    if ((from = secureAnswer(in.peer, header, session))) ((*secure_->server).*receive)(*from, message.body);
  };
  switch (header.type) {
    case MessageType::kSecAggAdvertise:
      route(protocols::decodePayload<protocols::SecAggAdvertise>(header, payload), &secagg::Server::receiveAdvertisement);
      break;
    case MessageType::kSecAggShareKeysResponse:
      route(protocols::decodePayload<protocols::SecAggShareKeysResponse>(header, payload),
            &secagg::Server::receiveShares);
      break;
    case MessageType::kSecAggUnmaskResponse:
      route(protocols::decodePayload<protocols::SecAggUnmaskResponse>(header, payload),
            &secagg::Server::receiveUnmaskResponse);
      break;
    case MessageType::kSecAggConsistencyCheckResponse:
      route(protocols::decodePayload<protocols::SecAggConsistencyCheckResponse>(header, payload),
            &secagg::Server::receiveConsistencyResponse);
      break;
    default: return;
  }
  if (from)
    bytesUp_ += in.frame.bytes().size();
  else
    spdlog::warn("dropping {} from {} for round {} (SecAgg session {}; not awaited)",
                 protocols::messageTypeName(header.type), in.peer, header.round, session);
}

bool RoundEngine::applySecureSum(RoundMetrics& m) {
  const secagg::AggregateResult& result = secure_->server->result();
  const protocols::SecAggSetup& setup = secure_->setup;
  std::vector<float> mean(result.sum.size());
  try {
    const FixedPointCodec<Ring> codec(FixedPointConfig{setup.clip, setup.bits, secureMaxParticipants_});
    if (setup.differentialPrivacy())
      dp::decodeNoisySum(codec, Span<const Ring>(result.sum), result.contributors.size(), setup.dpSigma, Span<float>(mean));
    else
      codec.decodeSum(result.sum, result.contributors.size(), mean);
  } catch (const Error& e) {
    // Only a participant that masked values off the grid gets here: the round is lost, not the run.
    spdlog::warn("round {}: the secure aggregate does not decode ({}); retrying with a fresh selection", m.round,
                 e.what());
    return false;
  }
  // Σ w'/u in the ring, so Σ w' = u · that; the mean is W · Σ(w'/W)Δ / Σw'.
  const double weightSum = static_cast<double>(result.weightSum) * static_cast<double>(setup.weightUnit);
  if (weightSum <= 0) {
    spdlog::warn("round {}: the secure aggregate carries no weight; retrying with a fresh selection", m.round);
    return false;
  }
  const double scale = static_cast<double>(setup.weightScale) / weightSum;
  if (secure_->statistics) {
    mean.resize(options_.batchNormValues);
    bnStatistics_.resize(mean.size());
    for (std::size_t i = 0; i < mean.size(); ++i) bnStatistics_[i] = static_cast<float>(mean[i] * scale);
    spdlog::info("pooled BatchNorm statistics of {} participants ({} samples) under secure aggregation",
                 result.contributors.size(), weightSum);
    return true;
  }
  if (setup.differentialPrivacy()) {
    accountant_.addRounds(dpPlan_->round(result.contributors.size()));
    m.epsilon = accountant_.epsilon(options_.secure.differentialPrivacy->delta);
    m.trainLoss = -1;  // not reported: outside the guarantee
  } else {
    m.trainLoss = secureLoss(mean, scale, setup, result.contributors.size());
  }
  mean.resize(params_.size());
  for (float& v : mean) v = static_cast<float>(v * scale);
  server_.apply(params_, mean);
  m.received = result.contributors.size();
  return true;
}

void RoundEngine::benchSilent(std::uint32_t id, const char* stage) {
  const std::string& name = secure_->names.at(id);
  const auto peer = peers_.find(name);
  if (peer == peers_.end() || peer->second.id != id || !peer->second.ready) return;  // gone, or already benched
  peer->second.ready = false;
  spdlog::warn("round {}: no {} answer from {} in time; it sits out until it says hello again", stageRound_, stage,
               name);
}

void RoundEngine::logRejections() {
  const auto& rejections = secure_->server->rejections();
  for (std::size_t i = secure_->rejectionsLogged; i < rejections.size(); ++i) {
    const secagg::Rejection& r = rejections[i];
    const auto name = secure_->names.find(r.participant);
    spdlog::warn("round {}: SecAgg {} message of {} refused ({}): {}", stageRound_, secagg::stageName(r.stage),
                 name != secure_->names.end() ? name->second : std::to_string(r.participant),
                 secagg::rejectionReasonName(r.reason), r.detail);
  }
  secure_->rejectionsLogged = rejections.size();
}

void RoundEngine::run() {
  if (options_.federatedBatchNorm && !options_.train.localBatchNorm && bnStatistics_.empty() && nextRound_ == 1) {
    // Under secure aggregation the coordinator sees only the pooled statistics, never one
    // participant's.
    if (dpPlan_ && options_.batchNormValues > 0)
      spdlog::info("differential privacy: BatchNorm statistics are not pooled (they would fall outside the guarantee); "
                   "each participant adapts to its own data");
    else if (options_.secure.enabled && !dpPlan_)
      gatherSecureBatchNormStatistics();
    else
      gatherBatchNormStatistics();
  }
  for (; nextRound_ <= options_.rounds; ++nextRound_) {
    RoundMetrics m;
    m.round = nextRound_;
    auto start = Clock::now();
    bytesUp_ = bytesDown_ = 0;
    while (!runRound(m)) {
      FEDTL_ENFORCE(static_cast<int>(++m.retries) <= options_.maxRetriesPerRound, Error, "round ", m.round,
                    " could not gather ", options_.minParticipants, " participants in ", options_.maxRetriesPerRound + 1,
                    " attempts; start more participants or lower the minimum");
    }
    m.bytesUp = bytesUp_;
    m.bytesDown = bytesDown_;
    m.totalSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (onRound_) onRound_(m, params_);
  }
  const auto bye = transport::share(protocols::encodeFrame(protocols::Bye{"training finished"}, 0, 0));
  for (auto& [name, peer] : peers_) hub_.send(name, bye, kSendTimeout);
}

}  // namespace fedtl::coordinator
