#include "coordinator/round_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "common/error.h"
#include "protocols/signing.h"

namespace fedtl::coordinator {
namespace {

using protocols::DecodeError;
using protocols::MessageType;

constexpr transport::Millis kSendTimeout{2000};
constexpr transport::Millis kPumpSlice{100};
constexpr std::chrono::seconds kBackboneResendInterval{10};

}  // namespace

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
  backboneSignature_ = signatureOf(protocols::backboneStatement(backboneDigest_));
}

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
}

std::size_t RoundEngine::readyParticipants() const {
  return static_cast<std::size_t>(std::count_if(peers_.begin(), peers_.end(), [](auto& p) { return p.second.ready; }));
}

bool RoundEngine::sendTo(const std::string& name, const transport::SharedFrame& frame) {
  bool ok = hub_.send(name, frame, kSendTimeout);
  if (ok) bytesDown_ += frame->size();
  return ok;
}

bool RoundEngine::pump(Clock::time_point deadline, const std::function<bool()>& done) {
  while (!done()) {
    auto now = Clock::now();
    if (now >= deadline) return false;
    auto wait = std::min<transport::Millis>(kPumpSlice, std::chrono::duration_cast<transport::Millis>(deadline - now));
    if (auto in = hub_.receive(wait)) handle(*in);
    grantUploads();
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
        protocols::validate(hello);
        FEDTL_ENFORCE(hello.participantName == in.peer, DecodeError, "hello names '", hello.participantName,
                      "' but the connection is '", in.peer, "'");
        onHello(in.peer, hello);
        return;
      }
      case MessageType::kHeartbeat: return;
      case MessageType::kBye:
        peers_.erase(in.peer);
        spdlog::info("participant {} left", in.peer);
        return;
      case MessageType::kUploadReady: onUploadReady(in.peer, header); return;
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

void RoundEngine::onUploadReady(const std::string& name, const protocols::FrameHeader& header) {
  protocols::decodePayload<protocols::UploadReady>(header, {});
  auto it = awaitingUpdate_.find(name);
  if (header.round != static_cast<std::uint64_t>(stageRound_) || it == awaitingUpdate_.end() || !it->second) return;
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
  // The window counts whole updates: at least one is always in flight.
  const std::uint64_t updateBytes = params_.size() * sizeof(float) + protocols::kFrameHeaderSize + 24;
  const std::size_t slots = std::max<std::uint64_t>(1, options_.uploadWindowBytes / updateBytes);
  while (!uploadQueue_.empty() && uploadGrants_.size() < slots) {
    std::string name = std::move(uploadQueue_.front());
    uploadQueue_.pop_front();
    auto grant = transport::share(protocols::encodeFrame(protocols::UploadGrant{}, stageRound_, 0));
    if (sendTo(name, grant)) uploadGrants_[name] = now;
  }
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
  auto [it, fresh] = peers_.try_emplace(name);
  Peer& peer = it->second;
  const bool wasReady = peer.ready;
  if (fresh) peer.id = nextId_++;
  peer.trainSamples = hello.trainSamples;
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

bool RoundEngine::runRound(RoundMetrics& m) {
  // Enough participants, or the join deadline.
  pump(Clock::now() + options_.joinTimeout, [&] { return readyParticipants() >= options_.minParticipants; });
  std::vector<std::string> ready;
  for (auto& [name, peer] : peers_)
    if (peer.ready) ready.push_back(name);
  if (ready.size() < options_.minParticipants) {
    spdlog::warn("round {}: {} participants ready, {} needed", m.round, ready.size(), options_.minParticipants);
    return false;
  }
  // Seeded selection: the same seed, round and retry choose the same participants.
  std::mt19937_64 rng(options_.seed ^ (static_cast<std::uint64_t>(m.round) << 20) ^ m.retries);
  std::shuffle(ready.begin(), ready.end(), rng);
  auto want = std::max(options_.minParticipants,
                       static_cast<std::size_t>(std::ceil(options_.fraction * static_cast<double>(ready.size()))));
  ready.resize(std::min(want, ready.size()));

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
    const std::string signature = signatureOf(protocols::roundStartStatement(round, config, params_, bnStatistics_));
    const auto frame = transport::share(
        protocols::encodeFrame(protocols::RoundStartRef{config, params_, bnStatistics_, signature}, round, 0));
    for (const auto& name : ready) {
      auto it = awaitingUpdate_.find(name);
      if (it != awaitingUpdate_.end() && !it->second) continue;  // already answered this round
      if (sendTo(name, frame)) awaitingUpdate_[name] = true;
    }
  }
  m.selected = awaitingUpdate_.size();

  auto trainStart = Clock::now();
  pump(trainStart + options_.stageTimeout, [&] {
    return std::none_of(awaitingUpdate_.begin(), awaitingUpdate_.end(), [](auto& a) { return a.second; });
  });
  m.trainSeconds = std::chrono::duration<double>(Clock::now() - trainStart).count();
  m.received = options_.aggregation.streaming() ? updates_.count() : robustUpdates_.size();
  for (auto& [name, waiting] : awaitingUpdate_)
    if (waiting) spdlog::warn("round {}: no update from {} before the deadline", m.round, name);
  if (m.received < options_.minParticipants) {
    spdlog::warn("round {}: {} updates arrived, {} needed; retrying with a fresh selection", m.round, m.received,
                 options_.minParticipants);
    return false;
  }
  server_.apply(params_, options_.aggregation.streaming() ? updates_.mean() : options_.aggregation.robust(robustUpdates_));
  robustUpdates_.clear();
  m.trainLoss = lossSum_ / lossWeight_;

  auto evalStart = Clock::now();
  if (options_.federatedEvaluation) evaluateFederated(ready, m);
  if (central_) m.centralAccuracy = central_(params_);
  m.evalSeconds = std::chrono::duration<double>(Clock::now() - evalStart).count();
  return true;
}

void RoundEngine::evaluateFederated(const std::vector<std::string>& selected, RoundMetrics& m) {
  awaitingEval_.clear();
  evalAccuracySum_ = evalSamples_ = 0;
  const auto round = static_cast<std::uint64_t>(m.round);
  const std::string signature = signatureOf(protocols::evalRequestStatement(round, params_));
  const auto frame = transport::share(protocols::encodeFrame(protocols::EvalRequestRef{params_, signature}, round, 0));
  for (const auto& name : selected)
    if (sendTo(name, frame)) awaitingEval_[name] = true;
  pump(Clock::now() + options_.stageTimeout, [&] {
    return std::none_of(awaitingEval_.begin(), awaitingEval_.end(), [](auto& a) { return a.second; });
  });
  if (evalSamples_ > 0) m.federatedAccuracy = evalAccuracySum_ / evalSamples_;
}

void RoundEngine::gatherBatchNormStatistics() {
  pump(Clock::now() + options_.joinTimeout, [&] { return readyParticipants() >= options_.minParticipants; });
  awaitingStats_.clear();
  statsSum_.clear();
  statsSamples_ = 0;
  statsReplies_ = 0;
  const auto request = transport::share(protocols::encodeFrame(protocols::StatsRequest{}, 0, 0));
  for (auto& [name, peer] : peers_)
    if (peer.ready && sendTo(name, request)) awaitingStats_[name] = true;
  pump(Clock::now() + options_.stageTimeout, [&] {
    return std::none_of(awaitingStats_.begin(), awaitingStats_.end(), [](auto& a) { return a.second; });
  });
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

void RoundEngine::run() {
  if (options_.federatedBatchNorm && !options_.train.localBatchNorm && bnStatistics_.empty() && nextRound_ == 1)
    gatherBatchNormStatistics();
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
