#include "protocols/frame.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "protocols/messages.h"
#include "protocols/signing.h"

namespace fedtl::protocols {
namespace {

template <class M>
M roundTrip(const M& message, std::uint64_t round = 7, std::uint32_t sender = 3) {
  std::string frame = encodeFrame(message, round, sender);
  auto header = decodeFrameHeader(frame, FrameLimits{});
  EXPECT_EQ(header.type, M::kType);
  EXPECT_EQ(header.round, round);
  EXPECT_EQ(header.sender, sender);
  EXPECT_EQ(header.payloadSize + kFrameHeaderSize, frame.size());
  return decodePayload<M>(header, std::string_view(frame).substr(kFrameHeaderSize));
}

std::string digest(char c) { return std::string(64, c); }

std::string key32() { return std::string(crypto::kEd25519KeySize, '\x07'); }

TEST(Messages, EveryMessageRoundTrips) {
  Hello hello{"site-a", digest('a'), 1234, key32()};
  auto h = roundTrip(hello);
  EXPECT_EQ(h.participantName, "site-a");
  EXPECT_EQ(h.cachedBackbone, digest('a'));
  EXPECT_EQ(h.trainSamples, 1234u);
  EXPECT_EQ(h.identityKey, key32());
  validate(h);
  validate(h, "site-a");

  auto w = roundTrip(Welcome{9, digest('b'), true, std::string(64, 'x')});
  EXPECT_EQ(w.participantId, 9u);
  EXPECT_TRUE(w.backboneFollows);
  validate(w);

  auto b = roundTrip(BackboneData{digest('c'), std::string(1000, '\x01')});
  EXPECT_EQ(b.checkpoint.size(), 1000u);

  RoundStart rs;
  rs.config.strategy = "partial:1";
  rs.config.steps = 50;
  rs.config.proximalMu = 0.01;
  rs.config.localBatchNorm = true;
  rs.parameters = {1.5f, -2.0f, 3.25f};
  auto r = roundTrip(rs);
  EXPECT_EQ(r.config.strategy, "partial:1");
  EXPECT_EQ(r.config.steps, 50);
  EXPECT_DOUBLE_EQ(r.config.proximalMu, 0.01);
  EXPECT_TRUE(r.config.localBatchNorm);
  EXPECT_EQ(r.parameters, rs.parameters);
  validate(r.config);

  auto u = roundTrip(Update{10, 0.5, {0.1f, 0.2f}});
  EXPECT_EQ(u.delta, (std::vector<float>{0.1f, 0.2f}));
  validate(u);

  EXPECT_EQ(roundTrip(EvalRequest{{4.0f}, {}}).parameters, std::vector<float>{4.0f});
  auto e = roundTrip(EvalResult{100, 0.9, 0.3});
  EXPECT_DOUBLE_EQ(e.accuracy, 0.9);
  validate(e);
  EXPECT_EQ(roundTrip(Heartbeat{42}).sentAtMillis, 42u);
  EXPECT_EQ(roundTrip(Bye{"shutdown"}).reason, "shutdown");
}

TEST(Messages, BorrowingEncodersWriteTheSameBytes) {
  RoundStart start;
  start.config.strategy = "partial:1";
  start.parameters = {1.0f, 2.0f, 3.0f};
  start.signature = std::string(64, 's');
  EXPECT_EQ(encodeFrame(RoundStartRef{start.config, start.parameters, start.batchNormStatistics, start.signature,
                                      start.secure},
                        3, 0),
            encodeFrame(start, 3, 0));
  start.secure.roster = {{4, {}}, {9, {}}};
  start.secure.session = 3001;
  EXPECT_EQ(encodeFrame(RoundStartRef{start.config, start.parameters, start.batchNormStatistics, start.signature,
                                      start.secure},
                        3, 0),
            encodeFrame(start, 3, 0));
  EXPECT_EQ(encodeFrame(EvalRequestRef{start.parameters, start.signature}, 3, 0),
            encodeFrame(EvalRequest{start.parameters, start.signature}, 3, 0));
  EXPECT_EQ(encodedSize(start), encode(start).size());
}

TEST(Messages, UpdateViewReadsTheEncodedUpdateInPlace) {
  Update u{12, 0.25, {1.5f, -2.0f, 3.0f}};
  const std::string frame = encodeFrame(u, 4, 2);
  auto header = decodeFrameHeader(frame, {});
  auto payload = std::string_view(frame).substr(kFrameHeaderSize);
  auto view = decodeUpdateView(header, payload);
  EXPECT_EQ(view.trainSamples, 12u);
  EXPECT_DOUBLE_EQ(view.trainLoss, 0.25);
  ASSERT_EQ(view.size(), 3u);
  std::vector<float> values(3);
  std::memcpy(values.data(), view.delta.data(), view.delta.size());
  EXPECT_EQ(values, u.delta);

  // A count that disagrees with the bytes, a non-finite value, zero samples: refused.
  std::string lying(payload);
  lying[16] = 4;  // the delta's length prefix
  EXPECT_THROW(decodeUpdateView(header, lying), DecodeError);
  EXPECT_THROW(decodeUpdateView(header, payload.substr(0, payload.size() - 1)), DecodeError);
  for (const Update& bad : {Update{12, 0.25, {std::nanf("")}}, Update{0, 0.25, {1.0f}}}) {
    const std::string f = encodeFrame(bad, 4, 2);
    EXPECT_THROW(decodeUpdateView(decodeFrameHeader(f, {}), std::string_view(f).substr(kFrameHeaderSize)), DecodeError);
  }
}

TEST(Frame, HeaderRejectsEachKindOfBadFrame) {
  std::string frame = encodeFrame(Bye{"x"}, 1, 1);
  FrameLimits limits;
  auto expectRejected = [&](std::string bad, const char* why) {
    try {
      decodeFrameHeader(bad, limits);
      ADD_FAILURE() << "accepted: " << why;
    } catch (const DecodeError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  expectRejected(frame.substr(0, 31), "shorter than");
  auto bad = frame;
  bad[0] = 'X';
  expectRejected(bad, "magic");
  bad = frame;
  bad[4] = 2;
  expectRejected(bad, "version 2");
  bad = frame;
  bad[6] = 99;
  expectRejected(bad, "unknown message type 99");
  bad = frame;
  bad[20] = 1;
  expectRejected(bad, "reserved");
  bad = frame;
  std::uint64_t huge = limits.maxControl + 1;
  std::memcpy(bad.data() + 24, &huge, 8);
  expectRejected(bad, "exceeds the limit");
}

TEST(Frame, UpdateLimitIsSeparateFromControlLimit) {
  FrameLimits limits;
  limits.maxParameters = 1000;
  Update big{1, 0, std::vector<float>(300, 1.0f)};  // 1200+ bytes
  std::string frame = encodeFrame(big, 1, 1);
  EXPECT_THROW(decodeFrameHeader(frame, limits), DecodeError);
  limits.maxParameters = 2000;
  EXPECT_NO_THROW(decodeFrameHeader(frame, limits));
}

TEST(Frame, TruncatedOrMistypedPayloadIsRefused) {
  std::string frame = encodeFrame(Update{5, 0.1, {1, 2, 3}}, 2, 4);
  auto header = decodeFrameHeader(frame, FrameLimits{});
  auto payload = std::string_view(frame).substr(kFrameHeaderSize);
  EXPECT_THROW(decodePayload<Update>(header, payload.substr(0, payload.size() - 1)), DecodeError);
  EXPECT_THROW(decodePayload<Hello>(header, payload), DecodeError);
  // A payload whose inner vector length lies is refused without allocating.
  std::string lying(payload);
  std::uint64_t huge = std::uint64_t{1} << 40;
  std::memcpy(lying.data() + 16, &huge, 8);  // after trainSamples and trainLoss
  header.payloadSize = lying.size();
  EXPECT_THROW(decodePayload<Update>(header, lying), DecodeError);
}

TEST(Messages, ValidationRejectsNonsense) {
  EXPECT_THROW(validate(Hello{"", "", 1, key32()}), DecodeError);
  EXPECT_THROW(validate(Hello{"has space", "", 1, key32()}), DecodeError);
  EXPECT_THROW(validate(Hello{std::string(300, 'a'), "", 1, key32()}), DecodeError);
  EXPECT_THROW(validate(Hello{"ok", "not-a-digest", 1, key32()}), DecodeError);
  EXPECT_THROW(validate(Hello{"ok", "", 1, ""}), DecodeError);  // no identity key
  EXPECT_THROW(validate(Hello{"ok", "", 1, std::string(31, 'k')}), DecodeError);
  EXPECT_THROW(validate(Hello{"ok", "", 1, key32()}, "other"), DecodeError);  // not its connection
  // The name is checked before the connection, the connection before the key.
  try {
    validate(Hello{"ok", "", 1, ""}, "other");
    ADD_FAILURE() << "accepted";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("hello names 'ok' but the connection is 'other'"), std::string::npos);
  }
  EXPECT_THROW(validate(Update{0, 0, {}}), DecodeError);
  EXPECT_THROW(validate(Update{1, 0, {std::nanf("")}}), DecodeError);
  EXPECT_THROW(validate(EvalResult{1, 1.5, 0}), DecodeError);
  TrainConfig c;
  c.learningRate = -1;
  EXPECT_THROW(validate(c), DecodeError);
  c = TrainConfig{};
  c.batchSize = 0;
  EXPECT_THROW(validate(c), DecodeError);
}

SecAggSetup sampleSetup() {
  SecAggSetup setup;
  setup.session = 7002;
  setup.roster = {{1, {}}, {3, {}}, {8, {}}};
  setup.roster[1].identityKey.fill(0x33);
  setup.threshold = 2;
  setup.dimension = 5;  // 3 parameters and the two loss coordinates
  setup.clip = 1.0;
  setup.bits = 16;
  setup.weightScale = 500;
  setup.weightUnit = 1;
  return setup;
}

TEST(Messages, SecAggSetupRoundTripsInTheRoundStartAndValidates) {
  RoundStart start;
  start.parameters = {1, 2, 3};
  start.secure = sampleSetup();
  auto r = roundTrip(start);
  EXPECT_EQ(r.secure.session, 7002u);
  ASSERT_EQ(r.secure.roster.size(), 3u);
  EXPECT_EQ(r.secure.roster[1].id, 3u);
  EXPECT_EQ(r.secure.roster[1].identityKey, start.secure.roster[1].identityKey);
  EXPECT_EQ(r.secure.weightScale, 500u);
  EXPECT_TRUE(r.secure.enabled());
  validate(r.secure, 3);
  EXPECT_FALSE(RoundStart{}.secure.enabled());

  EXPECT_THROW(validate(r.secure, 4), DecodeError);  // d must be the parameters plus the losses
  auto bad = sampleSetup();
  std::swap(bad.roster[0], bad.roster[1]);
  EXPECT_THROW(validate(bad, 3), DecodeError);  // ids out of order
  bad = sampleSetup();
  bad.roster[0].id = 0;
  EXPECT_THROW(validate(bad, 3), DecodeError);
  bad = sampleSetup();
  bad.clip = std::nan("");
  EXPECT_THROW(validate(bad, 3), DecodeError);
  bad = sampleSetup();
  bad.weightUnit = 501;
  EXPECT_THROW(validate(bad, 3), DecodeError);
  bad = sampleSetup();
  bad.roster.clear();
  EXPECT_THROW(validate(bad, 3), DecodeError);
}

TEST(Signing, RoundStartStatementCoversTheSecAggSetup) {
  const TrainConfig config;
  const std::vector<float> parameters{1, 2};
  const auto setup = sampleSetup();
  const auto signedFor = roundStartStatement(1, config, parameters, {}, setup);
  EXPECT_EQ(signedFor, roundStartStatement(1, config, parameters, {}, sampleSetup()));
  EXPECT_NE(signedFor, roundStartStatement(1, config, parameters, {}, SecAggSetup{}));
  auto swappedKey = sampleSetup();
  swappedKey.roster[2].identityKey.fill(0x44);  // a substituted identity key
  EXPECT_NE(signedFor, roundStartStatement(1, config, parameters, {}, swappedKey));
  auto otherSession = sampleSetup();
  otherSession.session = 7003;
  EXPECT_NE(signedFor, roundStartStatement(1, config, parameters, {}, otherSession));
  EXPECT_NE(signedFor, roundStartStatement(2, config, parameters, {}, setup));
}

TEST(Messages, SecAggMessagesRoundTripInTheirFrames) {
  SecAggAdvertise ad;
  ad.session = 5000;
  ad.body.round = 5000;
  ad.body.participant = 3;
  ad.body.maskingKey.fill(9);
  auto a = roundTrip(ad);
  EXPECT_EQ(a.session, 5000u);
  EXPECT_EQ(a.body.participant, 3u);
  EXPECT_EQ(a.body.maskingKey, ad.body.maskingKey);

  SecAggShareKeysRequest request{5000, {{1, 2, 3}, std::vector<crypto::Sha256Digest>(3), {ad.body}}};
  auto q = roundTrip(request);
  EXPECT_EQ(q.body.accepted, (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(q.body.neighbourAdvertisements.size(), 1u);

  secagg::EncryptedShare share;
  share.sender = 3;
  share.recipient = 1;
  share.ciphertext.fill(0xab);
  EXPECT_EQ(roundTrip(SecAggShareKeysResponse{5000, {{share}}}).body.shares.at(0).ciphertext, share.ciphertext);
  EXPECT_EQ(roundTrip(SecAggMaskedInputRequest{5000, {{share}}}).body.shares.at(0).sender, 3u);
  EXPECT_EQ(roundTrip(SecAggUnmaskRequest{5000, {{1, 3}, {2}}}).body.dropped, std::vector<std::uint32_t>{2});
  secagg::UnmaskResponse unmask;
  unmask.selfMaskShares = {{1, {1, 2, 3, 4, 5}}};
  EXPECT_EQ(roundTrip(SecAggUnmaskResponse{5000, unmask}).body.selfMaskShares.at(0).values[4], 5u);
}

TEST(Messages, MaskedInputViewReadsTheRingElementsInPlace) {
  SecAggMaskedInput input{4001, {{1u, 0xffffffffu, 7u}}};
  const std::string frame = encodeFrame(input, 4, 2);
  auto header = decodeFrameHeader(frame, {});
  auto payload = std::string_view(frame).substr(kFrameHeaderSize);
  auto view = decodeMaskedInputView(header, payload);
  EXPECT_EQ(view.session, 4001u);
  ASSERT_EQ(view.size(), 3u);
  std::vector<secagg::Ring> values(3);
  std::memcpy(values.data(), view.values.data(), view.values.size());
  EXPECT_EQ(values, input.body.masked);
  std::string lying(payload);
  lying[8] = 4;  // the vector's length prefix
  EXPECT_THROW(decodeMaskedInputView(header, lying), DecodeError);
  EXPECT_THROW(decodeMaskedInputView(header, payload.substr(0, payload.size() - 1)), DecodeError);
  const std::string update = encodeFrame(Update{1, 0, {1.0f}}, 4, 2);
  EXPECT_THROW(decodeMaskedInputView(decodeFrameHeader(update, {}), std::string_view(update).substr(kFrameHeaderSize)),
               DecodeError);
}

// The largest message of each kind that grows with the neighbourhood m, as validate() in
// protocols/secagg/messages.cc still admits it, fits secAggNeighbourhoodBound(m).
TEST(Frame, SecAggLimitsBoundTheLargestNeighbourhoodMessages) {
  for (std::uint32_t m : {2u, 3u, 9u, 51u, 400u}) {
    const std::size_t others = m - 1;
    secagg::EncryptedShare share;
    SecAggShareKeysResponse shares{1, {std::vector<secagg::EncryptedShare>(others, share)}};
    SecAggMaskedInputRequest inbox{1, {std::vector<secagg::EncryptedShare>(others, share)}};
    SecAggUnmaskRequest unmaskRequest{1, {std::vector<std::uint32_t>(m), std::vector<std::uint32_t>(others)}};
    // Hardened mode: the signatures of everyone within two hops, at most 2m - 1.
    SecAggUnmaskRequest hardenedUnmask{1, {std::vector<std::uint32_t>(m), std::vector<std::uint32_t>(others),
                                           std::vector<secagg::ContributorSignature>(2 * m - 1)}};
    secagg::UnmaskResponse reveal;
    reveal.selfMaskShares.resize(m);
    reveal.maskKeyShares.resize(others);
    reveal.unreadableShareSenders.resize(others);
    SecAggUnmaskResponse unmaskResponse{1, reveal};
    const std::uint64_t bound = secAggNeighbourhoodBound(m);
    EXPECT_LE(encodedSize(shares), bound) << m;
    EXPECT_LE(encodedSize(inbox), bound) << m;
    EXPECT_LE(encodedSize(unmaskRequest), bound) << m;
    EXPECT_LE(encodedSize(unmaskResponse), bound) << m;
    EXPECT_LE(encodedSize(hardenedUnmask), bound) << m;
    EXPECT_GT(encodedSize(hardenedUnmask) + 150, bound) << "the bound is tight for hardened unmask requests";
  }
  FrameLimits limits;
  EXPECT_EQ(limits.limitFor(MessageType::kSecAggShareKeysResponse), secAggNeighbourhoodBound(kMaxSecAggNeighbourhood));
  EXPECT_EQ(limits.limitFor(MessageType::kSecAggUnmaskResponse), limits.maxSecAgg);
  EXPECT_EQ(limits.limitFor(MessageType::kSecAggAdvertise), limits.maxControl);
  EXPECT_EQ(limits.limitFor(MessageType::kSecAggMaskedInput), limits.maxParameters);
  EXPECT_EQ(limits.limitFor(MessageType::kSecAggShareKeysRequest), limits.maxParameters);
  EXPECT_EQ(limits.limitFor(MessageType::kSecAggConsistencyCheckRequest), limits.maxParameters);
  EXPECT_EQ(limits.limitFor(MessageType::kSecAggConsistencyCheckResponse), limits.maxControl);
  EXPECT_LT(encodedSize(SecAggConsistencyCheckResponse{}), limits.maxControl);
  EXPECT_EQ(std::string(messageTypeName(MessageType::kSecAggUnmaskResponse)), "secagg-unmask-response");
  EXPECT_GT(encodedSize(SecAggAdvertise{}), 0u);
  EXPECT_LT(encodedSize(SecAggAdvertise{}), limits.maxControl);
}

}  // namespace
}  // namespace fedtl::protocols
