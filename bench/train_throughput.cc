// Local training throughput of fedtl's loop, and linear-probe epochs with cached features vs
// epochs that run the frozen backbone. bench/run puts these beside Python PyTorch's figures;
// launch/gpu-check does the same for the CUDA figures.
//
//   fedtl_bench_train loop  [--steps N] [--threads T]   samples/s of the pretraining loop
//   fedtl_bench_train loop --device cuda [--steps N]    the same model and loop on CUDA device 0
//   fedtl_bench_train probe [--samples N] [--epochs E]  cached vs uncached probe epochs
//   fedtl_bench_train dp [--steps N] [--devices K]      data-parallel fine-tuning over K local GPUs
//                                                       (NCCL gradient all-reduce), samples/s
// The CUDA modes exit 77 (skipped) where LibTorch has no CUDA or the build no NCCL.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/memory_tuning.h"
#include "common/ml/backbone.h"
#include "common/ml/training.h"
#include "common/nccl/gpu_runtime.h"
#include "participant/data_parallel.h"
#include "participant/fine_tune.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long long flag(int argc, char** argv, const char* name, long long fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return fallback;
}

std::string textFlag(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

constexpr int kSkipped = 77;  // the automake convention for "not run here"

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

// The loop above on CUDA device 0, written the way train_throughput.py's is (data, permutation
// and batches on the device; constant learning rate), so that the two compare LibTorch with
// Python PyTorch on the same work rather than two different loops. ml::trainLoop batches from
// host tensors, which would measure host-to-device copies instead.
int cudaLoop(long long steps) {
  if (!torch::cuda::is_available()) {
    std::fprintf(stderr, "fedtl_bench_train: skipped, this LibTorch sees no CUDA device\n");
    return kSkipped;
  }
  torch::manual_seed(0);
  const torch::Device device(torch::kCUDA, 0);
  fedtl::ml::TransferModel model(fedtl::ml::makeSmallCnn(), 10, 128);
  model->to(device);
  model->train();
  const std::int64_t n = 64 * 50;
  auto x = torch::rand({n, 1, 28, 28}, torch::TensorOptions().device(device));
  auto y = torch::randint(0, 10, {n}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  auto run = [&](long long count) {
    auto perm = torch::randperm(n, torch::TensorOptions().dtype(torch::kInt64).device(device));
    std::int64_t at = 0;
    for (long long step = 0; step < count; ++step) {
      if (at + 64 > n) {
        perm = torch::randperm(n, torch::TensorOptions().dtype(torch::kInt64).device(device));
        at = 0;
      }
      auto batch = perm.narrow(0, at, 64);
      at += 64;
      sgd.zero_grad();
      auto loss =
          torch::nn::functional::cross_entropy(model->forward(x.index_select(0, batch)), y.index_select(0, batch));
      loss.backward();
      sgd.step();
    }
  };
  run(20);  // warm-up: cuDNN's algorithm choice, the caching allocator's first blocks
  torch::cuda::synchronize();
  auto t0 = Clock::now();
  run(steps);
  torch::cuda::synchronize();
  double seconds = since(t0);
  std::printf("{\"bench\": \"loop-cuda\", \"samples_per_second\": %.1f, \"steps\": %lld, \"device\": \"cuda:0\"}\n",
              static_cast<double>(steps * 64) / seconds, steps);
  return 0;
}

// The loop's model, data and optimiser trained data-parallel over `devices` local GPUs
// (participant::trainDataParallel: a replica per GPU, NCCL averages the gradients each step).
// With one GPU this still runs the whole path, the all-reduce included.
int dataParallel(long long steps, long long devices) {
  const int available = fedtl::participant::dataParallelDeviceCount();
  if (available == 0) {
    std::fprintf(stderr,
                 "fedtl_bench_train: skipped, data-parallel training needs a CUDA LibTorch, NCCL and a GPU (%s)\n",
                 fedtl::nccl::describe().c_str());
    return kSkipped;
  }
  if (devices <= 0 || devices > available) devices = available;
  torch::manual_seed(0);
  auto makeModel = [] { return fedtl::ml::TransferModel(fedtl::ml::makeSmallCnn(), 10, 128); };
  auto model = makeModel();
  model->train();
  const std::int64_t n = 64 * 50;
  auto x = torch::rand({n, 1, 28, 28});
  auto y = torch::randint(0, 10, {n}, torch::kInt64);
  fedtl::ml::LoopOptions opt;
  // Warm-up; each call also sets up the replicas and the NCCL communicator.
  opt.steps = 20;
  opt.batchSize = 64 * devices;  // 64 per GPU, as in the single-device loop
  opt.momentum = 0.9;
  opt.nesterov = false;
  opt.weightDecay = 0;
  fedtl::participant::DataParallelOptions dp;
  for (int d = 0; d < devices; ++d) dp.devices.push_back(d);
  fedtl::participant::trainDataParallel(model, makeModel, {{model->parameters(), 0.05}}, x, y, opt, dp);
  opt.steps = steps;
  auto stats = fedtl::participant::trainDataParallel(model, makeModel, {{model->parameters(), 0.05}}, x, y, opt, dp);
  std::printf(
      "{\"bench\": \"data-parallel\", \"samples_per_second\": %.1f, \"steps\": %lld, \"devices\": %d, "
      "\"allreduce_seconds\": %.3f, \"gradient_floats\": %lld, \"final_loss\": %.4f}\n",
      stats.loop.samplesPerSecond(), steps, stats.devices, stats.allReduceSeconds,
      static_cast<long long>(stats.gradientElements), stats.loop.finalLoss);
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
    std::fprintf(stderr,
                 "usage: %s loop|probe|dp [--steps N] [--samples N] [--epochs E] [--threads T] [--device cpu|cuda] "
                 "[--devices K]\n",
                 argv[0]);
    return 2;
  }
  // --default-malloc measures the loop without fedtl's allocator settings, to show their effect.
  bool tuned = true;
  for (int i = 2; i < argc; ++i)
    if (std::strcmp(argv[i], "--default-malloc") == 0) tuned = false;
  if (tuned) fedtl::keepFreedMemoryMapped();
  torch::set_num_threads(static_cast<int>(flag(argc, argv, "--threads", 2)));
  std::string mode = argv[1];
  const std::string device = textFlag(argc, argv, "--device", "cpu");
  if (device != "cpu" && device != "cuda") {
    std::fprintf(stderr, "unknown device '%s' (cpu or cuda)\n", device.c_str());
    return 2;
  }
  if (mode == "loop" && device == "cuda") return cudaLoop(flag(argc, argv, "--steps", 300));
  if (mode == "loop") return loop(flag(argc, argv, "--steps", 300));
  if (mode == "dp") return dataParallel(flag(argc, argv, "--steps", 300), flag(argc, argv, "--devices", 0));
  if (mode == "probe") return probe(flag(argc, argv, "--samples", 4096), flag(argc, argv, "--epochs", 3));
  std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
  return 2;
}
