#include "protocols/secagg/config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "common/crypto/mask_prg.h"
#include "common/error.h"
#include "protocols/secagg/outcome.h"

namespace fedtl::secagg {
namespace {

// The complete graph stores n² ids and makes each participant do n key agreements; past this
// a k-regular graph is the only sensible choice.
constexpr std::size_t kMaxCompleteGraph = 4096;

crypto::Sha256Digest computeGraphSeed(const SecAggConfig& config) {
  crypto::Sha256 hash;
  hash.update("fedtl/secagg/v1/graph");
  const std::uint64_t n = config.participants.size();
  hash.update(&config.round, sizeof config.round);
  hash.update(&n, sizeof n);
  hash.update(config.participants.data(), config.participants.size() * sizeof(std::uint32_t));
  return hash.finish();
}

// A uniform index in [0, bound) from the public generator (rejection sampling, no modulo bias).
std::size_t uniformBelow(crypto::MaskPrg& prg, std::uint32_t bound) {
  constexpr std::uint64_t kRange = std::uint64_t{1} << 32;
  const std::uint64_t limit = kRange - kRange % bound;  // the largest multiple of bound <= 2^32
  std::uint32_t word = 0;
  do prg.fill(Span<std::uint32_t>(&word, 1));
  while (word >= limit);
  return word % bound;
}

}  // namespace

std::uint32_t neighbourhoodSize(std::size_t n, std::uint32_t k) {
  if (k == 0 || k + std::size_t{1} >= n) return static_cast<std::uint32_t>(n);
  return k + 1;
}

std::uint32_t defaultThreshold(std::size_t n, std::uint32_t k) { return neighbourhoodSize(n, k) / 2 + 1; }

std::uint32_t defaultNeighbourCount(std::size_t n) {
  if (n <= 50) return 0;
  const auto nearestEven = static_cast<std::uint32_t>(2 * std::lround(1.5 * std::log2(static_cast<double>(n))));
  return nearestEven + 1 >= n ? 0 : nearestEven;
}

std::uint32_t twoHopNeighbourhoodSize(std::size_t n, std::uint32_t k) {
  const std::uint32_t m = neighbourhoodSize(n, k);
  if (m == n) return m;
  return static_cast<std::uint32_t>(std::min<std::size_t>(n, 2 * std::size_t{k} + 1));
}

RoundParameters::RoundParameters(SecAggConfig config) : config_(std::move(config)) {
  const auto& ids = config_.participants;
  const std::size_t n = ids.size();
  FEDTL_ENFORCE(n >= 2 && n <= kMaxParticipants, ConfigError, "SecAgg needs 2..", kMaxParticipants,
                " selected participants, got ", n);
  FEDTL_ENFORCE(ids.front() >= 1, ConfigError, "SecAgg participant ids start at 1 (id 0 is the Shamir secret's x)");
  FEDTL_ENFORCE(std::adjacent_find(ids.begin(), ids.end(), std::greater_equal<>()) == ids.end(), ConfigError,
                "SecAgg participant ids must be strictly ascending (sort them and drop repeats)");
  FEDTL_ENFORCE(config_.dimension >= 1 && config_.dimension <= kMaxDimension, ConfigError,
                "SecAgg vector dimension must be 1..", kMaxDimension, ", got ", config_.dimension);
  const std::uint32_t k = config_.neighbours;
  complete_ = secagg::neighbourhoodSize(n, k) == n;
  FEDTL_ENFORCE(complete_ || k % 2 == 0, ConfigError, "SecAgg neighbour count k = ", k,
                " must be even (each participant takes k/2 neighbours on either side); use ", k + 1,
                " or 0 for the complete graph");
  FEDTL_ENFORCE(!complete_ || n <= kMaxCompleteGraph, ConfigError, "the complete SecAgg graph is limited to ",
                kMaxCompleteGraph, " participants, got ", n, "; use k = ", defaultNeighbourCount(n), " neighbours");
  neighbourhoodSize_ = secagg::neighbourhoodSize(n, k);
  const std::uint32_t t = config_.threshold;
  const std::uint32_t safe = defaultThreshold(n, k);
  FEDTL_ENFORCE(t >= 2 && t <= neighbourhoodSize_, ConfigError, "SecAgg threshold t = ", t, " must lie in [2, ",
                neighbourhoodSize_, "] (the neighbourhood size, ", complete_ ? "n for the complete graph" : "k + 1",
                "); use t = ", safe);
  FEDTL_ENFORCE(2 * std::uint64_t{t} > neighbourhoodSize_, ConfigError, "SecAgg threshold t = ", t,
                " is too low for neighbourhoods of ", neighbourhoodSize_,
                ": a minority could reconstruct a participant's secrets (and a server could unmask both its "
                "keys); use t >= ",
                safe, " (more than half of k + 1)");

  graphSeed_ = computeGraphSeed(config_);
  neighbours_.resize(n);
  if (complete_) {
    for (std::size_t i = 0; i < n; ++i) {
      neighbours_[i].reserve(n - 1);
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) neighbours_[i].push_back(ids[j]);
    }
    return;
  }
  // Harary graph H(k, n) on a pseudorandom cycle order (Fisher-Yates from the public seed).
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  crypto::MaskPrg prg(graphSeed_);
  for (std::size_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[uniformBelow(prg, static_cast<std::uint32_t>(i + 1))]);
  for (std::size_t position = 0; position < n; ++position) {
    auto& list = neighbours_[order[position]];
    for (std::size_t step = 1; step <= k / 2; ++step) {
      list.push_back(ids[order[(position + step) % n]]);
      list.push_back(ids[order[(position + n - step) % n]]);
    }
    std::sort(list.begin(), list.end());
  }
}

bool RoundParameters::isSelected(std::uint32_t id) const {
  return std::binary_search(config_.participants.begin(), config_.participants.end(), id);
}

std::size_t RoundParameters::indexOf(std::uint32_t id) const {
  const auto& ids = config_.participants;
  const auto it = std::lower_bound(ids.begin(), ids.end(), id);
  FEDTL_ENFORCE(it != ids.end() && *it == id, UsageError, "participant ", id, " is not selected for SecAgg round ",
                config_.round);
  return static_cast<std::size_t>(it - ids.begin());
}

const std::vector<std::uint32_t>& RoundParameters::neighboursOf(std::uint32_t id) const {
  return neighbours_[indexOf(id)];
}

bool RoundParameters::areNeighbours(std::uint32_t a, std::uint32_t b) const {
  if (a == b || !isSelected(a) || !isSelected(b)) return false;
  const auto& list = neighbours_[indexOf(a)];
  return std::binary_search(list.begin(), list.end(), b);
}

std::uint32_t RoundParameters::twoHopNeighbourhoodSize() const {
  return secagg::twoHopNeighbourhoodSize(size(), config_.neighbours);
}

bool RoundParameters::withinTwoHops(std::uint32_t a, std::uint32_t b) const {
  if (!isSelected(a) || !isSelected(b)) return false;
  if (a == b || complete_ || areNeighbours(a, b)) return true;
  const auto& list = neighbours_[indexOf(a)];
  return std::any_of(list.begin(), list.end(), [&](std::uint32_t nb) { return areNeighbours(nb, b); });
}

}  // namespace fedtl::secagg
