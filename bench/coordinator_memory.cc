// Coordinator memory under fan-in: the real round engine over ZeroMQ on loopback, fed by N
// lightweight participants (one process, one thread and one DEALER socket each) that answer
// every round with a synthetic update of the model's size. The coordinator reports its RSS
// when idle (engine built, parameters loaded, no round yet) and its peak over the run.
//
//   fedtl_bench_coordinator_memory coordinator --participants N --params P [--rounds R]
//       [--upload-window-mb W] --endpoint-file FILE        prints one JSON line at the end
//   fedtl_bench_coordinator_memory participants --connect EP --count N
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/file_io.h"
#include "common/transport/zmq/zmq_transport.h"
#include "coordinator/round_engine.h"
#include "participant/session.h"
#include "protocols/checkpoint_format.h"
#include "protocols/round_state.h"

namespace {

using namespace fedtl;
using namespace std::chrono_literals;

// kB of a /proc/self/status field (VmRSS, VmHWM).
long statusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Resets VmHWM to the current RSS, so the peak covers the rounds only (Linux >= 4.0).
void resetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

class SyntheticTrainer : public participant::LocalTrainer {
 public:
  explicit SyntheticTrainer(float step) : step_(step) {}
  std::uint64_t trainSamples() const override { return 100; }
  std::string cachedBackbone() const override { return digest_; }
  void setBackbone(const std::string& digest, const std::string&) override { digest_ = digest; }
  std::vector<float> batchNormStatistics() override { return {}; }
  protocols::Update train(const protocols::RoundStart& start) override {
    protocols::Update u{100, 1.0, std::vector<float>(start.parameters.size(), step_)};
    return u;
  }
  protocols::EvalResult evaluate(const std::vector<float>&) override { return {100, 0.5, 1.0}; }

 private:
  float step_;
  std::string digest_;
};

int runCoordinator(std::size_t participants, std::size_t params, std::int64_t rounds, double windowMb,
                   const std::string& endpointFile) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("coordinator"));  // stdout carries the result
  transport::ZmqHub hub("tcp://127.0.0.1:0");
  std::string checkpoint = protocols::encodeCheckpointFile(protocols::CheckpointHeader{}, "synthetic");
  coordinator::Backbone backbone{protocols::checkpointDigestHex(checkpoint, "synthetic"), std::move(checkpoint)};
  coordinator::EngineOptions options;
  options.rounds = rounds;
  options.minParticipants = participants;
  options.joinTimeout = 600s;
  options.stageTimeout = 300s;
  options.uploadTimeout = 60s;
  options.uploadWindowBytes = static_cast<std::uint64_t>(windowMb * (1 << 20));
  coordinator::RoundEngine engine(hub, options, std::move(backbone), std::vector<float>(params, 0.0f));
  // Each round is checkpointed as the fedtl coordinator does, so its cost is in the peak.
  std::size_t received = 0;
  const std::string statePath = endpointFile + ".round-state";
  const std::string digest = "synthetic";
  engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>& params) {
    received += m.received;
    const std::string strategy = "synthetic";
    writeFileAtomic(statePath, protocols::encodeRoundState(protocols::RoundStateView{
                                   m.round, digest, strategy, params, engine.serverOptimizer().firstMoment(),
                                   engine.serverOptimizer().secondMoment(), engine.batchNormStatistics()}));
  });
  { std::ofstream(endpointFile) << hub.endpoint() << "\n"; }
  const long idleKb = statusKb("VmRSS");
  resetPeak();
  engine.run();
  const long peakKb = statusKb("VmHWM");
  const double updateMb = static_cast<double>(params) * sizeof(float) / (1 << 20);
  std::printf(
      "{\"participants\": %zu, \"params\": %zu, \"rounds\": %lld, \"updates_received\": %zu, \"update_mb\": %.2f, "
      "\"upload_window_mb\": %.1f, \"idle_rss_mb\": %.1f, \"peak_rss_mb\": %.1f, \"peak_over_idle_updates\": %.2f, "
      "\"final_param0\": %.4f}\n",
      participants, params, static_cast<long long>(rounds), received, updateMb, windowMb, idleKb / 1024.0,
      peakKb / 1024.0, (peakKb - idleKb) / 1024.0 / updateMb, engine.parameters()[0]);
  return received == participants * static_cast<std::size_t>(rounds) ? 0 : 1;
}

int runParticipants(const std::string& endpoint, std::size_t count) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (std::size_t i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      try {
        transport::ZmqLink link(endpoint, "synthetic-" + std::to_string(i));
        SyntheticTrainer trainer(0.01f);
        participant::ParticipantSession session(link, trainer);
        auto deadline = std::chrono::steady_clock::now() + 900s;
        auto report = session.run([&] { return std::chrono::steady_clock::now() > deadline; });
        if (report.endReason != "training finished") ++failures;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "participant %zu: %s\n", i, e.what());
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("coordinator memory under fan-in");
  app.require_subcommand(1);
  std::size_t participants = 4, params = 10'000'000;
  std::int64_t rounds = 2;
  double windowMb = 64;
  std::string endpointFile, endpoint;
  auto* coord = app.add_subcommand("coordinator", "run the round engine and report its memory");
  coord->add_option("--participants", participants)->required();
  coord->add_option("--params", params);
  coord->add_option("--rounds", rounds);
  coord->add_option("--upload-window-mb", windowMb);
  coord->add_option("--endpoint-file", endpointFile)->required();
  auto* parts = app.add_subcommand("participants", "run N synthetic participants");
  parts->add_option("--connect", endpoint)->required();
  parts->add_option("--count", participants)->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (*coord) return runCoordinator(participants, params, rounds, windowMb, endpointFile);
    return runParticipants(endpoint, participants);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
