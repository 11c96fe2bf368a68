#include "protocols/frame.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "protocols/messages.h"

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

TEST(Messages, EveryMessageRoundTrips) {
  Hello hello{"site-a", digest('a'), 1234};
  auto h = roundTrip(hello);
  EXPECT_EQ(h.participantName, "site-a");
  EXPECT_EQ(h.cachedBackbone, digest('a'));
  EXPECT_EQ(h.trainSamples, 1234u);
  validate(h);

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
  EXPECT_EQ(encodeFrame(RoundStartRef{start.config, start.parameters, start.batchNormStatistics, start.signature}, 3, 0), encodeFrame(start, 3, 0));
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
  EXPECT_THROW(validate(Hello{"", "", 1}), DecodeError);
  EXPECT_THROW(validate(Hello{"has space", "", 1}), DecodeError);
  EXPECT_THROW(validate(Hello{std::string(300, 'a'), "", 1}), DecodeError);
  EXPECT_THROW(validate(Hello{"ok", "not-a-digest", 1}), DecodeError);
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

}  // namespace
}  // namespace fedtl::protocols
