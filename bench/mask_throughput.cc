// Throughput of the SecAgg mask generator (crypto::MaskPrg) on a large vector: filling a
// uint32 mask, and adding one in place (what a participant does per pairwise seed). bench/
// mask_throughput runs it beside `openssl speed -evp aes-256-ctr`, the raw speed of the same
// OpenSSL AES-CTR, so the ratio shows what the wrapper costs.
//
//   fedtl_bench_mask [--mb M] [--reps R]        prints one JSON line (GB = 10^9 bytes)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "common/crypto/mask_prg.h"
#include "common/crypto/random.h"

namespace {

using Clock = std::chrono::steady_clock;

// Best of `reps` runs of `body`, in GB/s over `bytes`: the best run is the least disturbed by
// other work on a shared machine.
template <typename Body>
double bestGbPerSecond(int reps, std::size_t bytes, Body body) {
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    body();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, static_cast<double>(bytes) / seconds / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t megabytes = 64;
  int reps = 10;
  CLI::App app{"SecAgg mask generator throughput"};
  app.add_option("--mb", megabytes, "vector size in MB (10^6 bytes)")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "timed repetitions; the best is reported")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  using namespace fedtl;
  const std::size_t words = megabytes * 1000000 / sizeof(std::uint32_t);
  const std::size_t bytes = words * sizeof(std::uint32_t);
  std::vector<std::uint32_t> vector(words, 1);  // pages touched before timing
  const crypto::SecretBytes seed = crypto::randomSecret(crypto::MaskPrg::kSeedSize);

  crypto::MaskPrg warmup(seed);
  warmup.fill(Span<std::uint32_t>(vector));

  const double fill = bestGbPerSecond(reps, bytes, [&] { crypto::MaskPrg(seed).fill(Span<std::uint32_t>(vector)); });
  const double add = bestGbPerSecond(reps, bytes, [&] { crypto::addMask(Span<std::uint32_t>(vector), seed); });
  std::printf("{\"bytes\": %zu, \"reps\": %d, \"fill_gb_per_s\": %.3f, \"add_gb_per_s\": %.3f}\n", bytes, reps, fill,
              add);
  return 0;
}
