// fedtl coordinator: runs federated rounds over ZeroMQ for participant daemons at other sites.
// Every option can also be given in a TOML file (--config FILE); flags override the file.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/file_io.h"
#include "common/ml/checkpoint.h"
#include "common/ml/flat_parameters.h"
#include "common/ml/training.h"
#include "common/summary_json.h"
#include "common/transport/zmq/zmq_transport.h"
#include "coordinator/round_engine.h"
#include "common/identity.h"
#include "launch/channel_security.h"
#include "launch/commands.h"
#include "launch/federated_data.h"
#include "launch/transfer_common.h"
#include "participant/federated_trainer.h"
#include "protocols/round_state.h"

namespace fedtl::launch {
namespace {

std::string formatEpsilon(double epsilon, double delta) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g at δ %.0e", epsilon, delta);
  return buf;
}

std::string metricsLine(const coordinator::RoundMetrics& m) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"round\": %lld, \"selected\": %zu, \"received\": %zu, \"retries\": %zu, \"train_loss\": %.6f, "
                "\"federated_accuracy\": %.6f, \"central_accuracy\": %.6f, \"bytes_down\": %llu, \"bytes_up\": %llu, "
                "\"train_seconds\": %.3f, \"eval_seconds\": %.3f, \"round_seconds\": %.3f, \"secure\": %s, "
                "\"epsilon\": %.6g}\n",
                static_cast<long long>(m.round), m.selected, m.received, m.retries, m.trainLoss, m.federatedAccuracy,
                m.centralAccuracy, static_cast<unsigned long long>(m.bytesDown), static_cast<unsigned long long>(m.bytesUp),
                m.trainSeconds, m.evalSeconds, m.totalSeconds, m.secure ? "true" : "false", m.epsilon);
  return buf;
}

}  // namespace

void addCoordinatorOptions(CLI::App& app, CoordinatorArgs& args, bool network) {
  CoordinatorArgs* a = &args;
  if (network) app.add_option("--bind", a->bind, "address to listen on")->capture_default_str();
  app.add_option("--backbone", a->backbone, "backbone checkpoint to distribute");
  app.add_option("--scenario", a->scenario, "use this scenario's cached backbone and target test set");
  app.add_option("--test", a->test, "central test data: mnist, fashion-mnist, idx:DIR, images:DIR or scenario:NAME");
  app.add_option("--num-classes", a->numClasses, "target classes (default: from the test data)");
  app.add_option("--rounds", a->rounds, "rounds to run")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--min-participants", a->minParticipants, "fewest updates that make a round")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--fraction", a->fraction, "share of ready participants selected per round")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--strategy", a->strategy, "participants' fine-tuning: linear-probe, partial:K, full")->capture_default_str();
  app.add_option("--steps", a->steps, "local optimiser steps per round")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch-size", a->batchSize, "local batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", a->lr, "local learning rate (head); higher than fine-tuning's 0.05 because it restarts every round and decays over the rounds")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--proximal-mu", a->proximalMu, "FedProx: weight of the local pull toward the global parameters (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--fedbn", a->fedbn, "FedBN: BatchNorm weights and biases stay local to each participant and never travel");
  app.add_option("--lr-schedule", a->lrSchedule, "local learning rate over the rounds: cosine or constant")
      ->capture_default_str()
      ->check(CLI::IsMember({"cosine", "constant"}));
  app.add_option("--aggregation", a->aggregation,
                 "mean (weighted by samples), or robust: median, trimmed-mean[:F], multi-krum[:F[:M]] (plaintext only)")
      ->capture_default_str();
  app.add_flag("--no-secure-aggregation", a->noSecureAggregation,
               "send updates in plaintext: the coordinator then sees each participant's update (needed for robust "
               "aggregation and pooled BatchNorm statistics)");
  app.add_option("--secagg-threshold", a->secaggThreshold,
                 "secure aggregation: shares needed to unmask (0: more than half a neighbourhood, the safe minimum)")
      ->capture_default_str();
  app.add_option("--secagg-neighbours", a->secaggNeighbours,
                 "secure aggregation: neighbours per participant, even (0: all up to 50 participants, then ~3 log2 n)")
      ->capture_default_str();
  app.add_option("--secagg-clip", a->secaggClip,
                 "secure aggregation: weighted update values are clipped to [-C, C] before fixed-point encoding")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--secagg-bits", a->secaggBits, "secure aggregation: fixed-point bits per value (n_max·2^bits < 2^32)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  app.add_flag("--no-consistency-check", a->noConsistencyCheck,
               "secure aggregation without its ConsistencyCheck stage (hardened mode): one round trip less, but "
               "safe only against an honest-but-curious coordinator; participants then need "
               "--allow-unhardened-secagg");
  app.add_option("--dp-noise-multiplier", a->dpNoiseMultiplier,
                 "differential privacy (needs secure aggregation): noise σ = z·C on each round's sum of updates, "
                 "shared among the participants (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--dp-l2-clip", a->dpL2Clip, "differential privacy: each update is clipped to this L2 norm C")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--dp-delta", a->dpDelta, "differential privacy: δ of the (ε, δ) reported each round")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--dp-min-survivors", a->dpMinSurvivors,
                 "differential privacy: the noise suffices once this many updates are summed; fewer are never "
                 "unmasked (0: --min-participants)")
      ->capture_default_str();
  app.add_option("--server-optimizer", a->server, "fedavg, fedadam, fedyogi or fedadagrad")->capture_default_str();
  app.add_option("--server-lr", a->serverLr, "server learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--join-timeout", a->joinTimeout, "seconds to wait for the minimum of participants")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--secagg-stage-timeout", a->secaggStageTimeout,
                 "secure aggregation: seconds to wait for each of its short stages (share keys, consistency check, "
                 "unmask)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--stage-timeout", a->stageTimeout, "seconds to wait for a round's updates")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--upload-window-mb", a->uploadWindowMb, "updates in flight towards the coordinator at once (at least one)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-message-mb", a->maxMessageMb, "connections sending a larger message are dropped")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", a->seed, "seed for selection and initial head")->capture_default_str();
  app.add_option("--out-dir", a->outDir, "metrics.jsonl and the round checkpoint go here")->capture_default_str();
  app.add_flag("--resume", a->resume, "continue from the last completed round in --out-dir");
  if (network) {
    app.add_option("--identity", a->identity, "this coordinator's secret key file (DIR/NAME.key from fedtl keygen)");
    app.add_option("--allow", a->allow,
                   "the participants admitted: a folder of their .pub files, one .pub file, or a file listing them");
    app.add_flag("--insecure", a->insecure,
                 "run without keys: channels unencrypted and unauthenticated (trusted networks only)");
  }
  app.add_option("--summary-json", a->summary, "write final metrics here");
}

std::string coordinatorBackbonePath(CoordinatorArgs& args) {
  FEDTL_ENFORCE(args.backbone.empty() != args.scenario.empty(), ConfigError,
                "give exactly one of --backbone or --scenario");
  if (args.scenario.empty()) return args.backbone;
  auto scenario = ml::Scenario::parse(args.scenario);
  std::string digest;
  scenarioBackbone(scenario, coordinator::PretrainOptions{}, &digest, nullptr);  // pretrained once, then cached
  return scenarioBackbonePath(scenario, coordinator::PretrainOptions{});
}

int runCoordinator(CoordinatorArgs& args, transport::Hub& hub, const std::string& channels) {
  CoordinatorArgs* a = &args;
  {
    FEDTL_ENFORCE(a->backbone.empty() != a->scenario.empty(), ConfigError, "give exactly one of --backbone or --scenario");
    auto strategy = participant::Strategy::parse(a->strategy);
    FEDTL_ENFORCE(strategy.usesPretrainedWeights(), ConfigError, "federated transfer needs a pretrained strategy, not scratch");
    const auto aggregation = coordinator::AggregationOptions::parse(a->aggregation);  // refuse typos before loading
    coordinator::EngineOptions options;
    options.aggregation = aggregation;
    options.minParticipants = static_cast<std::size_t>(a->minParticipants);
    options.secure.enabled = !a->noSecureAggregation;
    options.secure.threshold = a->secaggThreshold;
    options.secure.neighbours = a->secaggNeighbours;
    options.secure.clip = a->secaggClip;
    options.secure.bits = a->secaggBits;
    options.secure.consistencyCheck = !a->noConsistencyCheck;
    if (a->dpNoiseMultiplier > 0)
      options.secure.differentialPrivacy = dp::DpConfig{a->dpL2Clip, a->dpNoiseMultiplier, a->dpMinSurvivors, a->dpDelta};
    // The Ed25519 halves of the allow-list: a hello must carry the listed key of its name, and
    // the SecAgg advertisements are checked against them.
    if (!a->allow.empty())
      for (const auto& participant : loadAllowList(a->allow))
        options.identityKeys.emplace(participant.name, participant.ed25519PublicKey);
    coordinator::checkSecureAggregation(options);  // refuse a misconfiguration before loading anything

    // The backbone: its model (for initial parameters and central evaluation) and file bytes.
    const std::string backbonePath = coordinatorBackbonePath(*a);
    ml::TrainTestSets central;
    if (!a->scenario.empty() && a->test.empty()) a->test = "scenario:" + a->scenario;
    auto loaded = ml::loadCheckpoint(backbonePath);
    auto bytes = readFile(backbonePath, std::size_t{8} << 30);
    const std::string backboneDigest = loaded.digestHex;
    coordinator::Backbone backbone{backboneDigest, std::string(bytes.begin(), bytes.end())};
    bytes = {};
    if (!a->test.empty()) central = loadFederatedData(a->test);
    std::int64_t classes = a->numClasses > 0 ? a->numClasses : central.test.numClasses;
    FEDTL_ENFORCE(classes >= 2, ConfigError, "set --num-classes or give --test data to learn the class count from");
    auto initial = participant::initialTrainableParameters(loaded.model, strategy, classes, a->seed, a->fedbn);

    options.rounds = a->rounds;
    options.fraction = a->fraction;
    options.joinTimeout = transport::Millis(static_cast<std::int64_t>(a->joinTimeout * 1000));
    options.stageTimeout = transport::Millis(static_cast<std::int64_t>(a->stageTimeout * 1000));
    options.secureStageTimeout = transport::Millis(static_cast<std::int64_t>(a->secaggStageTimeout * 1000));
    options.train.strategy = strategy.name();
    options.train.steps = a->steps;
    options.train.batchSize = a->batchSize;
    options.train.learningRate = a->lr;
    options.train.proximalMu = a->proximalMu;
    options.train.localBatchNorm = a->fedbn;
    options.batchNormValues = ml::batchNormStatistics(*loaded.model->backbone).size();
    options.train.seed = a->seed;
    options.server.kind = coordinator::ServerOptimizerOptions::parseKind(a->server);
    options.server.learningRate = a->serverLr;
    options.cosineLearningRate = a->lrSchedule == "cosine";
    options.uploadWindowBytes = static_cast<std::uint64_t>(a->uploadWindowMb * (1 << 20));
    if (!a->identity.empty()) {
      // The coordinator signs the backbone digest and every round's parameters with its
      // Ed25519 identity; participants that pinned its key refuse anything else.
      auto identity = std::make_shared<const Identity>(loadIdentity(a->identity));
      options.sign = [identity](const std::vector<std::uint8_t>& statement) {
        return crypto::ed25519Sign(identity->ed25519PrivateKey, statement);
      };
    }
    options.seed = a->seed;
    options.limits.maxParameters =
        std::min<std::uint64_t>(options.limits.maxParameters, static_cast<std::uint64_t>(a->maxMessageMb * (1 << 20)));

    const std::size_t parameterCount = initial.size();
    coordinator::RoundEngine engine(hub, options, std::move(backbone), std::move(initial));

    namespace fs = std::filesystem;
    fs::create_directories(a->outDir);
    const auto statePath = (fs::path(a->outDir) / "round-state.fedtl").string();
    const auto metricsPath = (fs::path(a->outDir) / "metrics.jsonl").string();
    if (a->resume && fs::exists(statePath)) {
      auto stateBytes = readFile(statePath, std::size_t{8} << 30);
      auto state = protocols::decodeRoundState(
          std::string_view(reinterpret_cast<const char*>(stateBytes.data()), stateBytes.size()), statePath);
      FEDTL_ENFORCE(state.backboneDigest == backboneDigest && state.strategy == strategy.name(), CheckpointError,
                    statePath, " belongs to another run (backbone or strategy differs); use another --out-dir");
      FEDTL_ENFORCE(state.parameters.size() == parameterCount, CheckpointError, statePath, " holds ",
                    state.parameters.size(), " parameters, this run's model shares ", parameterCount,
                    " (was --fedbn given differently?); use another --out-dir");
      engine.resumeFrom(state.completedRounds, state.parameters, state.serverFirstMoment, state.serverSecondMoment);
      engine.setBatchNormStatistics(state.batchNormStatistics);
      std::fprintf(stderr, "resuming after round %lld\n", static_cast<long long>(state.completedRounds));
    } else if (!a->resume) {
      fs::remove(metricsPath);
    }

    // Central evaluation on the coordinator's test set, with the run's model; the global vector
    // fills the same parameters as on the participants (under FedBN, BatchNorm keeps the
    // pretrained values: there is no global one).
    auto model = participant::makeTargetModel(loaded.model, strategy, classes, a->seed);
    auto shared = participant::sharedParameters(model, strategy, a->fedbn);
    if (central.test.size() > 0) {
      engine.setCentralEvaluator([&](const std::vector<float>& params) {
        ml::assign(shared, params);
        // The participants' pooled BatchNorm statistics, as they use them (federated AdaBN).
        if (!engine.batchNormStatistics().empty()) ml::setBatchNormStatistics(*model->backbone, engine.batchNormStatistics());
        model->eval();
        return ml::evaluate([&](const torch::Tensor& x) { return model->forward(x); }, central.test.images,
                            central.test.labels)
            .accuracy;
      });
    }
    coordinator::RoundMetrics last;
    engine.setRoundCallback([&](const coordinator::RoundMetrics& m, const std::vector<float>& params) {
      const std::string strategyName = strategy.name();
      writeFileAtomic(statePath, protocols::encodeRoundState(protocols::RoundStateView{
                                     m.round, backboneDigest, strategyName, params,
                                     engine.serverOptimizer().firstMoment(), engine.serverOptimizer().secondMoment(),
                                     engine.batchNormStatistics()}));
      std::ofstream(metricsPath, std::ios::app) << metricsLine(m);
      std::fprintf(stderr,
                   "round %lld/%lld: %zu/%zu updates (%s), loss %.4f, federated accuracy %.2f%%, central accuracy "
                   "%.2f%%, %.2f MB down, %.2f MB up, %.1f s%s%s\n",
                   static_cast<long long>(m.round), static_cast<long long>(a->rounds), m.received, m.selected,
                   m.secure ? "secure aggregation" : "plaintext", m.trainLoss,
                   100 * m.federatedAccuracy, 100 * m.centralAccuracy, m.bytesDown / 1e6, m.bytesUp / 1e6, m.totalSeconds,
                   m.epsilon >= 0 ? (", ε " + formatEpsilon(m.epsilon, a->dpDelta)).c_str() : "",
                   a->insecure ? "  [insecure: channels are not encrypted]" : "");
      last = m;
    });
    const std::string aggregationMode =
        options.secure.enabled ? "secure aggregation, at most " + std::to_string(coordinator::secureMaxParticipants(options)) +
                                     " per round"
                               : "PLAINTEXT updates";
    std::fprintf(stderr, "coordinator listening on %s (%s; %s; %lld trainable parameters, backbone %s)\n",
                 hub.endpoint().c_str(), channels.c_str(), aggregationMode.c_str(), static_cast<long long>(parameterCount),
                 backboneDigest.substr(0, 12).c_str());
    engine.run();
    if (!a->summary.empty()) {
      SummaryJson s;
      s.set("command", std::string("coordinator"));
      s.set("rounds", static_cast<long long>(a->rounds));
      s.set("test_accuracy", last.centralAccuracy);
      s.set("federated_accuracy", last.federatedAccuracy);
      s.set("train_seconds", last.trainSeconds);
      s.set("secure_aggregation", options.secure.enabled);
      s.write(a->summary);
    }
    return 0;
  }
}

Command addCoordinatorCommand(CLI::App& app) {
  auto a = std::make_shared<CoordinatorArgs>();
  addCoordinatorOptions(app, *a, /*network=*/true);
  return [a] {
    // Keys first: a missing or exposed key file fails before anything is loaded.
    auto security = hubSecurity(a->identity, a->allow, a->insecure);
    transport::LinkOptions link;
    link.maxMessageBytes = static_cast<std::int64_t>(a->maxMessageMb * (1 << 20));
    auto hub = security ? std::make_unique<transport::ZmqHub>(a->bind, link, *security)
                        : std::make_unique<transport::ZmqHub>(a->bind, link);
    const std::string channels =
        security ? "CURVE, " + std::to_string(security->allowed.size()) + " participant keys allowed" : "INSECURE";
    security.reset();  // the secret key now lives in libzmq only
    return runCoordinator(*a, *hub, channels);
  };
}

}  // namespace fedtl::launch
