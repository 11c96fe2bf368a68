#include "participant/session.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

#include "common/crypto/sha256.h"
#include "protocols/checkpoint_format.h"
#include "protocols/signing.h"
#include "common/error.h"

namespace fedtl::participant {
namespace {
using Clock = std::chrono::steady_clock;
using protocols::MessageType;
}  // namespace

ParticipantSession::ParticipantSession(transport::Link& link, LocalTrainer& trainer, SessionOptions options)
    : link_(link), trainer_(trainer), options_(std::move(options)) {}

// The update waits here until the coordinator grants the upload (its flow control).
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
  protocols::Hello hello{link_.name(), trainer_.cachedBackbone(), trainer_.trainSamples()};
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
      expectedBackbone_ = w.backboneDigest;
      haveBackbone_ = !w.backboneFollows && trainer_.cachedBackbone() == w.backboneDigest;
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
    case MessageType::kRoundStart: {
      FEDTL_ENFORCE(haveBackbone_, protocols::DecodeError, "round start before a verified backbone; ignored");
      uploadPending_ = false;
      auto startDigest = crypto::toHex(crypto::sha256(payload.data(), payload.size()));
      if (header.round == lastRound_ && startDigest == lastStartDigest_ && !lastUpdate_.empty()) {
        announceUpdate();
        return;
      }
      auto start = protocols::decodePayload<protocols::RoundStart>(header, payload);
      protocols::validate(start.config);
      checkSigned(protocols::roundStartStatement(header.round, start.config, start.parameters, start.batchNormStatistics),
                  start.signature, "the round start");
      auto update = trainer_.train(start);
      lastRound_ = header.round;
      lastStartDigest_ = startDigest;
      lastUpdate_ = protocols::encodeFrame(update, header.round, id_);
      update = {};
      announceUpdate();
      ++report.roundsTrained;
      return;
    }
    case MessageType::kUploadGrant: {
      protocols::decodePayload<protocols::UploadGrant>(header, payload);
      if (header.round != lastRound_ || lastUpdate_.empty()) return;  // a grant for an older round
      link_.send(lastUpdate_, options_.sendTimeout);
      return;
    }
    case MessageType::kEvalRequest: {
      FEDTL_ENFORCE(haveBackbone_, protocols::DecodeError, "evaluation request before a backbone");
      uploadPending_ = false;  // the coordinator has closed the round
      auto req = protocols::decodePayload<protocols::EvalRequest>(header, payload);
      checkSigned(protocols::evalRequestStatement(header.round, req.parameters), req.signature, "the evaluation request");
      auto result = trainer_.evaluate(req.parameters);
      link_.send(protocols::encodeFrame(result, header.round, id_), options_.sendTimeout);
      ++report.evaluations;
      return;
    }
    case MessageType::kStatsRequest: {
      FEDTL_ENFORCE(haveBackbone_, protocols::DecodeError, "statistics request before a backbone");
      protocols::decodePayload<protocols::StatsRequest>(header, payload);
      protocols::Stats stats{trainer_.trainSamples(), trainer_.batchNormStatistics()};
      link_.send(protocols::encodeFrame(stats, header.round, id_), options_.sendTimeout);
      return;
    }
    case MessageType::kBye: {
      endReason_ = protocols::decodePayload<protocols::Bye>(header, payload).reason;
      finished_ = true;
      return;
    }
    case MessageType::kHeartbeat: return;
    default:
      throw protocols::DecodeError(std::string("the coordinator may not send ") + protocols::messageTypeName(header.type));
  }
}

}  // namespace fedtl::participant
