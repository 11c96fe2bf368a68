#include "participant/session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common/crypto/mask_prg.h"
#include "common/crypto/random.h"
#include "common/crypto/sha256.h"
#include "common/dp/clip.h"
#include "common/dp/discrete_gaussian.h"
#include "common/error.h"
#include "common/fixed_point.h"
#include "protocols/checkpoint_format.h"
#include "protocols/secagg/client.h"
#include "protocols/signing.h"

namespace fedtl::participant {
namespace {
using Clock = std::chrono::steady_clock;
using protocols::MessageType;
using secagg::Ring;

constexpr std::size_t kEncodeChunk = 4096;  // values scaled at a time: no second copy of the update

// What a retried attempt must match to reuse the trained update: the round and everything the
// training depends on, not the SecAgg setup or the signature.
std::string trainingDigest(std::uint64_t round, const protocols::RoundStart& start) {
  crypto::Sha256 hash;
  hash.update(&round, sizeof round);
  hash.update(protocols::encode(start.config));
  hash.update(start.parameters.data(), start.parameters.size() * sizeof(float));
  hash.update(start.batchNormStatistics.data(), start.batchNormStatistics.size() * sizeof(float));
  return crypto::toHex(hash.finish());
}

std::string describe(const secagg::Abort& abort) {
  return std::string(secagg::abortReasonName(abort.reason)) + ": " + abort.detail;
}

}  // namespace

// One secure attempt in progress: its SecAgg client and, until masked, the encoded update.
struct ParticipantSession::SecureAttempt {
  std::uint64_t round = 0;    // the frames' round
  std::uint64_t session = 0;  // the SecAgg round id
  std::optional<secagg::Client> client;
  std::vector<Ring> encoded;  // Δ·(w'/W), then the scaled losses, on the fixed-point grid
  Ring weight = 0;            // w'/u
};

namespace {

// Encodes the update as SecAggSetup describes: Δ·(w'/W) and the loss, clipped to ±c and
// stochastically rounded from a fresh secure seed, with w'/u as the weight. Returns the largest
// weighted value, for the log (how close the update comes to the clip).
float encodeUpdate(const protocols::Update& update, const protocols::SecAggSetup& setup,
                  const FixedPointCodec<Ring>& codec, std::uint64_t round, const std::string& name,
                  const std::optional<std::uint64_t>& deterministicRoundingSeed, std::vector<Ring>& encoded,
                  Ring& weight) {
  if (update.trainSamples > setup.weightScale && !setup.differentialPrivacy())
    spdlog::warn("{}: round {}: {} training samples, more than the round's weight scale {}; weighted as {}", name,
                 round, update.trainSamples, setup.weightScale, setup.weightScale);
  const std::uint64_t units = std::min(update.trainSamples, setup.weightScale) / setup.weightUnit;
  double factor = static_cast<double>(units * setup.weightUnit) / static_cast<double>(setup.weightScale);
  weight = static_cast<Ring>(units);  // at most W/u, which the coordinator keeps below 2^32 / n
  const std::size_t count = update.delta.size();
  if (setup.differentialPrivacy()) {
    // L2 clipping bounds what one participant can move the sum by, which the noise is sized
    // for; the margin covers the rounding of the scaled values to float.
    const double norm = dp::l2Norm(Span<const float>(update.delta.data(), count));
    if (norm > setup.dpL2Clip) {
      factor *= setup.dpL2Clip / norm * (1 - 1e-6);
      spdlog::info("{}: round {}: update L2 norm {:.4g} clipped to {:.4g} (differential privacy)", name, round, norm,
                   setup.dpL2Clip);
    }
  }
  encoded.resize(count + protocols::kSecAggLossCoordinates);
  crypto::MaskPrg rounding = [&] {
    if (!deterministicRoundingSeed) return crypto::MaskPrg(crypto::randomSecret(crypto::MaskPrg::kSeedSize));
    // Test only (SessionOptions::deterministicRoundingSeed): the same seed and round round alike.
    crypto::Sha256 hash;
    const std::string tag = "fedtl test-only deterministic rounding";
    hash.update(tag.data(), tag.size());
    hash.update(&*deterministicRoundingSeed, sizeof *deterministicRoundingSeed);
    hash.update(&round, sizeof round);
    const auto seed = hash.finish();
    return crypto::MaskPrg(seed);
  }();
  std::vector<float> chunk(std::min(count, kEncodeChunk));
  std::size_t clipped = 0;
  float largest = 0;
  for (std::size_t begin = 0; begin < count; begin += kEncodeChunk) {
    const std::size_t n = std::min(kEncodeChunk, count - begin);
    for (std::size_t j = 0; j < n; ++j) {
      chunk[j] = static_cast<float>(update.delta[begin + j] * factor);
      largest = std::max(largest, std::abs(chunk[j]));
      clipped += std::abs(chunk[j]) > setup.clip ? 1 : 0;
    }
    codec.encode(Span<const float>(chunk.data(), n), Span<Ring>(encoded.data() + begin, n), rounding);
  }
  float losses[protocols::kSecAggLossCoordinates];
  for (std::size_t i = 0; i < protocols::kSecAggLossCoordinates; ++i) {
    const double scale = protocols::kSecAggLossScales[i];
    // Under differential privacy the loss stays home: it would sit outside the guarantee.
    const double loss = setup.differentialPrivacy() ? 0.0 : std::clamp(update.trainLoss, 0.0, scale);
    losses[i] = static_cast<float>(factor * loss / scale * setup.clip);
  }
  codec.encode(losses, Span<Ring>(encoded.data() + count, protocols::kSecAggLossCoordinates), rounding);
  if (setup.differentialPrivacy()) {
    // This participant's share of the noise, from a fresh secret seed whatever the rounding's.
    crypto::MaskPrg noise(crypto::randomSecret(crypto::MaskPrg::kSeedSize));
    dp::addDiscreteGaussian(Span<Ring>(encoded.data(), count), setup.dpSigma, noise);
  }
  if (clipped > 0)
    spdlog::warn("{}: round {}: {} of {} weighted update values exceed the secure aggregation clip ±{} and are "
                 "clipped (raise --secagg-clip on the coordinator)",
                 name, round, clipped, count, setup.clip);
  return largest;
}

}  // namespace

ParticipantSession::ParticipantSession(transport::Link& link, LocalTrainer& trainer, SessionOptions options)
    : link_(link),
      trainer_(trainer),
      options_(std::move(options)),
      identity_(options_.identityKey ? crypto::ed25519KeyPairFromPrivate(*options_.identityKey)
                                     : crypto::generateEd25519KeyPair()) {}

ParticipantSession::~ParticipantSession() = default;

// The update waits here until the coordinator grants the upload (its flow control). Over a
// transport that reduces, the announcement alone may be the upload (round_engine.h).
void ParticipantSession::announceUpdate() {
  uploadPending_ = true;
  link_.send(protocols::encodeFrame(protocols::UploadReady{}, lastRound_, id_), options_.sendTimeout);
}

void ParticipantSession::checkSigned(const std::vector<std::uint8_t>& statement, const std::string& signature,
                                     const char* what) const {
  if (!options_.coordinatorKey) return;
  crypto::Ed25519Signature sig{};
  const bool wellFormed = signature.size() == sig.size();
  if (wellFormed) std::memcpy(sig.data(), signature.data(), sig.size());
  FEDTL_ENFORCE(wellFormed && crypto::ed25519Verify(*options_.coordinatorKey, statement, sig), protocols::DecodeError,
                what, " is not signed by the pinned coordinator key; refused");
}

void ParticipantSession::sayHello() {
  lastHello_ = Clock::now();
  const auto& key = identity_.publicKey;
  protocols::Hello hello{link_.name(), trainer_.cachedBackbone(), trainer_.trainSamples(),
                         std::string(key.begin(), key.end())};
  link_.send(protocols::encodeFrame(hello, 0, id_), options_.sendTimeout);
}

SessionReport ParticipantSession::run(const std::function<bool()>& stop) {
  SessionReport report;
  sayHello();
  auto lastHeard = Clock::now(), lastAnnounced = Clock::now();
  while (!finished_ && !stop()) {
    auto frame = link_.receive(transport::Millis(100));
    if (!frame) {
      const auto now = Clock::now();
      // A grant or the update itself can be lost with a dropped connection: announce again.
      if (uploadPending_ && now - lastHeard > options_.announceInterval &&
          now - lastAnnounced > options_.announceInterval) {
        announceUpdate();
        lastAnnounced = now;
      }
      if (now - lastHeard > options_.helloInterval) {
        sayHello();
        lastHeard = now;
      }
      continue;
    }
    lastHeard = Clock::now();
    try {
      handle(frame->bytes(), report);
    } catch (const Error& e) {
      spdlog::warn("{}: rejected frame from the coordinator: {}", link_.name(), e.what());
      // Ask for the backbone again rather than sit idle, but not in a loop with a coordinator
      // whose answers keep failing (a wrong pin, a corrupt download): once per hello interval.
      if (!haveBackbone_ && Clock::now() - lastHello_ >= options_.helloInterval) sayHello();
    }
  }
  report.endReason = finished_ ? endReason_ : "stopped";
  return report;
}

void ParticipantSession::handle(std::string_view frame, SessionReport& report) {
  auto header = protocols::decodeFrameHeader(frame, options_.limits);
  FEDTL_ENFORCE(header.sender == 0, protocols::DecodeError, "frame does not come from the coordinator");
  std::string_view payload = frame.substr(protocols::kFrameHeaderSize);
  switch (header.type) {
    case MessageType::kWelcome: {
      auto w = protocols::decodePayload<protocols::Welcome>(header, payload);
      protocols::validate(w);
      checkSigned(protocols::backboneStatement(w.backboneDigest), w.signature, "the backbone digest");
      id_ = w.participantId;
      // A repeated welcome (our hellos crossed) may announce a backbone that the coordinator's
      // rate limit then holds back: one already verified under the same digest still counts.
      const bool sameBackbone = haveBackbone_ && expectedBackbone_ == w.backboneDigest;
      expectedBackbone_ = w.backboneDigest;
      haveBackbone_ = sameBackbone || (!w.backboneFollows && trainer_.cachedBackbone() == w.backboneDigest);
      return;
    }
    case MessageType::kBackbone: {
      auto b = protocols::decodePayload<protocols::BackboneData>(header, payload);
      auto actual = protocols::checkpointDigestHex(b.checkpoint, "received backbone");
      FEDTL_ENFORCE(!expectedBackbone_.empty() && b.digest == expectedBackbone_ && actual == expectedBackbone_,
                    protocols::DecodeError, "backbone bytes do not match the announced digest; refused");
      trainer_.setBackbone(b.digest, b.checkpoint);
      haveBackbone_ = true;
      return;
    }
    case MessageType::kRoundStart: onRoundStart(header, payload, report); return;
    case MessageType::kSecAggShareKeysRequest:
      answerSecure<protocols::SecAggShareKeysRequest, protocols::SecAggShareKeysResponse>(
          header, payload, secagg::Stage::kShareKeys, "share-keys",
          [](secagg::Client& client, const secagg::ShareKeysRequest& body) { return client.shareKeys(body); });
      return;
    case MessageType::kSecAggMaskedInputRequest: onMaskedInputRequest(header, payload); return;
    case MessageType::kSecAggConsistencyCheckRequest:
      answerSecure<protocols::SecAggConsistencyCheckRequest, protocols::SecAggConsistencyCheckResponse>(
          header, payload, secagg::Stage::kConsistencyCheck, "consistency-check",
          [](secagg::Client& client, const secagg::ConsistencyCheckRequest& body) {
            return client.consistencyCheck(body);
          });
      return;
    case MessageType::kSecAggUnmaskRequest: onUnmaskRequest(header, payload); return;
    case MessageType::kUploadGrant: {
      protocols::decodePayload<protocols::UploadGrant>(header, payload);
      if (header.round != lastRound_ || lastUpdate_.empty()) return;  // a grant for an older round
      link_.send(lastUpdate_, options_.sendTimeout);
      return;
    }
    case MessageType::kEvalRequest: {
      FEDTL_ENFORCE(haveBackbone_, protocols::DecodeError, "evaluation request before a backbone");
      uploadPending_ = false;  // the coordinator has closed the round
      if (secure_) dropSecureAttempt("the coordinator closed the round");
      trainedDigest_.clear();
      trained_ = {};
      auto req = protocols::decodePayload<protocols::EvalRequest>(header, payload);
      checkSigned(protocols::evalRequestStatement(header.round, req.parameters), req.signature, "the evaluation request");
      auto result = trainer_.evaluate(req.parameters);
      link_.send(protocols::encodeFrame(result, header.round, id_), options_.sendTimeout);
      ++report.evaluations;
      return;
    }
    case MessageType::kStatsRequest: {
      FEDTL_ENFORCE(haveBackbone_, protocols::DecodeError, "statistics request before a backbone");
      auto request = protocols::decodePayload<protocols::StatsRequest>(header, payload);
      if (!request.secure.enabled()) {
        protocols::Stats stats{trainer_.trainSamples(), trainer_.batchNormStatistics()};
        link_.send(protocols::encodeFrame(stats, header.round, id_), options_.sendTimeout);
        return;
      }
      checkSigned(protocols::statsRequestStatement(header.round, request.secure), request.signature,
                  "the statistics request");
      secure_.reset();
      // The statistics take the place of an update (weighted by the training samples, no loss).
      protocols::Update statistics;
      startSecureAttempt(header.round, request.secure, [&]() -> const protocols::Update& {
        statistics.trainSamples = trainer_.trainSamples();
        statistics.delta = trainer_.batchNormStatistics();
        return statistics;
      });
      return;
    }
    case MessageType::kBye: {
      secure_.reset();
      endReason_ = protocols::decodePayload<protocols::Bye>(header, payload).reason;
      finished_ = true;
      return;
    }
    case MessageType::kHeartbeat: return;
    default:
      throw protocols::DecodeError(std::string("the coordinator may not send ") + protocols::messageTypeName(header.type));
  }
}

void ParticipantSession::onRoundStart(const protocols::FrameHeader& header, std::string_view payload,
                                      SessionReport& report) {
  FEDTL_ENFORCE(haveBackbone_, protocols::DecodeError, "round start before a verified backbone; ignored");
  uploadPending_ = false;
  secure_.reset();  // a new round start ends any attempt in progress
  auto startDigest = crypto::toHex(crypto::sha256(payload.data(), payload.size()));
  if (header.round == lastRound_ && startDigest == lastStartDigest_ && !lastUpdate_.empty()) {
    announceUpdate();
    return;
  }
  auto start = protocols::decodePayload<protocols::RoundStart>(header, payload);
  protocols::validate(start.config);
  checkSigned(protocols::roundStartStatement(header.round, start.config, start.parameters, start.batchNormStatistics,
                                             start.secure),
              start.signature, "the round start");
  if (start.secure.enabled()) {
    protocols::validate(start.secure, start.parameters.size());  // before training, not after
    return startSecureAttempt(header.round, start.secure,
                              [&]() -> const protocols::Update& { return trainOnce(header.round, start, report); });
  }
  auto update = trainer_.train(start);
  lastRound_ = header.round;
  lastStartDigest_ = startDigest;
  if (link_.reducesInTransport()) {
    // Staged for the coordinator's float reduction (MPI) under the round: w·Δ, then w and
    // w·loss, so the sum carries its own total weight. The frame below stays ready as well, for
    // a coordinator that wants each update on its own (robust aggregation) and grants it.
    const auto w = static_cast<float>(static_cast<double>(update.trainSamples));
    std::vector<float> weighted(update.delta.size() + 2);
    for (std::size_t i = 0; i < update.delta.size(); ++i) weighted[i] = w * update.delta[i];
    weighted[update.delta.size()] = w;
    weighted[update.delta.size() + 1] = static_cast<float>(update.trainLoss * static_cast<double>(update.trainSamples));
    if (!link_.contributeFloat(header.round, std::move(weighted), options_.sendTimeout))
      spdlog::warn("{}: round {}: the transport did not take the weighted update", link_.name(), header.round);
  }
  lastUpdate_ = protocols::encodeFrame(update, header.round, id_);
  update = {};
  announceUpdate();
  ++report.roundsTrained;
}

const protocols::Update& ParticipantSession::trainOnce(std::uint64_t round, const protocols::RoundStart& start,
                                                       SessionReport& report) {
  auto digest = trainingDigest(round, start);
  if (digest == trainedDigest_) return trained_;
  trainedDigest_.clear();
  trained_ = {};
  trained_ = trainer_.train(start);
  FEDTL_ENFORCE(trained_.delta.size() == start.parameters.size(), Error, "local training returned ",
                trained_.delta.size(), " values for ", start.parameters.size(), " parameters");
  trainedDigest_ = std::move(digest);
  ++report.roundsTrained;
  return trained_;
}

void ParticipantSession::startSecureAttempt(std::uint64_t round, const protocols::SecAggSetup& setup,
                                            const std::function<const protocols::Update&()>& produce) {
  FEDTL_ENFORCE(setup.session / protocols::kSecAggAttemptsPerRound == round, protocols::DecodeError,
                "secure aggregation session ", setup.session, " does not belong to round ", round);
  FEDTL_ENFORCE(setup.consistencyCheck || !options_.requireConsistencyCheck, protocols::DecodeError,
                "the coordinator runs secure aggregation without the ConsistencyCheck stage (hardened mode), which "
                "would let it unmask this participant's update; refused (start the participant with "
                "--allow-unhardened-secagg to accept)");
  secagg::SecAggConfig config{setup.session, {}, setup.threshold, setup.neighbours, setup.dimension};
  config.consistencyCheck = setup.consistencyCheck;
  auto identities = std::make_shared<secagg::IdentityTable>();
  for (const protocols::SecAggMember& member : setup.roster) {
    config.participants.push_back(member.id);
    identities->emplace(member.id, member.identityKey);
  }
  const auto self = identities->find(id_);
  FEDTL_ENFORCE(self != identities->end(), protocols::DecodeError, "the secure aggregation roster of round ", round,
                " leaves out this participant (id ", id_, ")");
  FEDTL_ENFORCE(self->second == identity_.publicKey, protocols::DecodeError, "the secure aggregation roster of round ",
                round, " carries another identity key for this participant; refused");
  // Refuses (ConfigError) a threshold at most half a neighbourhood, or an encoding whose sum could wrap.
  auto params = std::make_shared<const secagg::RoundParameters>(std::move(config));
  const FixedPointCodec<Ring> codec(FixedPointConfig{setup.clip, setup.bits, setup.roster.size()});

  const protocols::Update& update = produce();
  protocols::validate(setup, update.delta.size());
  auto attempt = std::make_unique<SecureAttempt>();
  attempt->round = round;
  attempt->session = setup.session;
  const float largest = encodeUpdate(update, setup, codec, round, link_.name(), options_.deterministicRoundingSeed,
                                     attempt->encoded, attempt->weight);
  attempt->client.emplace(params, std::move(identities), id_, identity_.privateKey);
  // The advertisement doubles as "training done".
  protocols::SecAggAdvertise advertise{setup.session, attempt->client->advertiseKeys()};
  secure_ = std::move(attempt);
  sendSecure(protocols::encodeFrame(advertise, round, id_));
  spdlog::info("{}: round {}: secure aggregation among {} (threshold {}), keys advertised; largest weighted update "
               "value {:.3g} (clip ±{})",
               link_.name(), round, setup.roster.size(), setup.threshold, largest, setup.clip);
}

template <class Request>
std::optional<Request> ParticipantSession::secureRequest(const protocols::FrameHeader& header,
                                                         std::string_view payload) {
  auto request = protocols::decodePayload<Request>(header, payload);
  if (!secure_ || secure_->round != header.round || secure_->session != request.session) {
    spdlog::warn("{}: ignoring {} for round {} (SecAgg session {}): no such attempt in progress", link_.name(),
                 protocols::messageTypeName(header.type), header.round, request.session);
    return std::nullopt;
  }
  return request;
}

template <class Request, class Response, class Step>
bool ParticipantSession::answerSecure(const protocols::FrameHeader& header, std::string_view payload,
                                      secagg::Stage stage, const char* what, Step step) {
  auto request = secureRequest<Request>(header, payload);
  if (!request) return false;
  if (secure_->client->stage() != stage) {
    dropSecureAttempt(std::string(what) + " request out of order");
    return false;
  }
  auto outcome = step(*secure_->client, request->body);
  if (!outcome) {
    dropSecureAttempt(describe(outcome.abort()));
    return false;
  }
  sendSecure(protocols::encodeFrame(Response{secure_->session, std::move(outcome).value()}, secure_->round, id_));
  return true;
}

void ParticipantSession::onMaskedInputRequest(const protocols::FrameHeader& header, std::string_view payload) {
  auto request = secureRequest<protocols::SecAggMaskedInputRequest>(header, payload);
  if (!request) return;
  if (secure_->client->stage() != secagg::Stage::kMaskedInput)
    return dropSecureAttempt("masked-input request out of order");
  auto outcome = secure_->client->maskInput(request->body, secure_->encoded, secure_->weight);
  secure_->encoded = {};  // masked or aborted: the plain encoding is not needed again
  if (!outcome) return dropSecureAttempt(describe(outcome.abort()));
  secagg::MaskedInput input = std::move(outcome).value();
  if (link_.reducesInTransport()) {
    // The transport sums the vector in its reduction (MPI_Reduce); the frame only says it is there.
    if (!link_.contribute(secure_->session, std::move(input.masked), options_.sendTimeout))
      return dropSecureAttempt("the transport did not take the masked input");
    input.masked = {};
  }
  std::string frame =
      protocols::encodeFrame(protocols::SecAggMaskedInput{secure_->session, std::move(input)}, secure_->round, id_);
  sendSecure(frame);
}

void ParticipantSession::onUnmaskRequest(const protocols::FrameHeader& header, std::string_view payload) {
  const bool answered = answerSecure<protocols::SecAggUnmaskRequest, protocols::SecAggUnmaskResponse>(
      header, payload, secagg::Stage::kUnmask, "unmask",
      [](secagg::Client& client, const secagg::UnmaskRequest& body) { return client.unmask(body); });
  if (!answered) return;
  spdlog::info("{}: round {}: secure aggregation done on this side", link_.name(), secure_->round);
  secure_.reset();
}

void ParticipantSession::sendSecure(const std::string& frame) {
  if (!link_.send(frame, options_.sendTimeout))
    spdlog::warn("{}: could not send a secure aggregation message in time", link_.name());
}

void ParticipantSession::dropSecureAttempt(const std::string& why) {
  if (!secure_) return;
  spdlog::warn("{}: round {}: secure aggregation attempt (session {}) dropped: {}", link_.name(), secure_->round,
               secure_->session, why);
  secure_.reset();
}

}  // namespace fedtl::participant
