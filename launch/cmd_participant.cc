// fedtl participant: a long-running daemon at a site. It dials the coordinator, fine-tunes the
// distributed backbone on local data that never leaves it, and sends back only updates.
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "common/data/sources.h"
#include "common/error.h"
#include "common/transport/zmq/zmq_transport.h"
#include "launch/commands.h"
#include "launch/federated_data.h"
#include "participant/federated_trainer.h"
#include "participant/session.h"

namespace fedtl::launch {
namespace {

volatile std::sig_atomic_t gStop = 0;
extern "C" void onSignal(int) { gStop = 1; }

}  // namespace

Command addParticipantCommand(CLI::App& app) {
  struct Args {
    std::string connect, id, data, partition = "iid", cacheDir;
    int participants = 1, index = 0;
    std::int64_t labelsPerClass = 0;
    std::uint64_t seed = 0;
    bool insecure = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--connect", a->connect, "coordinator address, e.g. tcp://coordinator.example:5555")->required();
  app.add_option("--id", a->id, "this participant's name (printable ASCII, no spaces)")->required();
  app.add_option("--data", a->data, "local data: mnist, fashion-mnist, idx:DIR, images:DIR or scenario:NAME")->required();
  app.add_option("--partition", a->partition, "with --num-participants: iid, dirichlet:A, shards:K, quantity:A")
      ->capture_default_str();
  app.add_option("--num-participants", a->participants, "take one slice of the data among this many")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--participant-index", a->index, "which slice (0-based)")->capture_default_str();
  app.add_option("--labels-per-class", a->labelsPerClass, "labeled samples per class to keep (0 = all)")
      ->capture_default_str();
  app.add_option("--cache-dir", a->cacheDir, "where received backbones are kept (default: data cache/participant-ID)");
  app.add_option("--seed", a->seed, "seed of the data partition")->capture_default_str();
  app.add_flag("--insecure", a->insecure, "run without channel encryption (required until keys are configured)");
  return [a] {
    FEDTL_ENFORCE(a->insecure, ConfigError,
                  "channel encryption is not configured: pass --insecure to run unencrypted on a trusted network");
    auto sets = participantSlice(loadFederatedData(a->data), a->partition, a->participants, a->index, a->labelsPerClass,
                                 a->seed);
    if (a->cacheDir.empty()) a->cacheDir = data::dataCacheDir() + "/participant-" + a->id;
    std::filesystem::create_directories(a->cacheDir);
    participant::FederatedTrainer trainer(sets.train, sets.test, a->cacheDir);
    transport::ZmqLink link(a->connect, a->id);
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    std::fprintf(stderr, "participant %s: %lld training and %lld test samples, dialing %s\n", a->id.c_str(),
                 static_cast<long long>(sets.train.size()), static_cast<long long>(sets.test.size()), a->connect.c_str());
    participant::ParticipantSession session(link, trainer);
    auto report = session.run([] { return gStop != 0; });
    std::fprintf(stderr, "participant %s: %lld rounds trained, ended: %s\n", a->id.c_str(),
                 static_cast<long long>(report.roundsTrained), report.endReason.c_str());
    return 0;
  };
}

}  // namespace fedtl::launch
