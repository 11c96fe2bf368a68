// The fedtl subcommands. Each registers its flags on the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/transport/transport.h"
#include "participant/session.h"

namespace fedtl::launch {

using Command = std::function<int()>;

Command addPretrainCommand(CLI::App& app);
Command addFinetuneCommand(CLI::App& app);
Command addTableCommand(CLI::App& app);
Command addCoordinatorCommand(CLI::App& app);
Command addParticipantCommand(CLI::App& app);
Command addMpiCommand(CLI::App& app);
Command addKeygenCommand(CLI::App& app);

// The coordinator's job, shared by `fedtl coordinator` (ZeroMQ) and `fedtl mpi` (MPI, or the
// in-process transport): one set of flags, one function that runs the rounds over any hub.
struct CoordinatorArgs {
  std::string bind = "tcp://*:5555", backbone, scenario, test, strategy = "linear-probe", server = "fedavg",
              aggregation = "mean", lrSchedule = "cosine", outDir = "runs/coordinator", summary, identity, allow;
  std::int64_t numClasses = 0, rounds = 5, minParticipants = 2, steps = 100, batchSize = 64;
  double fraction = 1.0, lr = 0.1, serverLr = 1.0, joinTimeout = 120, stageTimeout = 120, secaggStageTimeout = 30, proximalMu = 0,
         uploadWindowMb = 64, maxMessageMb = 2048;
  std::uint64_t seed = 0;
  bool resume = false, insecure = false, fedbn = false, noSecureAggregation = false;
  std::uint32_t secaggThreshold = 0, secaggNeighbours = 0;
  double secaggClip = 4.0;
  unsigned secaggBits = 16;
  double dpNoiseMultiplier = 0, dpL2Clip = 1.0, dpDelta = 1e-5;  // differential privacy: off at z = 0
  std::size_t dpMinSurvivors = 0;
  bool noConsistencyCheck = false;
};
// `network`: also the ZeroMQ and identity flags (--bind, --identity, --allow, --insecure).
void addCoordinatorOptions(CLI::App& app, CoordinatorArgs& args, bool network);
// The backbone file the coordinator distributes (a --scenario's is pretrained and cached first).
std::string coordinatorBackbonePath(CoordinatorArgs& args);
// Runs the rounds over `hub` (checkpoints, metrics, --resume, summary); `channels` describes the
// transport for the start-up line. Throws fedtl::Error subclasses.
int runCoordinator(CoordinatorArgs& args, transport::Hub& hub, const std::string& channels);

// A participant's job, shared the same way.
struct ParticipantArgs {
  std::string connect, id, data, partition = "iid", cacheDir, identity, coordinatorKey;
  int participants = 1, index = 0;
  std::int64_t labelsPerClass = 0;
  std::uint64_t seed = 0;
  bool insecure = false;
  bool allowUnhardenedSecagg = false;  // take part in SecAgg rounds without the ConsistencyCheck stage
  std::vector<int> cudaDevices;  // --cuda-devices: where fine-tuning runs (empty: the CPU)
  // TEST ONLY (--deterministic-rounding-seed): see SessionOptions::deterministicRoundingSeed.
  std::optional<std::uint64_t> deterministicRoundingSeed;
};
// --cuda-devices 0,1 (participant::FineTuneOptions::cudaDevices), for fedtl finetune and participants.
void addCudaDevicesOption(CLI::App& app, std::vector<int>& devices);
// The data flags (--data, --partition, --labels-per-class, --cache-dir, the test-only
// --deterministic-rounding-seed); `standalone` adds the daemon's own (--connect, --id, the
// slice, --seed and the keys).
void addParticipantOptions(CLI::App& app, ParticipantArgs& args, bool standalone);
// Loads this participant's slice and serves the coordinator over `link` until its goodbye or
// `stop()`. With `trainLock`, every call into the trainer holds it (participants sharing one
// process share torch's global random state). Returns the rounds trained.
participant::SessionReport runParticipant(ParticipantArgs& args, transport::Link& link,
                                          participant::SessionOptions options, const std::function<bool()>& stop,
                                          std::mutex* trainLock = nullptr);

}  // namespace fedtl::launch
