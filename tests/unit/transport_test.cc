// One suite, instantiated for every transport implementation.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <functional>
#include <set>
#include <thread>

#include "common/transport/inproc/inproc_transport.h"
#include "common/error.h"
#include "common/transport/zmq/zmq_transport.h"
#include "coordinator/round_engine.h"
#include "participant/session.h"
#include "protocols/checkpoint_format.h"

namespace fedtl::transport {
namespace {

using namespace std::chrono_literals;

// A hub plus a way to connect participants to it.
struct Fixture {
  std::unique_ptr<Hub> hub;
  std::function<std::unique_ptr<Link>(const std::string&)> connect;
};

Fixture makeInproc() {
  auto hub = std::make_unique<InprocHub>(8);
  auto* raw = hub.get();
  return {std::move(hub), [raw](const std::string& name) { return raw->connect(name); }};
}

Fixture makeZmq() {
  LinkOptions options;
  options.maxMessageBytes = 1 << 20;
  auto hub = std::make_unique<ZmqHub>("tcp://127.0.0.1:0", options);
  std::string endpoint = hub->endpoint();
  return {std::move(hub), [endpoint, options](const std::string& name) {
            return std::make_unique<ZmqLink>(endpoint, name, options);
          }};
}

class TransportTest : public ::testing::TestWithParam<std::function<Fixture()>> {};

TEST_P(TransportTest, RoundTripBothWays) {
  auto f = GetParam()();
  auto link = f.connect("alice");
  ASSERT_TRUE(link->send("hello", 1000ms));
  auto in = f.hub->receive(5000ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "alice");
  EXPECT_EQ(in->frame.bytes(), "hello");
  std::string big(200000, '\x07');
  ASSERT_TRUE(f.hub->send("alice", transport::share(big), 1000ms));
  auto back = link->receive(5000ms);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->bytes(), big);
}

TEST_P(TransportTest, ManyParticipantsAreToldApart) {
  auto f = GetParam()();
  std::vector<std::unique_ptr<Link>> links;
  for (int i = 0; i < 5; ++i) links.push_back(f.connect("p" + std::to_string(i)));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(links[static_cast<std::size_t>(i)]->send(std::to_string(i), 1000ms));
  std::set<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    auto in = f.hub->receive(5000ms);
    ASSERT_TRUE(in.has_value());
    EXPECT_EQ("p" + std::string(in->frame.bytes()), in->peer);
    seen.insert(in->peer);
  }
  EXPECT_EQ(seen.size(), 5u);
  for (int i = 4; i >= 0; --i) ASSERT_TRUE(f.hub->send("p" + std::to_string(i), transport::share("to" + std::to_string(i)), 1000ms));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(links[static_cast<std::size_t>(i)]->receive(5000ms).value_or(transport::Frame()).bytes(), "to" + std::to_string(i));
}

TEST_P(TransportTest, WaitsEndAtTheirTimeout) {
  auto f = GetParam()();
  auto link = f.connect("bob");
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(f.hub->receive(100ms).has_value());
  EXPECT_FALSE(link->receive(100ms).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(f.hub->send("nobody", transport::share("x"), 100ms)) << "unknown peers are refused, not queued forever";
}

TEST_P(TransportTest, ReconnectingParticipantKeepsItsName) {
  auto f = GetParam()();
  {
    auto first = f.connect("carol");
    ASSERT_TRUE(first->send("one", 1000ms));
    ASSERT_EQ(f.hub->receive(5000ms)->frame.bytes(), "one");
  }
  auto second = f.connect("carol");
  ASSERT_TRUE(second->send("two", 1000ms));
  auto in = f.hub->receive(5000ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "carol");
  EXPECT_EQ(in->frame.bytes(), "two");
  ASSERT_TRUE(f.hub->send("carol", transport::share("welcome back"), 1000ms));
  EXPECT_EQ(second->receive(5000ms).value_or(transport::Frame()).bytes(), "welcome back");
}

std::string fixtureName(const ::testing::TestParamInfo<std::function<Fixture()>>&) { return "loopback"; }
INSTANTIATE_TEST_SUITE_P(Inproc, TransportTest, ::testing::Values(std::function<Fixture()>(makeInproc)), fixtureName);
INSTANTIATE_TEST_SUITE_P(Zmq, TransportTest, ::testing::Values(std::function<Fixture()>(makeZmq)), fixtureName);

TEST(ZmqTransport, OversizedFrameDropsOnlyThatConnection) {
  auto log = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  spdlog::default_logger()->sinks().push_back(log);
  LinkOptions options;
  options.maxMessageBytes = 1000;
  ZmqHub hub("tcp://127.0.0.1:0", options);
  LinkOptions unlimited;
  unlimited.maxMessageBytes = -1;
  ZmqLink attacker(hub.endpoint(), "mallory", unlimited);
  ZmqLink honest(hub.endpoint(), "dave", options);
  ASSERT_TRUE(attacker.send(std::string(5000, 'A'), 1000ms));
  ASSERT_TRUE(honest.send("fine", 1000ms));
  auto in = hub.receive(5000ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "dave");
  EXPECT_EQ(in->frame.bytes(), "fine");
  EXPECT_FALSE(hub.receive(300ms).has_value()) << "the oversized frame must never be delivered";
  // The drop is logged with its likely reason.
  bool logged = false;
  for (int i = 0; i < 20 && !logged; ++i) {
    hub.receive(50ms);
    for (const auto& line : log->last_formatted())
      logged = logged || line.find("above the 1000-byte limit") != std::string::npos;
  }
  EXPECT_TRUE(logged);
  spdlog::default_logger()->sinks().pop_back();
}

TEST(ZmqTransport, BadBindAddressIsAConfigError) {
  EXPECT_THROW(ZmqHub("tcp://256.0.0.1:x"), ConfigError);
}

// ---- The collective: streamed (frames summed by the engine) or reduced in the transport ----

TEST(TransportCollective, StreamingTransportsDoNotReduce) {
  InprocHub hub;
  auto link = hub.connect("a");
  EXPECT_FALSE(hub.reducesInTransport());
  EXPECT_FALSE(link->reducesInTransport());
  EXPECT_FALSE(link->contribute(1, {1, 2}, 100ms));
  std::vector<std::uint32_t> sum(2, 7);
  EXPECT_FALSE(hub.reduceSum(1, {"a"}, sum, 100ms));
  EXPECT_TRUE(sum.empty());
  EXPECT_FALSE(ZmqHub("tcp://127.0.0.1:0").reducesInTransport());
}

TEST(TransportCollective, SharedSumAddsExactlyTheNamedContributionsModulo2To32) {
  InprocHub hub(8, /*reduceInTransport=*/true);
  auto a = hub.connect("a"), b = hub.connect("b"), c = hub.connect("c");
  ASSERT_TRUE(a->reducesInTransport());
  ASSERT_TRUE(a->contribute(5, {0xFFFFFFFFu, 1, 2}, 100ms));
  ASSERT_TRUE(b->contribute(5, {2, 3, 4}, 100ms));
  ASSERT_TRUE(c->contribute(5, {100, 100, 100}, 100ms));  // not named: left out
  std::vector<std::uint32_t> sum(3, 9);
  ASSERT_TRUE(hub.reduceSum(5, {"a", "b"}, sum, 100ms));
  EXPECT_EQ(sum, (std::vector<std::uint32_t>{1, 4, 6}));
  ASSERT_TRUE(hub.reduceSum(6, {"a"}, sum, 100ms));  // another key: nothing contributed under it
  EXPECT_EQ(sum, (std::vector<std::uint32_t>{0, 0, 0}));
}

TEST(TransportCollective, SharedFloatSumAddsTheNamedContributionsOfTheKey) {
  InprocHub hub(8, /*reduceInTransport=*/true);
  auto a = hub.connect("a"), b = hub.connect("b"), c = hub.connect("c");
  ASSERT_TRUE(a->contributeFloat(3, {1.5f, -2.0f}, 100ms));
  ASSERT_TRUE(b->contributeFloat(3, {0.25f, 4.0f}, 100ms));
  ASSERT_TRUE(c->contributeFloat(2, {100.0f, 100.0f}, 100ms));  // named, but an older key: zeros
  std::vector<float> sum(2, 9.0f);
  ASSERT_TRUE(hub.reduceFloatSum(3, {"a", "b", "c"}, sum, 100ms));
  EXPECT_EQ(sum, (std::vector<float>{1.75f, 2.0f}));
  // A newer contribution replaces the older one; the uint32 collective is separate.
  ASSERT_TRUE(a->contributeFloat(4, {1.0f, 1.0f}, 100ms));
  ASSERT_TRUE(a->contribute(4, {7, 7}, 100ms));
  ASSERT_TRUE(hub.reduceFloatSum(4, {"a"}, sum, 100ms));
  EXPECT_EQ(sum, (std::vector<float>{1.0f, 1.0f}));
  // Streamed, there is no float reduction either.
  InprocHub streamed;
  auto d = streamed.connect("d");
  EXPECT_FALSE(d->contributeFloat(1, {1.0f}, 100ms));
  EXPECT_FALSE(streamed.reduceFloatSum(1, {"d"}, sum, 100ms));
  EXPECT_TRUE(sum.empty());
}

TEST(TransportCollective, DefaultBroadcastSendsToEachAndSaysWhoWasReached) {
  InprocHub hub;
  auto a = hub.connect("a"), b = hub.connect("b");
  const auto sent = hub.broadcast({"a", "nobody", "b"}, share("all"), 100ms);
  EXPECT_EQ(sent, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(a->receive(1000ms).value_or(Frame()).bytes(), "all");
  EXPECT_EQ(b->receive(1000ms).value_or(Frame()).bytes(), "all");
}

// Secure rounds of the real engine and sessions over both realisations of the collective: with
// the test-only deterministic rounding, the final parameters are equal bit for bit (the ring
// sum does not depend on where or in what order it is taken).
class TargetTrainer : public participant::LocalTrainer {
 public:
  TargetTrainer(std::vector<float> target, std::uint64_t samples) : target_(std::move(target)), samples_(samples) {}
  std::uint64_t trainSamples() const override { return samples_; }
  std::string cachedBackbone() const override { return backbone_; }
  void setBackbone(const std::string& digest, const std::string&) override { backbone_ = digest; }
  std::vector<float> batchNormStatistics() override { return {}; }
  protocols::Update train(const protocols::RoundStart& start) override {
    protocols::Update u;
    u.trainSamples = samples_;
    u.trainLoss = 0.25;
    for (std::size_t i = 0; i < start.parameters.size(); ++i) u.delta.push_back(target_[i] - start.parameters[i]);
    return u;
  }
  protocols::EvalResult evaluate(const std::vector<float>&) override { return {samples_, 0.5, 0.5}; }

 private:
  std::vector<float> target_;
  std::uint64_t samples_;
  std::string backbone_;
};

struct RunResult {
  std::vector<float> parameters;
  std::uint64_t bytesUp = 0;
  double trainLoss = 0;
};

RunResult runOver(bool reduceInTransport, bool secure, coordinator::AggregationOptions aggregation = {},
                  coordinator::ServerOptimizerKind server = coordinator::ServerOptimizerKind::kFedAvg) {
  InprocHub hub(64, reduceInTransport);
  coordinator::EngineOptions options;
  options.rounds = 2;
  options.minParticipants = 4;
  options.joinTimeout = 5000ms;
  options.stageTimeout = 5000ms;
  options.secure.enabled = secure;
  options.secure.clip = 1.0;
  options.aggregation = aggregation;
  options.server.kind = server;
  options.server.learningRate = server == coordinator::ServerOptimizerKind::kFedAvg ? 1.0 : 0.1;
  options.uploadWindowBytes = 1;  // streamed: one update or masked input at a time
  const std::string checkpoint = protocols::encodeCheckpointFile(protocols::CheckpointHeader{}, "tensors");
  coordinator::RoundEngine engine(hub, options, {protocols::checkpointDigestHex(checkpoint, "test"), checkpoint},
                                  {0.0f, 0.0f, 0.0f});
  RunResult result;
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>&) {
    result.bytesUp += m.bytesUp;
    result.trainLoss = m.trainLoss;
  });
  const std::vector<std::vector<float>> targets = {{0.1f, -0.3f, 0.2f}, {-0.2f, 0.4f, 0.1f}, {0.3f, 0.0f, -0.1f},
                                                   {0.05f, 0.2f, 0.3f}};
  std::vector<std::unique_ptr<TargetTrainer>> trainers;
  std::vector<std::unique_ptr<Link>> links;
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    trainers.push_back(std::make_unique<TargetTrainer>(targets[i], 10 * (i + 1)));
    links.push_back(hub.connect("p" + std::to_string(i)));
  }
  for (std::size_t i = 0; i < targets.size(); ++i)
    threads.emplace_back([&, i] {
      participant::SessionOptions o;
      o.deterministicRoundingSeed = 1000 + i;
      participant::ParticipantSession session(*links[i], *trainers[i], o);
      session.run([] { return false; });
    });
  engine.run();
  for (auto& t : threads) t.join();
  result.parameters = engine.parameters();
  return result;
}

TEST(TransportCollective, SecureRoundsGiveTheSameBitsStreamedOrReducedInTheTransport) {
  const auto [streamed, streamedBytes, streamedLoss] = runOver(false, true);
  const auto [reduced, reducedBytes, reducedLoss] = runOver(true, true);
  ASSERT_EQ(streamed.size(), 3u);
  EXPECT_EQ(std::memcmp(streamed.data(), reduced.data(), streamed.size() * sizeof(float)), 0)
      << streamed[0] << " " << reduced[0];
  EXPECT_NEAR(streamed[0], 0.08f, 1e-3f);  // near the weighted mean of the targets
  // Reduced in the transport, the masked vectors never travel to the coordinator in frames.
  EXPECT_LT(reducedBytes, streamedBytes);
}

// Plaintext FedAvg over a hub that reduces: the weighted updates are summed by the transport's
// float reduction instead of frames into the engine. The float sum's order differs from the
// streamed one, so the parameters agree within float rounding, not bit for bit.
TEST(TransportCollective, PlaintextRoundsGiveTheSameParametersStreamedOrReducedInTheTransport) {
  for (const auto server : {coordinator::ServerOptimizerKind::kFedAvg, coordinator::ServerOptimizerKind::kFedAdam}) {
    const auto streamed = runOver(false, false, {}, server);
    const auto reduced = runOver(true, false, {}, server);
    ASSERT_EQ(streamed.parameters.size(), 3u);
    ASSERT_EQ(reduced.parameters.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(streamed.parameters[i], reduced.parameters[i], 1e-6);
    EXPECT_NEAR(streamed.trainLoss, 0.25, 1e-9);
    EXPECT_NEAR(reduced.trainLoss, 0.25, 1e-6);  // w·loss and w summed in the same reduction
    // The updates never travel to the coordinator: only the announcements do (the evaluation
    // results, the same in both, dominate with a three-value model).
    EXPECT_LT(reduced.bytesUp, streamed.bytesUp);
  }
  // FedAvg, learning rate 1: the global model becomes the sample-weighted mean of the targets.
  const auto reduced = runOver(true, false);
  EXPECT_NEAR(reduced.parameters[0], (0.1f * 10 - 0.2f * 20 + 0.3f * 30 + 0.05f * 40) / 100, 1e-6);
  EXPECT_NEAR(reduced.parameters[1], (-0.3f * 10 + 0.4f * 20 + 0.0f * 30 + 0.2f * 40) / 100, 1e-6);
}

// Robust aggregation needs every update on its own: over a hub that reduces they still travel
// point to point, and the result is the same bits.
TEST(TransportCollective, RobustAggregationKeepsPointToPointUpdatesOverAReducingHub) {
  const auto median = coordinator::AggregationOptions::parse("median");
  const auto streamed = runOver(false, false, median);
  const auto reduced = runOver(true, false, median);
  ASSERT_EQ(streamed.parameters.size(), 3u);
  EXPECT_EQ(std::memcmp(streamed.parameters.data(), reduced.parameters.data(), 3 * sizeof(float)), 0);
  EXPECT_EQ(streamed.bytesUp, reduced.bytesUp);
}

}  // namespace
}  // namespace fedtl::transport
