// Local training throughput of fedtl's loop, and linear-probe epochs with cached features vs
// epochs that run the frozen backbone. bench/run puts these beside Python PyTorch's figures.
//
//   fedtl_bench_train loop  [--steps N] [--threads T]   samples/s of the pretraining loop
//   fedtl_bench_train probe [--samples N] [--epochs E]  cached vs uncached probe epochs
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/memory_tuning.h"
#include "common/ml/backbone.h"
#include "common/ml/training.h"
#include "participant/fine_tune.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long long flag(int argc, char** argv, const char* name, long long fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return fallback;
}

// The reference recipe's model and optimiser: conv32-BN-pool, conv64-BN-pool, fc128, head;
// SGD momentum 0.9, batch 64.
int loop(long long steps) {
  torch::manual_seed(0);
  fedtl::ml::TransferModel model(fedtl::ml::makeSmallCnn(), 10, 128);
  const std::int64_t n = 64 * 50;
  auto x = torch::rand({n, 1, 28, 28});
  auto y = torch::randint(0, 10, {n}, torch::kInt64);
  fedtl::ml::LoopOptions opt;
  opt.steps = 20;  // warm-up
  opt.momentum = 0.9;
  opt.nesterov = false;
  opt.weightDecay = 0;
  model->train();
  auto f = [&](const torch::Tensor& b) { return model->forward(b); };
  fedtl::ml::trainLoop(f, {{model->parameters(), 0.05}}, x, y, opt);
  opt.steps = steps;
  auto stats = fedtl::ml::trainLoop(f, {{model->parameters(), 0.05}}, x, y, opt);
  std::printf("{\"bench\": \"loop\", \"samples_per_second\": %.1f, \"steps\": %lld, \"threads\": %d}\n",
              stats.samplesPerSecond(), steps, torch::get_num_threads());
  return 0;
}

// One epoch = every sample once, batch 64. Cached: the features are computed once (that cost
// is reported separately) and each epoch trains the head on them. Uncached: each epoch runs
// the frozen backbone forward for every batch, as a loop without a feature cache would.
int probe(long long samples, long long epochs) {
  torch::manual_seed(0);
  fedtl::ml::TransferModel model(fedtl::ml::makeSmallCnn(), 10);
  model->eval();
  auto x = torch::rand({samples, 1, 28, 28});
  auto y = torch::randint(0, 10, {samples}, torch::kInt64);
  for (auto& p : model->backbone->parameters()) p.set_requires_grad(false);
  fedtl::ml::LoopOptions opt;
  opt.steps = epochs * (samples / 64);
  opt.weightDecay = 0;

  auto t0 = Clock::now();
  fedtl::ml::trainLoop(
      [&](const torch::Tensor& b) {
        torch::Tensor features;
        {
          torch::NoGradGuard g;
          features = model->backbone->forward(b);
        }
        return model->head->forward(features);
      },
      {{model->head->parameters(), 0.05}}, x, y, opt);
  double uncached = since(t0) / static_cast<double>(epochs);

  t0 = Clock::now();
  auto features = fedtl::ml::mapBatches([&](const torch::Tensor& b) { return model->backbone->forward(b); }, x, 500);
  double cacheBuild = since(t0);
  t0 = Clock::now();
  fedtl::ml::trainLoop([&](const torch::Tensor& f) { return model->head->forward(f); }, {{model->head->parameters(), 0.05}},
                       features, y, opt);
  double cached = since(t0) / static_cast<double>(epochs);
  std::printf(
      "{\"bench\": \"probe\", \"samples\": %lld, \"epoch_seconds_uncached\": %.4f, \"epoch_seconds_cached\": %.4f, "
      "\"cache_build_seconds\": %.3f, \"speedup\": %.1f}\n",
      samples, uncached, cached, cacheBuild, uncached / cached);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s loop|probe [--steps N] [--samples N] [--epochs E] [--threads T]\n", argv[0]);
    return 2;
  }
  // --default-malloc measures the loop without fedtl's allocator settings, to show their effect.
  bool tuned = true;
  for (int i = 2; i < argc; ++i)
    if (std::strcmp(argv[i], "--default-malloc") == 0) tuned = false;
  if (tuned) fedtl::keepFreedMemoryMapped();
  torch::set_num_threads(static_cast<int>(flag(argc, argv, "--threads", 2)));
  std::string mode = argv[1];
  if (mode == "loop") return loop(flag(argc, argv, "--steps", 300));
  if (mode == "probe") return probe(flag(argc, argv, "--samples", 4096), flag(argc, argv, "--epochs", 3));
  std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
  return 2;
}
