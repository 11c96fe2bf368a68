// The round engine and participant sessions end to end over the in-process transport, with
// fake local training: each participant's update moves the parameters to its own target.
#include "coordinator/round_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
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
    ++trainings;
    receivedStatistics = start.batchNormStatistics;
    protocols::Update u;
    u.trainSamples = samples_;
    u.trainLoss = loss;
    for (std::size_t i = 0; i < start.parameters.size(); ++i) u.delta.push_back(target_[i] - start.parameters[i]);
    return u;
  }
  protocols::EvalResult evaluate(const std::vector<float>&) override { return {samples_, 0.8, 0.2}; }
  std::atomic<int> downloads{0};
  std::atomic<int> trainings{0};
  std::atomic<double> loss{0.5};
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

// An Ed25519 public key for hand-made hellos.
std::string anyIdentityKey() {
  const auto key = crypto::generateEd25519KeyPair().publicKey;
  return std::string(key.begin(), key.end());
}

// A participant process that dies once its session sends a frame of type `trigger` (that
// frame delivered or not): from then on nothing it sends arrives and nothing reaches it.
class VanishingLink : public transport::Link {
 public:
  VanishingLink(std::unique_ptr<transport::Link> inner, protocols::MessageType trigger, bool deliverTrigger)
      : inner_(std::move(inner)), trigger_(trigger), deliverTrigger_(deliverTrigger) {}
  const std::string& name() const override { return inner_->name(); }
  bool send(std::string_view frame, transport::Millis timeout) override {
    if (gone_) return true;
    if (protocols::decodeFrameHeader(frame, {}).type == trigger_) {
      gone_ = true;
      if (!deliverTrigger_) return true;
    }
    return inner_->send(frame, timeout);
  }
  std::optional<transport::Frame> receive(transport::Millis timeout) override {
    if (!gone_) return inner_->receive(timeout);
    std::this_thread::sleep_for(timeout);
    return std::nullopt;
  }

 private:
  std::unique_ptr<transport::Link> inner_;
  protocols::MessageType trigger_;
  bool deliverTrigger_;
  std::atomic<bool> gone_{false};
};

struct Vanish {
  protocols::MessageType trigger;
  bool deliverTrigger;
};

struct RunningParticipant {
  RunningParticipant(transport::InprocHub& hub, const std::string& name, std::vector<float> target, std::uint64_t n,
                     std::optional<crypto::Ed25519PublicKey> pin = std::nullopt, std::optional<Vanish> vanish = {},
                     std::shared_ptr<const crypto::SecretBytes> identity = nullptr, bool requireConsistencyCheck = true)
      : trainer(std::move(target), n), link(hub.connect(name)) {
    if (vanish) link = std::make_unique<VanishingLink>(std::move(link), vanish->trigger, vanish->deliverTrigger);
    thread = std::thread([this, pin, identity, requireConsistencyCheck] {
      participant::SessionOptions options;
      options.requireConsistencyCheck = requireConsistencyCheck;
      options.helloInterval = 200ms;
      options.sendTimeout = 1000ms;
      options.coordinatorKey = pin;
      options.identityKey = identity;
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
  silent->send(protocols::encodeFrame(protocols::Hello{"silent", testBackbone().digest, 10, anyIdentityKey()}, 0, 0),
               1000ms);
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
  rogue->send(protocols::encodeFrame(protocols::Hello{"someone-else", "", 1, anyIdentityKey()}, 0, 0), 1000ms);  // name mismatch
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
  protocols::RoundStart start{{}, {5.0f}, {}, sign(protocols::roundStartStatement(1, {}, {0.0f}, {}, {})), {}};
  hub.send("p", transport::share(protocols::encodeFrame(start, 1, 0)), 1000ms);
  start.parameters = {0.0f};
  hub.send("p", transport::share(protocols::encodeFrame(start, 2, 0)), 1000ms);
  start.signature.clear();
  hub.send("p", transport::share(protocols::encodeFrame(start, 1, 0)), 1000ms);
  while (auto reply = hub.receive(500ms))
    EXPECT_NE(protocols::decodeFrameHeader(reply->frame.bytes(), {}).type, protocols::MessageType::kUploadReady);
  // The genuine one is accepted.
  start.signature = sign(protocols::roundStartStatement(1, {}, {0.0f}, {}, {}));
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
    links.back()->send(protocols::encodeFrame(protocols::Hello{name, testBackbone().digest, 10, anyIdentityKey()}, 0, 0),
                       1000ms);
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
    hub.send("p", transport::share(protocols::encodeFrame(protocols::RoundStart{{}, {0.0f}, {}, {}, {}}, 1, 0)), 1000ms);
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

// ---- Secure aggregation ----

// Five participants whose targets keep every update inside the tests' clip (±1).
struct SecureSite {
  const char* name;
  std::vector<float> target;
  std::uint64_t samples;
};
const std::vector<SecureSite> kSecureSites = {
    {"a", {0.10f, -0.40f}, 10}, {"b", {-0.20f, 0.30f}, 20}, {"c", {0.45f, 0.05f}, 30},
    {"d", {-0.35f, -0.10f}, 40}, {"e", {0.25f, 0.20f}, 100}};

// The sample-weighted mean of the targets of `sites` (indices into kSecureSites).
std::vector<float> weightedMean(const std::vector<std::size_t>& sites) {
  std::vector<double> sum(2, 0.0);
  double weight = 0;
  for (std::size_t i : sites) {
    for (std::size_t j = 0; j < 2; ++j) sum[j] += kSecureSites[i].samples * kSecureSites[i].target[j];
    weight += kSecureSites[i].samples;
  }
  return {static_cast<float>(sum[0] / weight), static_cast<float>(sum[1] / weight)};
}

coordinator::EngineOptions secureOptions() {
  auto o = fastOptions();
  o.rounds = 1;
  o.secure.enabled = true;
  o.secure.clip = 1.0;  // the targets stay within ±0.5, so every update within ±1
  o.stageTimeout = 1500ms;
  o.secureStageTimeout = 800ms;
  o.uploadTimeout = 800ms;
  o.joinTimeout = 3000ms;
  return o;
}

// Starts the five sites on `hub`; `vanish` (by index) makes one of them die at a stage.
std::vector<std::unique_ptr<RunningParticipant>> startSecureSites(transport::InprocHub& hub,
                                                                  std::map<std::size_t, Vanish> vanish = {}) {
  std::vector<std::unique_ptr<RunningParticipant>> sites;
  for (std::size_t i = 0; i < kSecureSites.size(); ++i) {
    std::optional<Vanish> v;
    if (vanish.count(i)) v = vanish.at(i);
    sites.push_back(std::make_unique<RunningParticipant>(hub, kSecureSites[i].name, kSecureSites[i].target,
                                                         kSecureSites[i].samples, std::nullopt, v));
  }
  std::this_thread::sleep_for(200ms);  // every hello is waiting when the first round selects
  return sites;
}

// Within the fixed-point error: each of n = 5 encodings is off by at most one quantum
// 2c / (2^16 - 1) = 3.05e-5 (c = 1), scaled by W / Σw = 100 / 200 in the mean: 7.6e-5.
constexpr float kQuantisationTolerance = 8e-5f;

std::vector<float> runFedAvg(bool secure, std::vector<coordinator::RoundMetrics>& rounds) {
  transport::InprocHub hub;
  auto options = secureOptions();
  options.rounds = 2;
  options.secure.enabled = secure;
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f, 0.0f});
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) { rounds.push_back(m); });
  auto sites = startSecureSites(hub);
  engine.run();
  for (auto& site : sites) {
    site->join();  // the engine's goodbye ends every session
    EXPECT_EQ(site->report.roundsTrained, 2);
    EXPECT_EQ(site->report.endReason, "training finished");
  }
  return engine.parameters();
}

TEST(SecureRounds, FedAvgEqualsThePlaintextWeightedMeanWithinQuantisation) {
  std::vector<coordinator::RoundMetrics> plainRounds, secureRounds;
  const auto plain = runFedAvg(false, plainRounds);
  const auto secure = runFedAvg(true, secureRounds);
  const auto expected = weightedMean({0, 1, 2, 3, 4});
  for (std::size_t j = 0; j < 2; ++j) {
    EXPECT_NEAR(plain[j], expected[j], 1e-6);
    EXPECT_NEAR(secure[j], plain[j], kQuantisationTolerance);
  }
  ASSERT_EQ(secureRounds.size(), 2u);
  for (const auto& m : secureRounds) {
    EXPECT_TRUE(m.secure);
    EXPECT_EQ(m.selected, 5u);
    EXPECT_EQ(m.received, 5u);
    EXPECT_EQ(m.retries, 0u);
    EXPECT_NEAR(m.trainLoss, 0.5, 1e-3) << "the loss rides through the sum";
    EXPECT_DOUBLE_EQ(m.federatedAccuracy, 0.8);
    EXPECT_GT(m.bytesUp, 0u);
  }
  EXPECT_FALSE(plainRounds.at(0).secure);
}

struct VanishCase {
  const char* name;
  Vanish vanish;
  bool inSum;  // its masked input is in the sum (it vanished only at Unmask)
};

class SecureDropout : public ::testing::TestWithParam<VanishCase> {};

TEST_P(SecureDropout, OneParticipantVanishingStillCompletesTheRound) {
  transport::InprocHub hub;
  coordinator::RoundEngine engine(hub, secureOptions(), testBackbone(), {0.0f, 0.0f});
  coordinator::RoundMetrics seen;
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) { seen = m; });
  constexpr std::size_t kVictim = 2;  // "c"
  auto sites = startSecureSites(hub, {{kVictim, GetParam().vanish}});
  const auto start = std::chrono::steady_clock::now();
  engine.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s) << "each wait ends at its deadline";
  const auto expected = GetParam().inSum ? weightedMean({0, 1, 2, 3, 4}) : weightedMean({0, 1, 3, 4});
  EXPECT_NEAR(engine.parameters()[0], expected[0], kQuantisationTolerance);
  EXPECT_NEAR(engine.parameters()[1], expected[1], kQuantisationTolerance);
  EXPECT_TRUE(seen.secure);
  EXPECT_EQ(seen.selected, 5u);
  EXPECT_EQ(seen.received, GetParam().inSum ? 5u : 4u);
  EXPECT_EQ(seen.retries, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    EachStage, SecureDropout,
    ::testing::Values(VanishCase{"BeforeAdvertising", {protocols::MessageType::kSecAggAdvertise, false}, false},
                      VanishCase{"BeforeSharingKeys", {protocols::MessageType::kSecAggAdvertise, true}, false},
                      VanishCase{"BeforeMaskedInput", {protocols::MessageType::kSecAggShareKeysResponse, true}, false},
                      VanishCase{"BeforeSigning", {protocols::MessageType::kSecAggMaskedInput, true}, true},
                      VanishCase{"BeforeUnmasking", {protocols::MessageType::kSecAggConsistencyCheckResponse, true}, true}),
    [](const ::testing::TestParamInfo<VanishCase>& info) { return info.param.name; });

TEST(SecureRounds, PoolsBatchNormStatisticsUnderSecureAggregation) {
  transport::InprocHub hub;
  auto options = secureOptions();
  options.batchNormValues = 3;
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f, 0.0f});
  auto sites = startSecureSites(hub);
  std::vector<double> expected(3, 0.0);
  double samples = 0;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    // Means and variances as a BatchNorm layer keeps them: some negative, some well above 1.
    const float k = static_cast<float>(i);
    sites[i]->trainer.statistics = {-1.5f + k, 0.25f * k, 40.0f + 3 * k};
    for (std::size_t j = 0; j < 3; ++j) expected[j] += kSecureSites[i].samples * sites[i]->trainer.statistics[j];
    samples += kSecureSites[i].samples;
  }
  engine.run();
  const auto& pooled = engine.batchNormStatistics();
  ASSERT_EQ(pooled.size(), 3u);
  // Five encodings, each off by at most one quantum 2·256 / (2^q - 1) with q = 22 for the
  // default n_max of 1024: 1.2e-4 each, scaled by W / Σw = 100 / 200.
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(pooled[j], expected[j] / samples, 5 * 1.3e-4 * 0.5);
  for (auto& site : sites) {
    site->join();
    EXPECT_EQ(site->trainer.receivedStatistics, pooled) << "every round trains with the pooled statistics";
  }
}

TEST(SecureRounds, DifferentialPrivacyNoisesTheSumAndAccountsForEachRound) {
  transport::InprocHub hub;
  auto options = secureOptions();
  options.rounds = 2;
  // z = 0.01: noise σ 0.01 on each round's sum of updates (C = 1), so the mean of five is off
  // by about 0.002; the accountant still reports a (large) finite ε.
  options.secure.differentialPrivacy = dp::DpConfig{1.0, 0.01, 0, 1e-5};
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f, 0.0f});
  std::vector<coordinator::RoundMetrics> rounds;
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) { rounds.push_back(m); });
  auto sites = startSecureSites(hub);
  engine.run();
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_GT(rounds[0].epsilon, 0);
  EXPECT_TRUE(std::isfinite(rounds[0].epsilon));
  EXPECT_GT(rounds[1].epsilon, rounds[0].epsilon) << "ε accumulates over rounds";
  EXPECT_EQ(rounds[0].trainLoss, -1) << "no loss leaves a participant under differential privacy";
  // Uniform weights under differential privacy: the plain mean of the five targets.
  for (std::size_t j = 0; j < 2; ++j) {
    double mean = 0;
    for (const auto& site : kSecureSites) mean += site.target[j] / kSecureSites.size();
    EXPECT_NEAR(engine.parameters()[j], mean, 0.02);
    EXPECT_NE(engine.parameters()[j], static_cast<float>(mean)) << "noise is there";
  }
}

TEST(SecureRounds, ParticipantsRefuseRoundsWithoutTheConsistencyCheckUnlessAllowed) {
  for (bool allowed : {false, true}) {
    transport::InprocHub hub;
    auto options = secureOptions();
    options.secure.consistencyCheck = false;  // an honest-but-curious setup, or a malicious one
    options.maxRetriesPerRound = 0;
    coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f, 0.0f});
    std::vector<std::unique_ptr<RunningParticipant>> sites;
    for (const auto& site : kSecureSites)
      sites.push_back(std::make_unique<RunningParticipant>(hub, site.name, site.target, site.samples, std::nullopt,
                                                           std::nullopt, nullptr, /*requireConsistencyCheck=*/!allowed));
    std::this_thread::sleep_for(200ms);
    if (!allowed) {
      EXPECT_THROW(engine.run(), Error) << "no participant advertises keys for an unhardened round";
      continue;
    }
    // Participants that opted in (--allow-unhardened-secagg) take part in the classic protocol.
    engine.run();
    const auto expected = weightedMean({0, 1, 2, 3, 4});
    EXPECT_NEAR(engine.parameters()[0], expected[0], kQuantisationTolerance);
    EXPECT_NEAR(engine.parameters()[1], expected[1], kQuantisationTolerance);
  }
}

TEST(SecureRounds, DifferentialPrivacyWithoutSecureAggregationIsRefused) {
  transport::InprocHub hub;
  auto options = secureOptions();
  options.secure.enabled = false;
  options.secure.differentialPrivacy = dp::DpConfig{};
  EXPECT_THROW(coordinator::RoundEngine(hub, options, testBackbone(), {0.0f}), ConfigError);
  options.secure.enabled = true;
  options.secure.differentialPrivacy = dp::DpConfig{1.0, 1e-9, 0, 1e-5};  // noise below one quantum
  EXPECT_THROW(coordinator::RoundEngine(hub, options, testBackbone(), {0.0f}), ConfigError);
}

TEST(SecureRounds, LossesPastTheFineScaleAreStillReported) {
  transport::InprocHub hub;
  coordinator::RoundEngine engine(hub, secureOptions(), testBackbone(), {0.0f, 0.0f});
  coordinator::RoundMetrics seen;
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) { seen = m; });
  RunningParticipant a(hub, "a", {0.1f, 0.1f}, 10), b(hub, "b", {0.2f, 0.2f}, 30);
  a.trainer.loss = 84.0;  // far past the fine scale (16)
  b.trainer.loss = 2.0;
  engine.run();
  // (10 · 84 + 30 · 2) / 40, read from the coarse coordinate: within 2 quanta of 4096 · 2 / (2^16 - 1),
  // times W / Σw = 30 / 40.
  EXPECT_NEAR(seen.trainLoss, 22.5, 0.2);
}

TEST(SecureRounds, TooManyVanishingAbortsAndTheRetryUsesTheRest) {
  transport::InprocHub hub;
  coordinator::RoundEngine engine(hub, secureOptions(), testBackbone(), {0.0f, 0.0f});
  coordinator::RoundMetrics seen;
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) { seen = m; });
  // Three of five advertise and vanish: two share keys, fewer than t = 3. The attempt aborts;
  // the retry selects the two that are left (t = 2 of 2) and completes with their mean.
  const Vanish afterAdvertising{protocols::MessageType::kSecAggAdvertise, true};
  auto sites = startSecureSites(hub, {{0, afterAdvertising}, {2, afterAdvertising}, {4, afterAdvertising}});
  const auto start = std::chrono::steady_clock::now();
  engine.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  EXPECT_EQ(seen.retries, 1u);
  EXPECT_EQ(seen.selected, 2u);
  EXPECT_EQ(seen.received, 2u);
  const auto expected = weightedMean({1, 3});
  EXPECT_NEAR(engine.parameters()[0], expected[0], kQuantisationTolerance);
  EXPECT_NEAR(engine.parameters()[1], expected[1], kQuantisationTolerance);
}

TEST(SecureRounds, TooFewLeftForTheMinimumFailsCleanly) {
  transport::InprocHub hub;
  auto options = secureOptions();
  options.minParticipants = 3;
  options.maxRetriesPerRound = 1;
  options.joinTimeout = 500ms;
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f, 0.0f});
  const Vanish afterSharing{protocols::MessageType::kSecAggShareKeysResponse, true};
  auto sites = startSecureSites(hub, {{0, afterSharing}, {2, afterSharing}, {4, afterSharing}});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(engine.run(), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s) << "an error after the retries, never a hang";
  EXPECT_FLOAT_EQ(engine.parameters()[0], 0.0f) << "no sum of fewer than the minimum was unmasked";
}

TEST(SecureRounds, AnEncodingThatCouldWrapIsRefusedAtConstruction) {
  transport::InprocHub hub;
  auto options = secureOptions();
  options.secure.bits = 24;
  options.secure.maxParticipants = 300;  // 300 · (2^24 - 1) >= 2^32
  try {
    coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
    ADD_FAILURE() << "a wrapping encoding was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("300"), std::string::npos) << e.what();
  }
  options.secure.bits = 16;
  options.secure.maxParticipants = 65538;  // 65538 · (2^16 - 1) >= 2^32
  EXPECT_THROW(coordinator::RoundEngine(hub, options, testBackbone(), {0.0f}), ConfigError);
  options.secure.maxParticipants = 65537;  // (2^16 + 1)(2^16 - 1) = 2^32 - 1: just fits
  EXPECT_NO_THROW(coordinator::RoundEngine(hub, options, testBackbone(), {0.0f}));
}

TEST(SecureRounds, MisconfigurationsAreRefusedWithTheFix) {
  transport::InprocHub hub;
  auto expectRefused = [&](coordinator::EngineOptions options, const char* why) {
    try {
      coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f});
      ADD_FAILURE() << "accepted: " << why;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  auto robust = secureOptions();
  robust.aggregation = coordinator::AggregationOptions::parse("median");
  expectRefused(robust, "robust aggregation needs plaintext updates; use --aggregation mean or --no-secure-aggregation");
  auto alone = secureOptions();
  alone.minParticipants = 1;
  expectRefused(alone, "at least 2 participants");
  auto odd = secureOptions();
  odd.secure.neighbours = 5;
  expectRefused(odd, "must be even");
  robust.secure.enabled = false;
  EXPECT_NO_THROW(coordinator::RoundEngine(hub, robust, testBackbone(), {0.0f}));
}

TEST(SecureRounds, HellosMustCarryTheAllowListedIdentityKey) {
  transport::InprocHub hub;
  auto options = secureOptions();
  auto keyA = crypto::generateEd25519KeyPair(), keyB = crypto::generateEd25519KeyPair();
  options.identityKeys = {{"a", keyA.publicKey}, {"b", keyB.publicKey}, {"c", crypto::generateEd25519KeyPair().publicKey}};
  coordinator::RoundEngine engine(hub, options, testBackbone(), {0.0f, 0.0f});
  auto secretOf = [](const crypto::Ed25519KeyPair& pair) {
    return std::make_shared<const crypto::SecretBytes>(Span<const std::uint8_t>(pair.privateKey.data(), pair.privateKey.size()));
  };
  RunningParticipant a(hub, "a", {0.2f, 0.2f}, 10, std::nullopt, std::nullopt, secretOf(keyA));
  RunningParticipant b(hub, "b", {0.4f, 0.4f}, 10, std::nullopt, std::nullopt, secretOf(keyB));
  RunningParticipant c(hub, "c", {1.0f, 1.0f}, 10);  // an ephemeral key, not the listed one
  RunningParticipant x(hub, "x", {1.0f, 1.0f}, 10);  // not listed at all
  engine.run();
  EXPECT_EQ(engine.readyParticipants(), 2u);
  EXPECT_NEAR(engine.parameters()[0], 0.3f, kQuantisationTolerance) << "only a and b took part";
  c.stop = true;
  x.stop = true;
  c.join();
  x.join();
  EXPECT_EQ(c.report.roundsTrained, 0);
  EXPECT_EQ(x.report.roundsTrained, 0);
}

TEST(SecureRounds, ParticipantRefusesARosterThatCarriesAnotherKeyForIt) {
  transport::InprocHub hub;
  FakeTrainer trainer({0.5f}, 5);
  auto link = hub.connect("p");
  std::atomic<bool> stop{false};
  std::thread t([&] {
    participant::SessionOptions options;
    options.helloInterval = 5000ms;
    options.sendTimeout = 1000ms;
    participant::ParticipantSession s(*link, trainer, options);
    s.run([&] { return stop.load(); });
  });
  auto hello = hub.receive(2000ms);
  ASSERT_TRUE(hello.has_value());
  auto backbone = testBackbone();
  hub.send("p", transport::share(protocols::encodeFrame(protocols::Welcome{1, backbone.digest, true, {}}, 0, 0)), 1000ms);
  hub.send("p", transport::share(protocols::encodeFrame(protocols::BackboneData{backbone.digest, backbone.bytes}, 0, 0)),
           1000ms);
  protocols::RoundStart start{{}, {0.0f}, {}, {}, {}};
  start.secure.session = 1000;
  start.secure.roster = {{1, crypto::generateEd25519KeyPair().publicKey}, {2, crypto::generateEd25519KeyPair().publicKey}};
  start.secure.threshold = 2;
  start.secure.dimension = 1 + protocols::kSecAggLossCoordinates;
  start.secure.clip = 1;
  start.secure.bits = 16;
  start.secure.weightScale = 5;
  start.secure.consistencyCheck = true;
  hub.send("p", transport::share(protocols::encodeFrame(start, 1, 0)), 1000ms);
  while (auto reply = hub.receive(500ms))
    EXPECT_NE(protocols::decodeFrameHeader(reply->frame.bytes(), {}).type, protocols::MessageType::kSecAggAdvertise);
  EXPECT_EQ(trainer.trainings, 0) << "refused before training";
  // With the key from its hello it trains and advertises.
  const auto bytes = hello->frame.bytes();
  const auto h = protocols::decodePayload<protocols::Hello>(protocols::decodeFrameHeader(bytes, {}),
                                                            bytes.substr(protocols::kFrameHeaderSize));
  std::memcpy(start.secure.roster[0].identityKey.data(), h.identityKey.data(), crypto::kEd25519KeySize);
  hub.send("p", transport::share(protocols::encodeFrame(start, 1, 0)), 1000ms);
  bool advertised = false;
  while (auto reply = hub.receive(500ms))
    advertised = advertised ||
                 protocols::decodeFrameHeader(reply->frame.bytes(), {}).type == protocols::MessageType::kSecAggAdvertise;
  EXPECT_TRUE(advertised);
  EXPECT_EQ(trainer.trainings, 1);
  stop = true;
  t.join();
}

}  // namespace
}  // namespace fedtl
