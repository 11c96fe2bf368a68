// The round engine and participant sessions end to end over the in-process transport, with
// fake local training: each participant pulls the parameters halfway toward its own target.
#include "coordinator/round_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

#include "protocols/checkpoint_format.h"
#include "common/transport/inproc/inproc_transport.h"
#include "participant/session.h"
#include "protocols/signing.h"

namespace fedtl {
namespace {

using namespace std::chrono_literals;

class FakeTrainer : public participant::LocalTrainer {
 public:
  FakeTrainer(std::vector<float> target, std::uint64_t samples) : target_(std::move(target)), samples_(samples) {}
  std::uint64_t trainSamples() const override { return samples_; }
  std::string cachedBackbone() const override { return backbone_; }
  void setBackbone(const std::string& digest, const std::string&) override {
    backbone_ = digest;
    ++downloads;
  }
  std::vector<float> batchNormStatistics() override { return statistics; }
  protocols::Update train(const protocols::RoundStart& start) override {
    receivedStatistics = start.batchNormStatistics;
    protocols::Update u;
    u.trainSamples = samples_;
    u.trainLoss = 0.5;
    for (std::size_t i = 0; i < start.parameters.size(); ++i) u.delta.push_back(target_[i] - start.parameters[i]);
    return u;
  }
  protocols::EvalResult evaluate(const std::vector<float>&) override { return {samples_, 0.8, 0.2}; }
  std::atomic<int> downloads{0};
  std::vector<float> statistics;
  std::vector<float> receivedStatistics;

 private:
  std::vector<float> target_;
  std::uint64_t samples_;
  std::string backbone_;
};

coordinator::Backbone testBackbone() {
  std::string bytes = protocols::encodeCheckpointFile(protocols::CheckpointHeader{}, "tensors");
  return {protocols::checkpointDigestHex(bytes, "test"), bytes};
}

struct RunningParticipant {
  RunningParticipant(transport::InprocHub& hub, const std::string& name, std::vector<float> target, std::uint64_t n,
                     std::optional<crypto::Ed25519PublicKey> pin = std::nullopt)
      : trainer(std::move(target), n), link(hub.connect(name)) {
    thread = std::thread([this, pin] {
      participant::SessionOptions options;
      options.helloInterval = 200ms;
      options.sendTimeout = 1000ms;
      options.coordinatorKey = pin;
      participant::ParticipantSession session(*link, trainer, options);
      report = session.run([this] { return stop.load(); });
    });
  }
  ~RunningParticipant() {
    stop = true;
    join();
  }
  void join() {
    if (thread.joinable()) thread.join();
  }
  FakeTrainer trainer;
  std::unique_ptr<transport::Link> link;
  std::atomic<bool> stop{false};
  participant::SessionReport report;
  std::thread thread;
};

coordinator::EngineOptions fastOptions() {
  coordinator::EngineOptions o;
  o.rounds = 3;
  o.minParticipants = 2;
  o.joinTimeout = 5000ms;
  o.stageTimeout = 3000ms;
  return o;
}

TEST(RoundEngine, FedAvgReachesTheSampleWeightedMean) {
  transport::InprocHub hub;
  coordinator::RoundEngine engine(hub, fastOptions(), testBackbone(), {0.0f, 0.0f});
  std::vector<coordinator::RoundMetrics> rounds;
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) { rounds.push_back(m); });
  RunningParticipant a(hub, "a", {1.0f, 10.0f}, 100), b(hub, "b", {3.0f, 30.0f}, 300);
  engine.run();
  // Each round moves all the way to the weighted mean of the targets: (1*100 + 3*300) / 400.
  EXPECT_FLOAT_EQ(engine.parameters()[0], 2.5f);
  EXPECT_FLOAT_EQ(engine.parameters()[1], 25.0f);
  ASSERT_EQ(rounds.size(), 3u);
  for (const auto& m : rounds) {
    EXPECT_EQ(m.selected, 2u);
    EXPECT_EQ(m.received, 2u);
    EXPECT_DOUBLE_EQ(m.federatedAccuracy, 0.8);
    EXPECT_GT(m.bytesUp, 0u);
  }
  EXPECT_EQ(a.trainer.downloads, 1);  // the backbone goes once
  a.join();  // the engine's goodbye ends both sessions
  b.join();
  EXPECT_EQ(a.report.roundsTrained, 3);
  EXPECT_EQ(a.report.evaluations, 3);
  EXPECT_EQ(a.report.endReason, "training finished");
}

TEST(RoundEngine, SilentParticipantCostsOneStageDeadline) {
  transport::InprocHub hub;
  auto options = fastOptions();
  options.rounds = 1;
  options.stageTimeout = 500ms;
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
  coordinator::RoundMetrics seen;
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) { seen = m; });
  // A participant that says hello and then never answers; its hello is queued first, so it
  // is ready when the round selects.
  auto silent = hub.connect("silent");
  silent->send(protocols::encodeFrame(protocols::Hello{"silent", testBackbone().digest, 10}, 0, 0), 1000ms);
  RunningParticipant a(hub, "a", {1.0f}, 10), b(hub, "b", {3.0f}, 10);
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(100ms);
  engine.run();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(seen.selected, 3u);
  EXPECT_EQ(seen.received, 2u);
  EXPECT_FLOAT_EQ(engine.parameters()[0], 2.0f);
  EXPECT_LT(elapsed, 3s) << "one stage deadline for training and one for evaluation, no hang";
}

TEST(RoundEngine, TooFewParticipantsIsAnErrorNotAHang) {
  transport::InprocHub hub;
  auto options = fastOptions();
  options.joinTimeout = 200ms;
  options.maxRetriesPerRound = 1;
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
  RunningParticipant a(hub, "a", {1.0f}, 10);
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(engine.run(), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(RoundEngine, GarbageFramesAreDroppedAndTheRoundCompletes) {
  transport::InprocHub hub;
  auto options = fastOptions();
  options.rounds = 1;
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
  auto rogue = hub.connect("rogue");
  rogue->send("not a frame at all", 1000ms);
  rogue->send(protocols::encodeFrame(protocols::Update{1, 0, {1e9f}}, 1, 0), 1000ms);  // unsolicited
  rogue->send(protocols::encodeFrame(protocols::Hello{"someone-else", "", 1}, 0, 0), 1000ms);  // name mismatch
  RunningParticipant a(hub, "a", {1.0f}, 10), b(hub, "b", {3.0f}, 10);
  engine.run();
  EXPECT_FLOAT_EQ(engine.parameters()[0], 2.0f);
  EXPECT_EQ(engine.readyParticipants(), 2u);
}

TEST(RoundEngine, LearningRateDecaysOverRoundsUnlessConstant) {
  coordinator::EngineOptions o;
  o.rounds = 10;
  o.train.learningRate = 0.1;
  EXPECT_DOUBLE_EQ(coordinator::roundLearningRate(o, 1), 0.1);
  for (std::int64_t r = 2; r <= 10; ++r)
    EXPECT_LT(coordinator::roundLearningRate(o, r), coordinator::roundLearningRate(o, r - 1));
  EXPECT_GE(coordinator::roundLearningRate(o, 10), 0.005);
  o.cosineLearningRate = false;
  EXPECT_DOUBLE_EQ(coordinator::roundLearningRate(o, 10), 0.1);
}

TEST(RoundEngine, PinnedParticipantsTrainOnlyOnWhatTheCoordinatorSigned) {
  transport::InprocHub hub;
  auto options = fastOptions();
  options.rounds = 2;
  options.stageTimeout = 1000ms;
  auto identity = crypto::generateEd25519KeyPair();
  options.sign = [&](const std::vector<std::uint8_t>& statement) { return crypto::ed25519Sign(identity.privateKey, statement); };
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
  auto impostor = crypto::generateEd25519KeyPair();
  RunningParticipant a(hub, "a", {1.0f}, 10, identity.publicKey), b(hub, "b", {3.0f}, 10, identity.publicKey);
  RunningParticipant wrongPin(hub, "c", {100.0f}, 10, impostor.publicKey);
  engine.run();
  EXPECT_FLOAT_EQ(engine.parameters()[0], 2.0f) << "the participant with the wrong pin never contributes";
  a.join();
  EXPECT_EQ(a.report.roundsTrained, 2);
  wrongPin.stop = true;
  wrongPin.join();
  EXPECT_EQ(wrongPin.report.roundsTrained, 0);
}

TEST(ParticipantSession, RefusesRoundParametersWhoseSignatureDoesNotMatch) {
  transport::InprocHub hub;
  FakeTrainer trainer({1.0f}, 5);
  auto link = hub.connect("p");
  auto identity = crypto::generateEd25519KeyPair();
  std::atomic<bool> stop{false};
  std::thread t([&] {
    participant::SessionOptions options;
    options.helloInterval = 5000ms;
    options.sendTimeout = 1000ms;
    options.coordinatorKey = identity.publicKey;
    participant::ParticipantSession s(*link, trainer, options);
    s.run([&] { return stop.load(); });
  });
  ASSERT_TRUE(hub.receive(2000ms).has_value());  // hello
  auto backbone = testBackbone();
  auto sign = [&](const std::vector<std::uint8_t>& statement) {
    auto sig = crypto::ed25519Sign(identity.privateKey, statement);
    return std::string(sig.begin(), sig.end());
  };
  protocols::Welcome welcome{1, backbone.digest, true, sign(protocols::backboneStatement(backbone.digest))};
  hub.send("p", transport::share(protocols::encodeFrame(welcome, 0, 0)), 1000ms);
  hub.send("p", transport::share(protocols::encodeFrame(protocols::BackboneData{backbone.digest, backbone.bytes}, 0, 0)), 1000ms);
  // Signed for other parameters, for another round, or not at all: each refused.
  protocols::RoundStart start{{}, {5.0f}, {}, sign(protocols::roundStartStatement(1, {}, {0.0f}, {}))};
  hub.send("p", transport::share(protocols::encodeFrame(start, 1, 0)), 1000ms);
  start.parameters = {0.0f};
  hub.send("p", transport::share(protocols::encodeFrame(start, 2, 0)), 1000ms);
  start.signature.clear();
  hub.send("p", transport::share(protocols::encodeFrame(start, 1, 0)), 1000ms);
  while (auto reply = hub.receive(500ms))
    EXPECT_NE(protocols::decodeFrameHeader(reply->frame.bytes(), {}).type, protocols::MessageType::kUploadReady);
  // The genuine one is accepted.
  start.signature = sign(protocols::roundStartStatement(1, {}, {0.0f}, {}));
  hub.send("p", transport::share(protocols::encodeFrame(start, 1, 0)), 1000ms);
  bool announced = false;
  while (auto reply = hub.receive(500ms))
    announced = announced || protocols::decodeFrameHeader(reply->frame.bytes(), {}).type == protocols::MessageType::kUploadReady;
  EXPECT_TRUE(announced);
  EXPECT_EQ(trainer.downloads, 1);
  stop = true;
  t.join();
}

TEST(RoundEngine, PoolsBatchNormStatisticsBeforeTheFirstRound) {
  transport::InprocHub hub;
  auto options = fastOptions();
  options.rounds = 1;
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
  RunningParticipant a(hub, "a", {1.0f}, 100), b(hub, "b", {3.0f}, 300);
  a.trainer.statistics = {1.0f, 2.0f};
  b.trainer.statistics = {3.0f, 4.0f};
  engine.run();
  // Weighted by samples: (1*100 + 3*300) / 400 and (2*100 + 4*300) / 400.
  EXPECT_EQ(engine.batchNormStatistics(), (std::vector<float>{2.5f, 3.5f}));
  a.join();
  EXPECT_EQ(a.trainer.receivedStatistics, engine.batchNormStatistics());
}

TEST(RoundEngine, RobustAggregationIgnoresAnOutlier) {
  transport::InprocHub hub;
  auto options = fastOptions();
  options.rounds = 1;
  options.minParticipants = 3;
  options.aggregation = coordinator::AggregationOptions::parse("median");
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
  RunningParticipant a(hub, "a", {1.0f}, 10), b(hub, "b", {2.0f}, 10), c(hub, "c", {1000.0f}, 10);
  engine.run();
  EXPECT_FLOAT_EQ(engine.parameters()[0], 2.0f);
}

// The next frame of `type` a hand-driven participant receives, skipping others.
std::optional<protocols::FrameHeader> nextOfType(transport::Link& link, protocols::MessageType type,
                                                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto frame = link.receive(50ms);
    if (!frame) continue;
    auto header = protocols::decodeFrameHeader(frame->bytes(), {});
    if (header.type == type) return header;
  }
  return std::nullopt;
}

TEST(RoundEngine, UploadsAreGrantedWithinTheWindow) {
  transport::InprocHub hub;
  auto options = fastOptions();
  options.rounds = 1;
  options.minParticipants = 3;
  options.federatedEvaluation = false;
  options.uploadWindowBytes = 1;  // smaller than one update: one upload at a time
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f, 0.0f});
  std::vector<std::unique_ptr<transport::Link>> links;
  for (const char* name : {"a", "b", "c"}) {
    links.push_back(hub.connect(name));
    links.back()->send(protocols::encodeFrame(protocols::Hello{name, testBackbone().digest, 10}, 0, 0), 1000ms);
  }
  std::thread run([&] { engine.run(); });
  for (auto& link : links) {
    ASSERT_TRUE(nextOfType(*link, protocols::MessageType::kRoundStart, 5000ms).has_value());
    link->send(protocols::encodeFrame(protocols::UploadReady{}, 1, 1), 1000ms);
  }
  // Exactly one grant at a time; each update that arrives frees the slot for the next.
  for (int uploaded = 0; uploaded < 3; ++uploaded) {
    std::vector<transport::Link*> granted;
    for (auto& link : links)
      if (link && nextOfType(*link, protocols::MessageType::kUploadGrant, 300ms)) granted.push_back(link.get());
    ASSERT_EQ(granted.size(), 1u) << "after " << uploaded << " uploads";
    granted[0]->send(protocols::encodeFrame(protocols::Update{10, 0.1, {1.0f, 2.0f}}, 1, 1), 1000ms);
    for (auto& link : links)
      if (link.get() == granted[0]) link.reset();
  }
  run.join();
  EXPECT_FLOAT_EQ(engine.parameters()[0], 1.0f);
  EXPECT_FLOAT_EQ(engine.parameters()[1], 2.0f);
}

TEST(ParticipantSession, RefusesABackboneThatDoesNotMatchItsDigest) {
  transport::InprocHub hub;
  FakeTrainer trainer({1.0f}, 5);
  auto link = hub.connect("p");
  std::atomic<bool> stop{false};
  std::thread t([&] {
    participant::SessionOptions options;
    options.helloInterval = 300ms;
    options.sendTimeout = 1000ms;
    participant::ParticipantSession s(*link, trainer, options);
    s.run([&] { return stop.load(); });
  });
  ASSERT_TRUE(hub.receive(2000ms).has_value());  // hello
  auto backbone = testBackbone();
  hub.send("p", transport::share(protocols::encodeFrame(protocols::Welcome{1, backbone.digest, true, {}}, 0, 0)), 1000ms);
  hub.send("p", transport::share(protocols::encodeFrame(protocols::BackboneData{backbone.digest, "tampered bytes"}, 0, 0)), 1000ms);
  // Round starts must now be refused: no verified backbone, so no update comes back; the
  // participant asks for the backbone anew, but at most once per hello interval however
  // many frames it has to refuse.
  int hellos = 0;
  const auto end = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < end) {
    hub.send("p", transport::share(protocols::encodeFrame(protocols::RoundStart{{}, {0.0f}, {}, {}}, 1, 0)), 1000ms);
    while (auto reply = hub.receive(20ms)) {
      EXPECT_EQ(protocols::decodeFrameHeader(reply->frame.bytes(), {}).type, protocols::MessageType::kHello);
      ++hellos;
    }
  }
  EXPECT_GE(hellos, 1);
  EXPECT_LE(hellos, 7);
  EXPECT_EQ(trainer.downloads, 0);
  stop = true;
  t.join();
}

}  // namespace
}  // namespace fedtl
