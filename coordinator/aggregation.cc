#include "coordinator/aggregation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "common/error.h"

namespace fedtl::coordinator {
namespace {

std::size_t checkSameDims(const std::vector<std::vector<float>>& updates) {
  FEDTL_ENFORCE(!updates.empty(), ConfigError, "no updates to aggregate");
  const auto d = updates.front().size();
  for (const auto& u : updates)
    FEDTL_ENFORCE(u.size() == d, ConfigError, "updates differ in size (", u.size(), " vs ", d, ")");
  return d;
}

}  // namespace

void WeightedSum::add(const float* update, std::size_t size, double weight) {
  addPacked(reinterpret_cast<const char*>(update), size, weight);
}

void WeightedSum::addPacked(const char* values, std::size_t size, double weight) {
  FEDTL_ENFORCE(size == sum_.size(), ConfigError, "update has ", size, " values, the model has ", sum_.size());
  FEDTL_ENFORCE(weight > 0 && std::isfinite(weight), ConfigError, "update weight must be positive, got ", weight);
  const auto w = static_cast<float>(weight);
  float* s = sum_.data();
  // Through a small aligned block: frame bytes carry no alignment guarantee.
  constexpr std::size_t kBlock = 1024;
  float block[kBlock];
  for (std::size_t at = 0; at < size; at += kBlock) {
    const std::size_t n = std::min(kBlock, size - at);
    std::memcpy(block, values + at * sizeof(float), n * sizeof(float));
    for (std::size_t i = 0; i < n; ++i) s[at + i] += w * block[i];  // vectorises: one fused pass
  }
  totalWeight_ += weight;
  ++count_;
}

std::vector<float> WeightedSum::mean() const {
  FEDTL_ENFORCE(totalWeight_ > 0, ConfigError, "no updates were aggregated");
  std::vector<float> out(sum_.size());
  const auto inv = static_cast<float>(1.0 / totalWeight_);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = sum_[i] * inv;
  return out;
}

void WeightedSum::reset() {
  std::fill(sum_.begin(), sum_.end(), 0.0f);
  totalWeight_ = 0;
  count_ = 0;
}

ServerOptimizerKind ServerOptimizerOptions::parseKind(const std::string& name) {
  if (name == "fedavg") return ServerOptimizerKind::kFedAvg;
  if (name == "fedadam") return ServerOptimizerKind::kFedAdam;
  if (name == "fedyogi") return ServerOptimizerKind::kFedYogi;
  if (name == "fedadagrad") return ServerOptimizerKind::kFedAdagrad;
  throw ConfigError("unknown server optimizer '" + name + "': use fedavg, fedadam, fedyogi or fedadagrad");
}

ServerOptimizer::ServerOptimizer(std::size_t dim, ServerOptimizerOptions options) : options_(options) {
  FEDTL_ENFORCE(options_.learningRate > 0, ConfigError, "server learning rate must be positive");
  FEDTL_ENFORCE(options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 && options_.beta2 < 1, ConfigError,
                "server optimizer betas must lie in [0, 1)");
  FEDTL_ENFORCE(options_.tau > 0, ConfigError, "server optimizer tau must be positive");
  if (options_.kind != ServerOptimizerKind::kFedAvg) {
    m_.assign(dim, 0.0f);
    // Reddi et al. start v at tau^2 so the first steps are not huge.
    v_.assign(dim, static_cast<float>(options_.tau * options_.tau));
  }
}

void ServerOptimizer::apply(std::vector<float>& x, const std::vector<float>& delta) {
  FEDTL_ENFORCE(x.size() == delta.size(), ConfigError, "aggregated update has ", delta.size(), " values, the model has ",
                x.size());
  const auto lr = static_cast<float>(options_.learningRate);
  if (options_.kind == ServerOptimizerKind::kFedAvg) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += lr * delta[i];
    return;
  }
  const auto b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const auto tau = static_cast<float>(options_.tau);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float g = delta[i], g2 = g * g;
    m_[i] = b1 * m_[i] + (1 - b1) * g;
    switch (options_.kind) {
      case ServerOptimizerKind::kFedAdam: v_[i] = b2 * v_[i] + (1 - b2) * g2; break;
      case ServerOptimizerKind::kFedYogi: v_[i] -= (1 - b2) * g2 * (v_[i] > g2 ? 1.0f : (v_[i] < g2 ? -1.0f : 0.0f)); break;
      case ServerOptimizerKind::kFedAdagrad: v_[i] += g2; break;
      case ServerOptimizerKind::kFedAvg: break;
    }
    x[i] += lr * m_[i] / (std::sqrt(v_[i]) + tau);
  }
}

void ServerOptimizer::restore(std::vector<float> m, std::vector<float> v) {
  FEDTL_ENFORCE(m.size() == m_.size() && v.size() == v_.size(), CheckpointError,
                "server optimizer state does not match the model size");
  m_ = std::move(m);
  v_ = std::move(v);
}

std::vector<float> coordinateMedian(const std::vector<std::vector<float>>& updates) {
  const auto d = checkSameDims(updates);
  const auto n = updates.size();
  std::vector<float> out(d), column(n);
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < n; ++i) column[i] = updates[i][j];
    auto mid = column.begin() + static_cast<std::ptrdiff_t>(n / 2);
    std::nth_element(column.begin(), mid, column.end());
    if (n % 2 == 1) {
      out[j] = *mid;
    } else {
      float upper = *mid;
      float lower = *std::max_element(column.begin(), mid);
      out[j] = 0.5f * (lower + upper);
    }
  }
  return out;
}

std::vector<float> trimmedMean(const std::vector<std::vector<float>>& updates, double trimFraction) {
  const auto d = checkSameDims(updates);
  const auto n = updates.size();
  FEDTL_ENFORCE(trimFraction >= 0 && trimFraction < 0.5, ConfigError, "trim fraction must lie in [0, 0.5)");
  const auto k = static_cast<std::size_t>(std::floor(trimFraction * static_cast<double>(n)));
  FEDTL_ENFORCE(n > 2 * k, ConfigError, "trimming ", k, " from each side leaves nothing of ", n, " updates");
  std::vector<float> out(d), column(n);
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < n; ++i) column[i] = updates[i][j];
    std::sort(column.begin(), column.end());
    double s = 0;
    for (std::size_t i = k; i < n - k; ++i) s += column[i];
    out[j] = static_cast<float>(s / static_cast<double>(n - 2 * k));
  }
  return out;
}

std::vector<float> multiKrum(const std::vector<std::vector<float>>& updates, std::size_t byzantine, std::size_t select) {
  const auto d = checkSameDims(updates);
  const auto n = updates.size();
  FEDTL_ENFORCE(n > 2 * byzantine + 2, ConfigError, "Krum with f = ", byzantine, " needs more than ", 2 * byzantine + 2,
                " updates, got ", n);
  FEDTL_ENFORCE(select >= 1 && select <= n, ConfigError, "Krum must select between 1 and ", n, " updates");
  std::vector<std::vector<double>> dist(n, std::vector<double>(n, 0.0));
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = a + 1; b < n; ++b) {
      double s = 0;
      for (std::size_t j = 0; j < d; ++j) {
        double diff = static_cast<double>(updates[a][j]) - updates[b][j];
        s += diff * diff;
      }
      dist[a][b] = dist[b][a] = s;
    }
  const std::size_t neighbours = n - byzantine - 2;
  std::vector<std::pair<double, std::size_t>> scores;
  for (std::size_t a = 0; a < n; ++a) {
    std::vector<double> others;
    for (std::size_t b = 0; b < n; ++b)
      if (b != a) others.push_back(dist[a][b]);
    std::partial_sort(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(neighbours), others.end());
    scores.emplace_back(std::accumulate(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(neighbours), 0.0), a);
  }
  std::sort(scores.begin(), scores.end());
  WeightedSum sum(d);
  for (std::size_t k = 0; k < select; ++k) sum.add(updates[scores[k].second], 1.0);
  return sum.mean();
}

AggregationOptions AggregationOptions::parse(const std::string& text) {
  AggregationOptions o;
  auto colon = text.find(':');
  const std::string name = text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  auto number = [&](const std::string& s) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    FEDTL_ENFORCE(used == s.size() && used > 0, ConfigError, "aggregation '", text, "': '", s, "' is not a number");
    return v;
  };
  if (name == "mean" && rest.empty()) return o;
  if (name == "median" && rest.empty()) {
    o.kind = Kind::kMedian;
    return o;
  }
  if (name == "trimmed-mean") {
    o.kind = Kind::kTrimmedMean;
    if (!rest.empty()) o.trimFraction = number(rest);
    FEDTL_ENFORCE(o.trimFraction >= 0 && o.trimFraction < 0.5, ConfigError, "trimmed-mean fraction must lie in [0, 0.5)");
    return o;
  }
  if (name == "multi-krum") {
    o.kind = Kind::kMultiKrum;
    if (!rest.empty()) {
      auto second = rest.find(':');
      double f = number(rest.substr(0, second));
      FEDTL_ENFORCE(f >= 0 && f == std::floor(f), ConfigError, "multi-krum's F must be a whole number");
      o.byzantine = static_cast<std::size_t>(f);
      if (second != std::string::npos) {
        double m = number(rest.substr(second + 1));
        FEDTL_ENFORCE(m >= 1 && m == std::floor(m), ConfigError, "multi-krum's M must be a whole number >= 1");
        o.select = static_cast<std::size_t>(m);
      }
    }
    return o;
  }
  throw ConfigError("unknown aggregation '" + text + "'; use mean, median, trimmed-mean[:F] or multi-krum[:F[:M]]");
}

std::vector<float> AggregationOptions::robust(const std::vector<std::vector<float>>& updates) const {
  switch (kind) {
    case Kind::kMedian: return coordinateMedian(updates);
    case Kind::kTrimmedMean: return trimmedMean(updates, trimFraction);
    case Kind::kMultiKrum:
      return multiKrum(updates, byzantine, select ? select : updates.size() - std::min(byzantine, updates.size() - 1));
    case Kind::kWeightedMean: break;
  }
  throw ConfigError("the weighted mean is not a robust aggregate");
}

}  // namespace fedtl::coordinator
