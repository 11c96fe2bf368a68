#include "common/data/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "common/error.h"

namespace fedtl::data {
namespace {

double parsePositive(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  FEDTL_ENFORCE(used == text.size() && v > 0 && std::isfinite(v), ConfigError, "partition ", what,
                " must be a positive number, got '", text, "'");
  return v;
}

std::vector<double> dirichlet(std::mt19937_64& rng, std::size_t n, double alpha) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::vector<double> p(n);
  double sum = 0;
  for (auto& x : p) sum += (x = gamma(rng));
  if (sum <= 0) {  // all draws underflowed (tiny alpha): put everything on one participant
    std::fill(p.begin(), p.end(), 0.0);
    p[std::uniform_int_distribution<std::size_t>(0, n - 1)(rng)] = 1.0;
    return p;
  }
  for (auto& x : p) x /= sum;
  return p;
}

// Cuts `items` into consecutive pieces sized by `proportions` (largest remainder rounding).
std::vector<std::size_t> sizesFor(std::size_t total, const std::vector<double>& proportions) {
  std::vector<std::size_t> sizes(proportions.size());
  std::vector<std::pair<double, std::size_t>> rest;
  std::size_t used = 0;
  for (std::size_t i = 0; i < proportions.size(); ++i) {
    double exact = proportions[i] * static_cast<double>(total);
    sizes[i] = static_cast<std::size_t>(std::floor(exact));
    used += sizes[i];
    rest.emplace_back(exact - std::floor(exact), i);
  }
  std::stable_sort(rest.begin(), rest.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; used < total; ++k, ++used) ++sizes[rest[k % rest.size()].second];
  return sizes;
}

// Participants left empty by skewed draws take one sample from the largest participant, so
// every participant can train; the skew stays essentially intact.
void fillEmpty(std::vector<std::vector<std::int64_t>>& parts) {
  for (auto& p : parts) {
    if (!p.empty()) continue;
    auto largest = std::max_element(parts.begin(), parts.end(), [](auto& a, auto& b) { return a.size() < b.size(); });
    p.push_back(largest->back());
    largest->pop_back();
  }
}

}  // namespace

PartitionSpec PartitionSpec::parse(const std::string& text) {
  PartitionSpec spec;
  auto colon = text.find(':');
  std::string name = text.substr(0, colon);
  std::string arg = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (name == "iid" && arg.empty()) {
    spec.kind = PartitionKind::kIid;
  } else if (name == "dirichlet" && !arg.empty()) {
    spec.kind = PartitionKind::kDirichlet;
    spec.alpha = parsePositive(arg, "dirichlet alpha");
  } else if (name == "quantity" && !arg.empty()) {
    spec.kind = PartitionKind::kQuantity;
    spec.alpha = parsePositive(arg, "quantity alpha");
  } else if (name == "shards" && !arg.empty()) {
    spec.kind = PartitionKind::kShards;
    double k = parsePositive(arg, "shards per participant");
    FEDTL_ENFORCE(k == std::floor(k) && k <= 1000, ConfigError, "shards per participant must be a whole number up to 1000, got '", arg, "'");
    spec.shardsPerParticipant = static_cast<int>(k);
  } else {
    throw ConfigError("unknown partition '" + text + "': use iid, dirichlet:ALPHA, shards:K or quantity:ALPHA");
  }
  return spec;
}

std::string PartitionSpec::toString() const {
  std::ostringstream out;
  switch (kind) {
    case PartitionKind::kIid: out << "iid"; break;
    case PartitionKind::kDirichlet: out << "dirichlet:" << alpha; break;
    case PartitionKind::kShards: out << "shards:" << shardsPerParticipant; break;
    case PartitionKind::kQuantity: out << "quantity:" << alpha; break;
  }
  return out.str();
}

std::vector<std::vector<std::int64_t>> partition(const std::vector<std::int32_t>& labels, int numParticipants,
                                                 const PartitionSpec& spec, std::uint64_t seed) {
  FEDTL_ENFORCE(numParticipants >= 1, ConfigError, "number of participants must be at least 1, got ", numParticipants);
  const auto n = static_cast<std::size_t>(numParticipants);
  FEDTL_ENFORCE(labels.size() >= n, ConfigError, "cannot give ", numParticipants, " participants a sample each from ",
                labels.size(), " samples");
  std::mt19937_64 rng(seed);
  std::vector<std::vector<std::int64_t>> parts(n);
  std::vector<std::int64_t> all(labels.size());
  std::iota(all.begin(), all.end(), 0);

  switch (spec.kind) {
    case PartitionKind::kIid:
    case PartitionKind::kQuantity: {
      std::shuffle(all.begin(), all.end(), rng);
      std::vector<double> props = spec.kind == PartitionKind::kIid ? std::vector<double>(n, 1.0 / static_cast<double>(n))
                                                                   : dirichlet(rng, n, spec.alpha);
      auto sizes = sizesFor(all.size(), props);
      std::size_t at = 0;
      for (std::size_t p = 0; p < n; ++p) {
        parts[p].assign(all.begin() + static_cast<std::ptrdiff_t>(at), all.begin() + static_cast<std::ptrdiff_t>(at + sizes[p]));
        at += sizes[p];
      }
      break;
    }
    case PartitionKind::kDirichlet: {
      std::int32_t classes = 0;
      for (auto l : labels) classes = std::max(classes, l + 1);
      std::vector<std::vector<std::int64_t>> byClass(static_cast<std::size_t>(classes));
      for (auto i : all) byClass[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])].push_back(i);
      for (auto& members : byClass) {
        std::shuffle(members.begin(), members.end(), rng);
        auto sizes = sizesFor(members.size(), dirichlet(rng, n, spec.alpha));
        std::size_t at = 0;
        for (std::size_t p = 0; p < n; ++p) {
          parts[p].insert(parts[p].end(), members.begin() + static_cast<std::ptrdiff_t>(at),
                          members.begin() + static_cast<std::ptrdiff_t>(at + sizes[p]));
          at += sizes[p];
        }
      }
      break;
    }
    case PartitionKind::kShards: {
      std::shuffle(all.begin(), all.end(), rng);
      std::stable_sort(all.begin(), all.end(), [&](std::int64_t a, std::int64_t b) {
        return labels[static_cast<std::size_t>(a)] < labels[static_cast<std::size_t>(b)];
      });
      const std::size_t shards = n * static_cast<std::size_t>(spec.shardsPerParticipant);
      FEDTL_ENFORCE(all.size() >= shards, ConfigError, "shards:", spec.shardsPerParticipant, " for ", n,
                    " participants needs at least ", shards, " samples, have ", all.size());
      std::vector<std::size_t> order(shards);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      for (std::size_t s = 0; s < shards; ++s) {
        std::size_t shard = order[s];
        std::size_t begin = shard * all.size() / shards, end = (shard + 1) * all.size() / shards;
        auto& dst = parts[s % n];
        dst.insert(dst.end(), all.begin() + static_cast<std::ptrdiff_t>(begin), all.begin() + static_cast<std::ptrdiff_t>(end));
      }
      break;
    }
  }
  fillEmpty(parts);
  for (auto& p : parts) std::sort(p.begin(), p.end());
  return parts;
}

}  // namespace fedtl::data
