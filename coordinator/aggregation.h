// Aggregating participant updates and applying them to the global parameters. Torch-free:
// updates are flat float vectors (trainable parameters only).
//
// Streaming strategies (FedAvg and the adaptive server optimisers) fold each update into one
// running weighted sum as it arrives, so memory is O(d) whatever the number of participants.
// Robust strategies (median, trimmed mean, multi-Krum) must see every update at once and hold
// O(n d); they cannot run under secure aggregation, which reveals only the sum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedtl::coordinator {

class WeightedSum {
 public:
  explicit WeightedSum(std::size_t dim) : sum_(dim, 0.0f) {}
  // Adds weight * update; throws ConfigError on a dimension mismatch or a non-positive weight.
  void add(const float* update, std::size_t size, double weight);
  void add(const std::vector<float>& update, double weight) { add(update.data(), update.size(), weight); }
  // The same for `size` little-endian float32 values read straight from a received frame
  // (unaligned), so an update is folded in without a decoded copy.
  void addPacked(const char* values, std::size_t size, double weight);
  // Sum of weight * update divided by the sum of weights.
  std::vector<float> mean() const;
  std::size_t count() const { return count_; }
  double totalWeight() const { return totalWeight_; }
  void reset();

 private:
  std::vector<float> sum_;
  double totalWeight_ = 0;
  std::size_t count_ = 0;
};

// Server optimisers of Reddi et al., "Adaptive Federated Optimization" (ICLR 2021). The
// pseudo-gradient is the aggregated update (mean of local minus global parameters).
enum class ServerOptimizerKind { kFedAvg, kFedAdam, kFedYogi, kFedAdagrad };

struct ServerOptimizerOptions {
  ServerOptimizerKind kind = ServerOptimizerKind::kFedAvg;
  double learningRate = 1.0;  // 1.0 with FedAvg is plain averaging
  double beta1 = 0.9;
  double beta2 = 0.99;
  double tau = 1e-3;          // adaptivity: keeps the denominator away from zero

  // "fedavg", "fedadam", "fedyogi", "fedadagrad"; throws ConfigError otherwise.
  static ServerOptimizerKind parseKind(const std::string& name);
};

class ServerOptimizer {
 public:
  ServerOptimizer(std::size_t dim, ServerOptimizerOptions options);
  // parameters += step(aggregatedUpdate).
  void apply(std::vector<float>& parameters, const std::vector<float>& aggregatedUpdate);
  // State for checkpoints: first and second moments.
  const std::vector<float>& firstMoment() const { return m_; }
  const std::vector<float>& secondMoment() const { return v_; }
  void restore(std::vector<float> m, std::vector<float> v);

 private:
  ServerOptimizerOptions options_;
  std::vector<float> m_, v_;
};

// How the round's updates become one: the streaming weighted mean, or a robust aggregate that
// holds every update of the round (plaintext only).
struct AggregationOptions {
  enum class Kind { kWeightedMean, kMedian, kTrimmedMean, kMultiKrum };
  Kind kind = Kind::kWeightedMean;
  double trimFraction = 0.1;   // trimmed-mean:F
  std::size_t byzantine = 1;   // multi-krum:F[:M]
  std::size_t select = 0;      // multi-krum's M; 0 means n - F

  // "mean", "median", "trimmed-mean[:F]", "multi-krum[:F[:M]]"; throws ConfigError otherwise.
  static AggregationOptions parse(const std::string& text);
  bool streaming() const { return kind == Kind::kWeightedMean; }
  // The robust aggregate of `updates` (not for kWeightedMean).
  std::vector<float> robust(const std::vector<std::vector<float>>& updates) const;
};

// Plaintext-only robust aggregates over all updates (each of the same dimension).
std::vector<float> coordinateMedian(const std::vector<std::vector<float>>& updates);
// Drops the trimFraction largest and smallest values of each coordinate, averages the rest.
std::vector<float> trimmedMean(const std::vector<std::vector<float>>& updates, double trimFraction);
// Multi-Krum (Blanchard et al. 2017): scores each update by the summed squared distance to its
// n - f - 2 nearest others, averages the `select` best. Needs n > 2f + 2.
std::vector<float> multiKrum(const std::vector<std::vector<float>>& updates, std::size_t byzantine, std::size_t select);

}  // namespace fedtl::coordinator
