// Throughput of the NCCL uint32 sum (NcclReducer::reduceSum, the GPU path of secure
// aggregation's masked-vector reduce) on one rank, beside a device-to-device cudaMemcpy of the
// same bytes on the same GPU: on one rank the reduce moves the vector once, so the copy is its
// ceiling, and the ratio shows what NCCL's launch and fedtl's bounded wait add. Each call is
// waited for, as the reducer's callers wait.
//
//   fedtl_bench_nccl [--iterations N]   one JSON line per figure (GB = 10^9 bytes); exit 77
//                                       (skipped) without a CUDA device or without NCCL
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "common/nccl/gpu_runtime.h"
#include "common/nccl/nccl_reducer.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename Body>
double secondsPerCall(int iterations, Body body) {
  for (int i = 0; i < 10; ++i) body();  // warm-up: NCCL's first call sets up its kernels and buffers
  const auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) body();
  return std::chrono::duration<double>(Clock::now() - start).count() / iterations;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 200;
  CLI::App app{"NCCL uint32 reduce throughput beside cudaMemcpy"};
  app.add_option("--iterations", iterations, "timed calls per size")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  using namespace fedtl::nccl;
  using namespace std::chrono_literals;
  std::printf("{\"bench\": \"nccl-environment\", \"describe\": \"%s\"}\n", describe().c_str());
  if (!available()) {
    std::fprintf(stderr, "fedtl_bench_nccl: skipped, no CUDA device with NCCL: %s\n", describe().c_str());
    return 77;
  }
  auto reducer = NcclReducer::localDevices(1);
  for (std::size_t count : {std::size_t{1000000}, std::size_t{10000000}}) {
    const std::size_t bytes = count * sizeof(std::uint32_t);
    std::vector<std::uint32_t> host(count);
    for (std::size_t i = 0; i < count; ++i) host[i] = static_cast<std::uint32_t>(i * 2654435761u);
    DeviceMemory in(0, bytes), out(0, bytes), copy(0, bytes);
    in.upload<std::uint32_t>(host);

    const double reduce = secondsPerCall(
        iterations, [&] { reducer.reduceSum(in.as<const std::uint32_t>(), out.as<std::uint32_t>(), count, 0, 60s); });
    const double memcpy = secondsPerCall(iterations, [&] { copy.copyFrom(in, bytes); });

    std::vector<std::uint32_t> check(count);
    out.download<std::uint32_t>(check);
    const bool exact = check == host;  // one rank: the sum is the input, bit for bit
    std::printf(
        "{\"bench\": \"nccl-reduce-uint32\", \"elements\": %zu, \"bytes\": %zu, \"iterations\": %d, "
        "\"reduce_gb_per_s\": %.2f, \"reduce_us_per_call\": %.1f, \"memcpy_gb_per_s\": %.2f, "
        "\"memcpy_us_per_call\": %.1f, \"ratio\": %.3f, \"exact\": %s}\n",
        count, bytes, iterations, static_cast<double>(bytes) / reduce / 1e9, reduce * 1e6,
        static_cast<double>(bytes) / memcpy / 1e9, memcpy * 1e6, memcpy / reduce, exact ? "true" : "false");
    if (!exact) return 1;
  }
  return 0;
}
