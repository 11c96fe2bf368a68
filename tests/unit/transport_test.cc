// One suite, instantiated for every transport implementation.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <set>
#include <thread>

#include "common/transport/inproc/inproc_transport.h"
#include "common/error.h"
#include "common/transport/zmq/zmq_transport.h"

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

}  // namespace
}  // namespace fedtl::transport
