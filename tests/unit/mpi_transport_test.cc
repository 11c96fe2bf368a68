// The MPI transport under mpirun (ctest runs it with -np 3): rank 0 holds the hub, every other
// rank a link; each test runs on every rank, each rank playing its part, in the same order.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/transport/mpi/mpi_runtime.h"
#include "common/transport/mpi/mpi_transport.h"

namespace fedtl::transport {
namespace {

using namespace std::chrono_literals;

MpiRuntime* gRuntime = nullptr;
MpiHub* gHub = nullptr;    // rank 0
MpiLink* gLink = nullptr;  // the others
constexpr std::size_t kLimit = 4 << 20;

int rank() { return gRuntime->rank(); }
int ranks() { return gRuntime->size(); }

// Frames rank 0 received ahead of the test that waits for them (a fast rank runs ahead).
std::map<std::string, std::deque<std::string>> gEarly;

// Rank 0 waits for the frame `expected` (or, empty, any frame) from every participant rank;
// returns them by sender. Frames for later tests are kept for them.
std::map<std::string, std::string> receiveFromAll(const std::string& expected = {}, Millis timeout = 10000ms) {
  std::map<std::string, std::string> got;
  const auto matches = [&](const std::string& bytes) {
    return expected.empty() || bytes == expected || bytes.rfind(expected + " ", 0) == 0;
  };
  for (auto& [peer, frames] : gEarly)
    if (!frames.empty() && matches(frames.front())) {
      got[peer] = frames.front();
      frames.pop_front();
    }
  while (static_cast<int>(got.size()) < ranks() - 1) {
    auto in = gHub->receive(timeout);
    if (!in) break;
    std::string bytes(in->frame.bytes());
    if (got.count(in->peer) || !matches(bytes))
      gEarly[in->peer].push_back(std::move(bytes));
    else
      got[in->peer] = std::move(bytes);
  }
  return got;
}

TEST(MpiTransport, NamesFollowRanks) {
  EXPECT_EQ(mpiPeerName(3), "rank-3");
  EXPECT_EQ(mpiPeerRank("rank-12"), 12);
  EXPECT_EQ(mpiPeerRank("rank-"), -1);
  EXPECT_EQ(mpiPeerRank("site-1"), -1);
  if (rank() > 0) {
    EXPECT_EQ(gLink->name(), mpiPeerName(rank()));
  }
}

TEST(MpiTransport, RoundTripBothWays) {
  if (rank() > 0) {
    ASSERT_TRUE(gLink->send("hello from " + gLink->name(), 1000ms));
    auto back = gLink->receive(10000ms);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->bytes(), std::string(200000, static_cast<char>(rank())));
    return;
  }
  auto got = receiveFromAll("hello from");
  ASSERT_EQ(static_cast<int>(got.size()), ranks() - 1);
  for (auto& [peer, bytes] : got) EXPECT_EQ(bytes, "hello from " + peer);
  for (int r = 1; r < ranks(); ++r)
    ASSERT_TRUE(gHub->send(mpiPeerName(r), share(std::string(200000, static_cast<char>(r))), 1000ms));
  EXPECT_FALSE(gHub->send("rank-99", share("nobody"), 100ms));
  EXPECT_FALSE(gHub->send("alice", share("nobody"), 100ms));
}

TEST(MpiTransport, BroadcastStaysInSequenceWithFrames) {
  const std::string big(1 << 20, 'b');
  if (rank() > 0) {
    for (const std::string& expected : {std::string("before"), big, std::string("after")}) {
      auto frame = gLink->receive(10000ms);
      ASSERT_TRUE(frame.has_value());
      EXPECT_EQ(frame->bytes(), expected);
    }
    ASSERT_TRUE(gLink->send("done in sequence", 1000ms));
    return;
  }
  const auto peers = gHub->peers();
  for (const auto& p : peers) ASSERT_TRUE(gHub->send(p, share("before"), 1000ms));
  const auto sent = gHub->broadcast(peers, share(big), 1000ms);
  EXPECT_EQ(sent, std::vector<bool>(peers.size(), true));
  for (const auto& p : peers) ASSERT_TRUE(gHub->send(p, share("after"), 1000ms));
  EXPECT_EQ(static_cast<int>(receiveFromAll("done in sequence").size()), ranks() - 1);
}

TEST(MpiTransport, BroadcastToSomeIsSentToEach) {
  if (rank() > 0) {
    if (rank() == 1) {
      auto frame = gLink->receive(10000ms);
      ASSERT_TRUE(frame.has_value());
      EXPECT_EQ(frame->bytes(), "only you");
    }
    ASSERT_TRUE(gLink->send("done to some", 1000ms));
    return;
  }
  EXPECT_EQ(gHub->broadcast({"rank-1"}, share("only you"), 1000ms), std::vector<bool>{true});
  EXPECT_EQ(static_cast<int>(receiveFromAll("done to some").size()), ranks() - 1);
}

// The values of rank r: large enough that sums wrap mod 2^32.
std::vector<std::uint32_t> contribution(int r, std::size_t n) {
  std::vector<std::uint32_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0xF0000000u + static_cast<std::uint32_t>(r) * 1000003u + static_cast<std::uint32_t>(i);
  return v;
}

TEST(MpiTransport, ReduceSumsExactlyTheNamedContributorsModulo2To32) {
  constexpr std::size_t n = 100000;
  constexpr std::uint64_t key = 7001;
  if (rank() > 0) {
    EXPECT_TRUE(gLink->reducesInTransport());
    ASSERT_TRUE(gLink->contribute(key, contribution(rank(), n), 1000ms));
    ASSERT_TRUE(gLink->send("contributed", 1000ms));
    ASSERT_TRUE(gLink->receive(20000ms).has_value());  // the hub's "reduced"
    return;
  }
  ASSERT_EQ(static_cast<int>(receiveFromAll("contributed").size()), ranks() - 1);
  // Every rank but the last is named: the last one's vector must not count.
  std::vector<std::string> named;
  std::vector<std::uint32_t> expected(n, 0);
  for (int r = 1; r < ranks() - 1 || (ranks() == 2 && r == 1); ++r) {
    named.push_back(mpiPeerName(r));
    const auto v = contribution(r, n);
    for (std::size_t i = 0; i < n; ++i) expected[i] += v[i];
  }
  std::vector<std::uint32_t> sum(n, 12345);  // replaced, not added to
  ASSERT_TRUE(gHub->reduceSum(key, named, sum, 20000ms));
  EXPECT_EQ(sum, expected);
  std::vector<std::uint32_t> none(3);
  EXPECT_FALSE(gHub->reduceSum(key, {"not-a-rank"}, none, 1000ms));
  for (const auto& p : gHub->peers()) ASSERT_TRUE(gHub->send(p, share("reduced"), 1000ms));
}

TEST(MpiTransport, ANamedRankWithoutAContributionAddsZeros) {
  constexpr std::size_t n = 10;
  if (rank() > 0) {
    ASSERT_TRUE(gLink->send("ready", 1000ms));
    ASSERT_TRUE(gLink->receive(20000ms).has_value());
    return;
  }
  ASSERT_EQ(static_cast<int>(receiveFromAll("ready").size()), ranks() - 1);
  std::vector<std::uint32_t> sum(n, 1);
  ASSERT_TRUE(gHub->reduceSum(99, gHub->peers(), sum, 20000ms));
  EXPECT_EQ(sum, std::vector<std::uint32_t>(n, 0));
  for (const auto& p : gHub->peers()) ASSERT_TRUE(gHub->send(p, share("reduced"), 1000ms));
}

TEST(MpiTransport, FloatReduceSumsTheNamedContributionsBesideTheUint32Ones) {
  constexpr std::size_t n = 50000;
  constexpr std::uint64_t key = 3;
  // Small integers: exact in float whatever order MPI's tree adds them in.
  const auto floats = [](int r) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(r) * 0.5f + static_cast<float>(i % 7);
    return v;
  };
  if (rank() > 0) {
    ASSERT_TRUE(gLink->contributeFloat(key, floats(rank()), 1000ms));
    ASSERT_TRUE(gLink->contribute(key, std::vector<std::uint32_t>(4, 1), 1000ms));  // a separate collective
    ASSERT_TRUE(gLink->send("contributed", 1000ms));
    ASSERT_TRUE(gLink->receive(20000ms).has_value());
    return;
  }
  ASSERT_EQ(static_cast<int>(receiveFromAll("contributed").size()), ranks() - 1);
  std::vector<float> expected(n, 0.0f);
  for (int r = 1; r < ranks(); ++r) {
    const auto v = floats(r);
    for (std::size_t i = 0; i < n; ++i) expected[i] += v[i];
  }
  std::vector<float> sum(n, -1.0f);
  ASSERT_TRUE(gHub->reduceFloatSum(key, gHub->peers(), sum, 20000ms));
  EXPECT_EQ(sum, expected);
  // Kept after the reduction (a retried round reduces it again); only rank 1 named this time.
  std::vector<float> again(n);
  ASSERT_TRUE(gHub->reduceFloatSum(key, {mpiPeerName(1)}, again, 20000ms));
  EXPECT_EQ(again, floats(1));
  std::vector<std::uint32_t> ints(4);
  ASSERT_TRUE(gHub->reduceSum(key, gHub->peers(), ints, 20000ms));
  EXPECT_EQ(ints, std::vector<std::uint32_t>(4, static_cast<std::uint32_t>(ranks() - 1)));
  for (const auto& p : gHub->peers()) ASSERT_TRUE(gHub->send(p, share("reduced"), 1000ms));
}

TEST(MpiTransport, OversizedFramesAreRefusedAndWaitsEnd) {
  if (rank() > 0) {
    EXPECT_FALSE(gLink->send(std::string(kLimit + 1, 'x'), 1000ms));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(gLink->receive(100ms).has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    ASSERT_TRUE(gLink->send("done oversized", 1000ms));
    return;
  }
  EXPECT_FALSE(gHub->send("rank-1", share(std::string(kLimit + 1, 'x')), 1000ms));
  EXPECT_EQ(static_cast<int>(receiveFromAll("done oversized").size()), ranks() - 1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(gHub->receive(100ms).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace fedtl::transport

int main(int argc, char** argv) {
  using namespace fedtl::transport;
  ::testing::InitGoogleTest(&argc, argv);
  MpiRuntime runtime(Millis(60000));
  gRuntime = &runtime;
  if (runtime.size() < 2) {
    std::fprintf(stderr, "run under mpirun with at least 2 ranks\n");
    return 1;
  }
  MpiTransportOptions options;
  options.maxMessageBytes = kLimit;
  options.collectiveTimeout = Millis(60000);
  std::unique_ptr<MpiHub> hub;
  std::unique_ptr<MpiLink> link;
  if (runtime.rank() == 0)
    hub = std::make_unique<MpiHub>(runtime, MPI_COMM_WORLD, options);
  else
    link = std::make_unique<MpiLink>(runtime, MPI_COMM_WORLD, options);
  gHub = hub.get();
  gLink = link.get();
  const int rc = RUN_ALL_TESTS();
  hub.reset();
  link.reset();
  return rc;
}
