// Throughput of the differential-privacy noise: exact discrete Gaussian samples added to a
// uint32 vector (dp::addDiscreteGaussian, CKS 2020 on AES-256-CTR randomness) against the SecAgg
// mask of the same vector (MaskPrg::addTo, one keystream word per coordinate), one thread pinned
// to one core, so the ratio (by CPU time) is what the noise costs next to one pairwise mask.
//
//   fedtl_bench_dp [--coordinates D] [--reps R] [--sigma S ...]   prints one JSON line
#include <sched.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/crypto/mask_prg.h"
#include "common/crypto/random.h"
#include "common/dp/discrete_gaussian.h"

namespace {

using Clock = std::chrono::steady_clock;

double threadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Items per second of `body`, best of `reps` runs: by the wall clock (the best run is the least
// disturbed by other work on a shared machine), and by this thread's CPU time (what the work
// costs when it has the core to itself; the two agree on an idle machine).
struct Rate {
  double wall = 0;
  double cpu = 0;
};
template <typename Body>
Rate bestPerSecond(int reps, std::size_t items, Body body) {
  Rate best;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    const double cpuStart = threadCpuSeconds();
    body();
    const double cpuSeconds = threadCpuSeconds() - cpuStart;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best.wall = std::max(best.wall, static_cast<double>(items) / seconds);
    best.cpu = std::max(best.cpu, static_cast<double>(items) / cpuSeconds);
  }
  return best;
}

// Keeps this thread on the core it runs on now; returns that core (or -1 if unknown).
int pinToCurrentCore() {
  const int core = sched_getcpu();
  if (core < 0) return -1;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0 ? core : -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t coordinates = 1000000;
  int reps = 5;
  std::vector<double> sigmas = {1, 3, 100, 10000, 1000000};
  CLI::App app{"discrete Gaussian noise throughput against SecAgg mask generation"};
  app.add_option("--coordinates", coordinates, "vector length (samples per run)")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "timed repetitions; the best is reported")->check(CLI::PositiveNumber);
  app.add_option("--sigma", sigmas, "noise σ values, in quantisation levels");
  CLI11_PARSE(app, argc, argv);

  using namespace fedtl;
  const int core = pinToCurrentCore();
  std::vector<std::uint32_t> vector(coordinates, 1);  // pages touched before timing
  const crypto::SecretBytes seed = crypto::randomSecret(crypto::MaskPrg::kSeedSize);

  const Rate maskWords =
      bestPerSecond(reps, coordinates, [&] { crypto::MaskPrg(seed).addTo(Span<std::uint32_t>(vector)); });
  std::string noise;
  for (const double sigma : sigmas) {
    const Rate samples = bestPerSecond(reps, coordinates, [&] {
      crypto::MaskPrg prg(seed);
      dp::addDiscreteGaussian(Span<std::uint32_t>(vector), sigma, prg);
    });
    char entry[256];
    std::snprintf(entry, sizeof entry,
                  "%s{\"sigma\": %g, \"samples_per_s\": %.4g, \"samples_per_cpu_s\": %.4g, "
                  "\"mask_words_per_sample\": %.1f}",
                  noise.empty() ? "" : ", ", sigma, samples.wall, samples.cpu, maskWords.cpu / samples.cpu);
    noise += entry;
  }
  std::printf(
      "{\"coordinates\": %zu, \"reps\": %d, \"core\": %d, \"mask_words_per_s\": %.4g, "
      "\"mask_words_per_cpu_s\": %.4g, \"noise\": [%s]}\n",
      coordinates, reps, core, maskWords.wall, maskWords.cpu, noise.c_str());
  return 0;
}
