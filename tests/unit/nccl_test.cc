// The NCCL backend (common/nccl). Without a GPU, or in a build without NCCL, the queries say so
// and the reducer refuses with a clear error instead of crashing. With GPUs: the uint32 sum
// equals the host's wrapped sum bit for bit, the float all-reduce averages, misuse is reported
// by name, and a communicator whose peer never joins times out instead of hanging.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "common/nccl/gpu_runtime.h"
#include "common/nccl/nccl_reducer.h"

namespace fedtl::nccl {
namespace {

using namespace std::chrono_literals;

#define FEDTL_SKIP_WITHOUT_GPUS(n) \
  if (deviceCount() < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA device(s): " << describe()

// Words near 2^32, so that sums of two or more wrap around.
std::vector<std::uint32_t> highWords(std::size_t count, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::uint32_t> dist(0xF0000000u, 0xFFFFFFFFu);
  std::vector<std::uint32_t> words(count);
  for (auto& w : words) w = dist(gen);
  return words;
}

TEST(Nccl, QueriesAnswerWithoutThrowing) {
  EXPECT_GE(deviceCount(), 0);
  EXPECT_EQ(available(), builtWithNccl() && deviceCount() > 0);
  EXPECT_FALSE(describe().empty());
  std::cout << "[          ] " << describe() << "\n";
}

TEST(Nccl, WithoutADeviceTheReducerSaysSo) {
  if (deviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    NcclReducer::localDevices(1);
    FAIL() << "a reducer without a device";
  } catch (const NcclError& e) {
    std::string message = e.what();
    // The stub says the build lacks NCCL; the real backend says how many devices it sees.
    EXPECT_NE(message.find(builtWithNccl() ? "sees 0 CUDA device" : "built without NCCL"), std::string::npos)
        << message;
  }
  EXPECT_THROW(DeviceMemory(0, 16), NcclError);
}

TEST(Nccl, SumOnOneRankIsTheInputBitForBit) {
  FEDTL_SKIP_WITHOUT_GPUS(1);
  const std::size_t count = (1u << 20) + 3;  // not a multiple of any vector width
  auto host = highWords(count, 1);
  auto reducer = NcclReducer::localDevices(1);
  EXPECT_EQ(reducer.size(), 1);
  DeviceMemory in(0, count * sizeof(std::uint32_t)), out(0, count * sizeof(std::uint32_t));
  in.upload<std::uint32_t>(host);
  std::vector<std::uint32_t> got(count);
  for (int root : {0, kAllRanks}) {
    std::fill(got.begin(), got.end(), 0);
    out.upload<std::uint32_t>(got);
    reducer.reduceSum(in.as<const std::uint32_t>(), out.as<std::uint32_t>(), count, root, 30s);
    out.download<std::uint32_t>(got);
    EXPECT_EQ(got, host) << "root " << root;
  }
}

TEST(Nccl, SumOverEveryLocalGpuWrapsLikeTheHost) {
  FEDTL_SKIP_WITHOUT_GPUS(2);
  const int ranks = deviceCount();
  const std::size_t count = 1000003;
  std::vector<std::vector<std::uint32_t>> host;
  std::vector<DeviceMemory> in, out;
  std::vector<std::uint32_t> expected(count, 0);
  for (int r = 0; r < ranks; ++r) {
    host.push_back(highWords(count, 100 + static_cast<std::uint32_t>(r)));
    for (std::size_t i = 0; i < count; ++i) expected[i] += host.back()[i];  // unsigned: wraps mod 2^32
    in.emplace_back(r, count * sizeof(std::uint32_t));
    out.emplace_back(r, count * sizeof(std::uint32_t));
    in.back().upload<std::uint32_t>(host.back());
  }
  auto reducer = NcclReducer::localDevices(ranks);
  std::vector<const std::uint32_t*> inputs;
  std::vector<std::uint32_t*> outputs;
  for (int r = 0; r < ranks; ++r) {
    inputs.push_back(in[r].as<const std::uint32_t>());
    outputs.push_back(out[r].as<std::uint32_t>());
  }
  reducer.reduceSum(inputs, outputs, count, kAllRanks, 60s);
  std::vector<std::uint32_t> got(count);
  for (int r = 0; r < ranks; ++r) {
    out[r].download<std::uint32_t>(got);
    EXPECT_EQ(got, expected) << "all-reduce on rank " << r;
  }
  const int root = ranks - 1;
  std::vector<std::uint32_t*> rootOnly(static_cast<std::size_t>(ranks), nullptr);
  rootOnly[static_cast<std::size_t>(root)] = outputs[static_cast<std::size_t>(root)];
  std::vector<std::uint32_t> zeros(count, 0);
  out[root].upload<std::uint32_t>(zeros);
  reducer.reduceSum(inputs, rootOnly, count, root, 60s);
  out[root].download<std::uint32_t>(got);
  EXPECT_EQ(got, expected) << "reduce to rank " << root;
}

TEST(Nccl, FloatAllReduceAverages) {
  FEDTL_SKIP_WITHOUT_GPUS(1);
  const int ranks = deviceCount();
  const std::size_t count = 4099;
  std::vector<DeviceMemory> buffers;
  std::vector<float*> pointers;
  for (int r = 0; r < ranks; ++r) {
    // Halves of small integers: every partial sum and the mean are exact in float.
    std::vector<float> values(count);
    for (std::size_t i = 0; i < count; ++i) values[i] = 0.5f * static_cast<float>((i % 64) + 2 * r);
    buffers.emplace_back(r, count * sizeof(float));
    buffers.back().upload<float>(values);
    pointers.push_back(buffers.back().as<float>());
  }
  auto reducer = NcclReducer::localDevices(ranks);
  reducer.allReduceAverage(pointers, count, 30s);
  std::vector<float> got(count);
  for (int r = 0; r < ranks; ++r) {
    buffers[r].download<float>(got);
    for (std::size_t i = 0; i < count; ++i)
      // NCCL may scale by 1/ranks before summing, which is inexact for three ranks or more.
      ASSERT_NEAR(got[i], 0.5f * static_cast<float>(i % 64) + static_cast<float>(ranks - 1) / 2.0f, 1e-4)
          << "rank " << r << " at " << i;
  }
}

TEST(Nccl, MisuseIsReportedByName) {
  FEDTL_SKIP_WITHOUT_GPUS(1);
  auto reducer = NcclReducer::localDevices(1);
  DeviceMemory memory(0, 64 * sizeof(std::uint32_t));
  std::vector<std::uint32_t> host(64, 1);
  try {
    reducer.reduceSum(host.data(), memory.as<std::uint32_t>(), host.size(), 0, 10s);
    FAIL() << "a host pointer was accepted";
  } catch (const NcclError& e) {
    EXPECT_NE(std::string(e.what()).find("host memory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(reducer.reduceSum(memory.as<const std::uint32_t>(), memory.as<std::uint32_t>(), 64, 3, 10s), NcclError);
  // Misuse caught before NCCL is called leaves the communicator usable.
  reducer.reduceSum(memory.as<const std::uint32_t>(), memory.as<std::uint32_t>(), 64, 0, 10s);
}

// Last on purpose: it leaves NCCL's bootstrap listener for the abandoned communicator behind.
TEST(Nccl, ACommunicatorWhosePeerNeverJoinsTimesOut) {
  FEDTL_SKIP_WITHOUT_GPUS(1);
  ReducerOptions options;
  options.initTimeout = 3s;
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(NcclReducer(newUniqueId(), 0, 2, 0, options), NcclTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
}

}  // namespace
}  // namespace fedtl::nccl
