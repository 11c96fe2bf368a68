// CPU cost of one SecAgg / SecAgg+ round (protocols/secagg), single thread: every participant's
// client state machine and the server run in this process, and each call is timed with the
// thread's CPU clock, so a participant's cost is what it would spend on its own machine and the
// server's is what the coordinator would spend (including summing the masked vectors).
//
// For each n and d: k = 0 (complete graph) up to 50 participants, else the even number nearest
// 3·log2(n) (secagg::defaultNeighbourCount); t = floor((k+1)/2) + 1. A dropout fraction f makes
// round(f·n) participants vanish after ShareKeys, before sending their masked input — the
// costly case for the server, which must then reconstruct their mask keys and regenerate every
// pairwise mask they shared with a contributor.
//
//   fedtl_bench_secagg [--n 10,100,1000] [--d 100000,1000000] [--dropout 0,0.1] [--hardened]
//                      [--k K --t T]   (a fixed graph instead of the defaults, e.g. a peer's)
//
// prints one JSON line per configuration (times in CPU seconds); "verified" says the unmasked
// sum equalled the plaintext sum. Client figures are over the participants that sent a masked
// input. The whole default grid takes about two minutes on one core (n = 1000 dominates).
// --hardened adds the ConsistencyCheck stage (every contributor signs U3; the server verifies
// each signature and relays a two-hop neighbourhood's signatures in every unmask request, and
// each client verifies those it is sent), timed as its own stage on both sides.
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "common/crypto/ed25519.h"
#include "protocols/secagg/client.h"
#include "protocols/secagg/server.h"

namespace {

using namespace fedtl;
using namespace fedtl::secagg;

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Adds the CPU time of `body` to `total` and returns what body returns.
template <typename Body>
auto timed(double& total, Body body) {
  const double start = threadCpuSeconds();
  if constexpr (std::is_void_v<decltype(body())>) {
    body();
    total += threadCpuSeconds() - start;
  } else {
    auto result = body();
    total += threadCpuSeconds() - start;
    return result;
  }
}

struct StageTimes {
  double advertise = 0, shareKeys = 0, maskedInput = 0, consistencyCheck = 0, unmask = 0;
  double total() const { return advertise + shareKeys + maskedInput + consistencyCheck + unmask; }
};

struct Measurement {
  std::uint32_t k = 0, t = 0, dropped = 0, contributors = 0;
  std::vector<StageTimes> clients;  // of the participants that ran each stage
  StageTimes server;
  double serverSum = 0;  // folding the masked vectors into the running sum
  bool verified = false;
  bool completed = false;
};

// A fixed neighbour count and threshold (0: the defaults), for comparisons at a peer's k and t.
struct GraphChoice {
  std::uint32_t neighbours = 0;
  std::uint32_t threshold = 0;
};

Measurement runRound(std::uint32_t n, std::uint64_t d, double dropout, bool hardened, GraphChoice graph,
                     std::uint64_t round, const std::map<std::uint32_t, crypto::Ed25519KeyPair>& identities) {
  Measurement m;
  SecAggConfig config;
  config.round = round;
  config.participants.resize(n);
  std::iota(config.participants.begin(), config.participants.end(), 1u);
  m.k = config.neighbours = graph.neighbours > 0 ? graph.neighbours : defaultNeighbourCount(n);
  m.t = config.threshold = graph.threshold > 0 ? graph.threshold : defaultThreshold(n, config.neighbours);
  config.dimension = d;
  config.consistencyCheck = hardened;
  const auto params = std::make_shared<const RoundParameters>(config);
  auto allowList = std::make_shared<IdentityTable>();
  for (std::uint32_t id : config.participants) (*allowList)[id] = identities.at(id).publicKey;

  // The participants that vanish after ShareKeys: a fixed pseudorandom choice per round.
  std::vector<std::uint32_t> order = config.participants;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(round));
  m.dropped = static_cast<std::uint32_t>(std::lround(dropout * n));
  std::vector<bool> vanishes(n + 1, false);
  for (std::uint32_t i = 0; i < m.dropped; ++i) vanishes[order[i]] = true;

  // One update for everyone: a participant's cost does not depend on its values.
  std::vector<Ring> update(d);
  std::mt19937 rng(static_cast<std::uint32_t>(round));
  for (Ring& v : update) v = rng();
  const Ring weight = 7;

  Server server(params, allowList);
  std::vector<Client> clients;
  clients.reserve(n);
  m.clients.assign(n, StageTimes{});
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t id = i + 1;
    // The constructor draws the round's fresh keys: part of AdvertiseKeys.
    timed(m.clients[i].advertise, [&] { clients.emplace_back(params, allowList, id, identities.at(id).privateKey); });
    const KeyAdvertisement ad = timed(m.clients[i].advertise, [&] { return clients[i].advertiseKeys(); });
    timed(m.server.advertise, [&] { server.receiveAdvertisement(id, ad); });
  }
  if (timed(m.server.advertise, [&] { return server.closeStage(); }) == Stage::kAborted) return m;

  for (std::uint32_t id : server.recipients()) {
    const ShareKeysRequest request = timed(m.server.shareKeys, [&] { return server.shareKeysRequest(id); });
    auto response = timed(m.clients[id - 1].shareKeys, [&] { return clients[id - 1].shareKeys(request); });
    timed(m.server.shareKeys, [&] { server.receiveShares(id, response.value()); });
  }
  if (timed(m.server.shareKeys, [&] { return server.closeStage(); }) == Stage::kAborted) return m;

  MaskedSumAccumulator sum(*params);
  for (std::uint32_t id : server.recipients()) {
    if (vanishes[id]) continue;
    const MaskedInputRequest request = timed(m.server.maskedInput, [&] { return server.maskedInputRequest(id); });
    auto masked =
        timed(m.clients[id - 1].maskedInput, [&] { return clients[id - 1].maskInput(request, update, weight); });
    timed(m.serverSum, [&] { sum.add(id, masked.value()); });
  }
  m.contributors = static_cast<std::uint32_t>(sum.contributors().size());
  if (timed(m.server.maskedInput, [&] { return std::move(sum).submitTo(server); }) == Stage::kAborted) return m;

  if (server.stage() == Stage::kConsistencyCheck) {
    for (std::uint32_t id : server.recipients()) {
      const ConsistencyCheckRequest request =
          timed(m.server.consistencyCheck, [&] { return server.consistencyCheckRequest(id); });
      auto response =
          timed(m.clients[id - 1].consistencyCheck, [&] { return clients[id - 1].consistencyCheck(request); });
      timed(m.server.consistencyCheck, [&] { server.receiveConsistencyResponse(id, response.value()); });
    }
    if (timed(m.server.consistencyCheck, [&] { return server.closeStage(); }) == Stage::kAborted) return m;
  }

  for (std::uint32_t id : server.recipients()) {
    const UnmaskRequest request = timed(m.server.unmask, [&] { return server.unmaskRequest(id); });
    auto response = timed(m.clients[id - 1].unmask, [&] { return clients[id - 1].unmask(request); });
    timed(m.server.unmask, [&] { server.receiveUnmaskResponse(id, response.value()); });
  }
  m.completed = timed(m.server.unmask, [&] { return server.closeStage(); }) == Stage::kDone;
  if (m.completed) {
    const auto& result = server.result();
    bool exact = result.weightSum == weight * m.contributors;
    for (std::size_t i = 0; i < d && exact; ++i) exact = result.sum[i] == static_cast<Ring>(update[i] * m.contributors);
    m.verified = exact;
  }
  return m;
}

void report(std::uint32_t n, std::uint64_t d, double dropout, bool hardened, const Measurement& m, double wallSeconds) {
  // Client figures over participants that took part in every stage they were asked to.
  double mean = 0, max = 0;
  StageTimes stageMean;
  std::size_t counted = 0;
  for (const StageTimes& c : m.clients) {
    if (c.maskedInput == 0) continue;  // vanished before its masked input
    mean += c.total();
    max = std::max(max, c.total());
    stageMean.advertise += c.advertise;
    stageMean.shareKeys += c.shareKeys;
    stageMean.maskedInput += c.maskedInput;
    stageMean.consistencyCheck += c.consistencyCheck;
    stageMean.unmask += c.unmask;
    ++counted;
  }
  const double scale = counted ? 1.0 / static_cast<double>(counted) : 0;
  std::printf(
      "{\"n\": %u, \"k\": %u, \"t\": %u, \"d\": %llu, \"dropout\": %.2f, \"hardened\": %s, \"dropped\": %u, "
      "\"contributors\": %u, \"completed\": %s, \"verified\": %s, "
      "\"client_cpu_s_mean\": %.5f, \"client_cpu_s_max\": %.5f, \"client_advertise_s\": %.5f, "
      "\"client_share_keys_s\": %.5f, \"client_masked_input_s\": %.5f, \"client_consistency_check_s\": %.5f, "
      "\"client_unmask_s\": %.5f, \"server_cpu_s\": %.5f, \"server_advertise_s\": %.5f, "
      "\"server_share_keys_s\": %.5f, \"server_sum_inputs_s\": %.5f, \"server_consistency_check_s\": %.5f, "
      "\"server_unmask_s\": %.5f, \"wall_s\": %.2f}\n",
      n, m.k, m.t, static_cast<unsigned long long>(d), dropout, hardened ? "true" : "false", m.dropped, m.contributors,
      m.completed ? "true" : "false", m.verified ? "true" : "false", mean * scale, max, stageMean.advertise * scale,
      stageMean.shareKeys * scale, stageMean.maskedInput * scale, stageMean.consistencyCheck * scale,
      stageMean.unmask * scale, m.server.total() + m.serverSum, m.server.advertise, m.server.shareKeys, m.serverSum,
      m.server.consistencyCheck, m.server.maskedInput + m.server.unmask, wallSeconds);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::uint32_t> sizes = {10, 100, 1000};
  std::vector<std::uint64_t> dimensions = {100000, 1000000};
  std::vector<double> dropouts = {0.0, 0.1};
  bool hardened = false;
  CLI::App app{"CPU cost of one SecAgg / SecAgg+ round per participant and for the server"};
  app.add_option("--n", sizes, "participant counts")->delimiter(',');
  app.add_option("--d", dimensions, "vector dimensions")->delimiter(',');
  app.add_option("--dropout", dropouts, "fractions that vanish after ShareKeys")->delimiter(',');
  app.add_flag("--hardened", hardened, "with the ConsistencyCheck stage (signatures on the contributor set)");
  GraphChoice graph;
  app.add_option("--k", graph.neighbours, "neighbours per participant, even (0: the default for each n)");
  app.add_option("--t", graph.threshold, "shares needed to unmask (0: the default for k)");
  CLI11_PARSE(app, argc, argv);

  std::map<std::uint32_t, crypto::Ed25519KeyPair> identities;
  const std::uint32_t most = *std::max_element(sizes.begin(), sizes.end());
  for (std::uint32_t id = 1; id <= most; ++id) identities.emplace(id, crypto::generateEd25519KeyPair());

  std::uint64_t round = 1;
  for (std::uint32_t n : sizes)
    for (std::uint64_t d : dimensions)
      for (double dropout : dropouts) {
        const auto start = std::chrono::steady_clock::now();
        const Measurement m = runRound(n, d, dropout, hardened, graph, round++, identities);
        report(n, d, dropout, hardened, m,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
  return 0;
}
