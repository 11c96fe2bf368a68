// fedtl participant: a long-running daemon at a site. It dials the coordinator, fine-tunes the
// distributed backbone on local data that never leaves it, and sends back only updates.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>

#include "common/data/sources.h"
#include "common/error.h"
#include "common/transport/zmq/zmq_transport.h"
#include "common/identity.h"
#include "launch/channel_security.h"
#include "launch/commands.h"
#include "launch/federated_data.h"
#include "participant/federated_trainer.h"
#include "participant/session.h"
#include "protocols/frame.h"

namespace fedtl::launch {
namespace {

volatile std::sig_atomic_t gStop = 0;
extern "C" void onSignal(int) { gStop = 1; }

// Without keys, every round this participant trains says so: its update is about to cross the
// network unencrypted, to a coordinator nobody authenticated. Watches the frames the session
// receives (a round start, once per round) rather than wrapping the trainer.
class InsecureRoundWarning : public transport::Link {
 public:
  explicit InsecureRoundWarning(transport::Link& inner) : inner_(inner) {}
  const std::string& name() const override { return inner_.name(); }
  bool send(std::string_view frame, transport::Millis timeout) override { return inner_.send(frame, timeout); }
  std::optional<transport::Frame> receive(transport::Millis timeout) override {
    auto frame = inner_.receive(timeout);
    if (frame) {
      try {
        auto header = protocols::decodeFrameHeader(frame->bytes(), protocols::FrameLimits{});
        if (header.type == protocols::MessageType::kRoundStart && header.round != warnedRound_) {
          warnedRound_ = header.round;
          spdlog::warn("{}: [insecure] round {}: training for an unauthenticated coordinator; the update travels "
                       "unencrypted (--insecure)",
                       inner_.name(), header.round);
        }
      } catch (const std::exception&) {
        // Not a frame: the session refuses it with its reason.
      }
    }
    return frame;
  }

 private:
  transport::Link& inner_;
  std::uint64_t warnedRound_ = 0;
};

// Serialises every call into a trainer: participants that share a process share torch's global
// random state (makeTargetModel seeds it), so one trains at a time and each run is reproducible.
class SerializedTrainer : public participant::LocalTrainer {
 public:
  SerializedTrainer(participant::LocalTrainer& inner, std::mutex& mu) : inner_(inner), mu_(mu) {}
  std::uint64_t trainSamples() const override { return inner_.trainSamples(); }
  std::string cachedBackbone() const override {
    std::lock_guard lock(mu_);
    return inner_.cachedBackbone();
  }
  void setBackbone(const std::string& digest, const std::string& checkpoint) override {
    std::lock_guard lock(mu_);
    inner_.setBackbone(digest, checkpoint);
  }
  std::vector<float> batchNormStatistics() override {
    std::lock_guard lock(mu_);
    return inner_.batchNormStatistics();
  }
  protocols::Update train(const protocols::RoundStart& start) override {
    std::lock_guard lock(mu_);
    return inner_.train(start);
  }
  protocols::EvalResult evaluate(const std::vector<float>& parameters) override {
    std::lock_guard lock(mu_);
    return inner_.evaluate(parameters);
  }

 private:
  participant::LocalTrainer& inner_;
  std::mutex& mu_;
};

}  // namespace

void addParticipantOptions(CLI::App& app, ParticipantArgs& args, bool standalone) {
  ParticipantArgs* a = &args;
  if (standalone) {
    app.add_option("--connect", a->connect, "coordinator address, e.g. tcp://coordinator.example:5555")->required();
    app.add_option("--id", a->id, "this participant's name (printable ASCII, no spaces; default: the --identity name)");
  }
  auto* data = app.add_option("--data", a->data, "local data: mnist, fashion-mnist, idx:DIR, images:DIR or scenario:NAME");
  if (standalone) data->required();
  app.add_option("--partition", a->partition, standalone ? "with --num-participants: iid, dirichlet:A, shards:K, quantity:A"
                                                         : "how the data is split among the participants: iid, "
                                                           "dirichlet:A, shards:K, quantity:A")
      ->capture_default_str();
  if (standalone) {
    app.add_option("--num-participants", a->participants, "take one slice of the data among this many")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--participant-index", a->index, "which slice (0-based)")->capture_default_str();
  }
  app.add_option("--labels-per-class", a->labelsPerClass, "labeled samples per class to keep (0 = all)")
      ->capture_default_str();
  app.add_option("--cache-dir", a->cacheDir,
                 standalone ? "where received backbones are kept (default: data cache/participant-ID)"
                            : "where the participants keep backbones, one folder each (default: data cache)");
  if (standalone) {
    app.add_option("--seed", a->seed, "seed of the data partition")->capture_default_str();
    app.add_option("--identity", a->identity, "this participant's secret key file (DIR/NAME.key from fedtl keygen)");
    app.add_option("--coordinator-key", a->coordinatorKey,
                   "the coordinator's public key file (its .pub): no other server is ever talked to");
    app.add_flag("--insecure", a->insecure,
                 "run without keys: channels unencrypted and unauthenticated (trusted networks only)");
  }
  addCudaDevicesOption(app, a->cudaDevices);
  app.add_flag("--allow-unhardened-secagg", a->allowUnhardenedSecagg,
               "take part in secure aggregation without its ConsistencyCheck stage (a coordinator that skips it "
               "could unmask this participant's update; only for coordinators run with --no-consistency-check)");
  app.add_option_function<std::uint64_t>(
         "--deterministic-rounding-seed", [a](std::uint64_t seed) { a->deterministicRoundingSeed = seed; },
         "TEST ONLY, NEVER IN PRODUCTION: secure aggregation's stochastic rounding follows this seed, the "
                 "participant's slice and the round instead of fresh randomness (for bit-for-bit comparisons of runs)")
      ->group("Testing");
}

participant::SessionReport runParticipant(ParticipantArgs& args, transport::Link& link,
                                          participant::SessionOptions options, const std::function<bool()>& stop,
                                          std::mutex* trainLock) {
  ParticipantArgs* a = &args;
  auto sets = participantSlice(loadFederatedData(a->data), a->partition, a->participants, a->index, a->labelsPerClass,
                               a->seed);
  if (a->cacheDir.empty()) a->cacheDir = data::dataCacheDir() + "/participant-" + a->id;
  std::filesystem::create_directories(a->cacheDir);
  participant::FineTuneOptions fineTuneOptions;  // what the round configuration does not set
  fineTuneOptions.cudaDevices = a->cudaDevices;
  participant::FederatedTrainer trainer(sets.train, sets.test, a->cacheDir, fineTuneOptions);
  std::optional<SerializedTrainer> serialized;
  if (trainLock) serialized.emplace(trainer, *trainLock);
  participant::LocalTrainer& local = serialized ? static_cast<participant::LocalTrainer&>(*serialized) : trainer;
  options.requireConsistencyCheck = !a->allowUnhardenedSecagg;
  if (a->deterministicRoundingSeed) {
    // Test only: one seed per slice, the same whichever transport or process runs it.
    options.deterministicRoundingSeed =
        *a->deterministicRoundingSeed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(a->index + 1));
    spdlog::warn("{}: --deterministic-rounding-seed: secure aggregation rounds predictably (TEST ONLY)", a->id);
  }
  std::fprintf(stderr, "participant %s: %lld training and %lld test samples, slice %d of %d, over %s\n", a->id.c_str(),
               static_cast<long long>(sets.train.size()), static_cast<long long>(sets.test.size()), a->index + 1,
               a->participants, link.name().c_str());
  participant::ParticipantSession session(link, local, std::move(options));
  auto report = session.run(stop);
  std::fprintf(stderr, "participant %s: %lld rounds trained, ended: %s\n", a->id.c_str(),
               static_cast<long long>(report.roundsTrained), report.endReason.c_str());
  return report;
}

Command addParticipantCommand(CLI::App& app) {
  auto a = std::make_shared<ParticipantArgs>();
  addParticipantOptions(app, *a, /*standalone=*/true);
  return [a] {
    // Keys first: a missing or exposed key file fails before the data is loaded.
    auto security = linkSecurity(a->identity, a->coordinatorKey, a->insecure, a->id);
    auto link = security ? std::make_unique<transport::ZmqLink>(a->connect, a->id, transport::LinkOptions{}, *security)
                         : std::make_unique<transport::ZmqLink>(a->connect, a->id);
    security.reset();  // the secret key now lives in libzmq only
    InsecureRoundWarning warning(*link);
    transport::Link& channel = a->insecure ? static_cast<transport::Link&>(warning) : *link;
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    std::fprintf(stderr, "participant %s: dialing %s (%s)\n", a->id.c_str(), a->connect.c_str(),
                 a->insecure ? "INSECURE: no keys" : "CURVE, coordinator key pinned");
    participant::SessionOptions sessionOptions;
    // The pinned coordinator key also checks its signatures on the backbone and round parameters.
    if (!a->coordinatorKey.empty()) sessionOptions.coordinatorKey = loadPublicIdentity(a->coordinatorKey).ed25519PublicKey;
    // The identity's Ed25519 key signs this participant's SecAgg key advertisements, so the
    // coordinator's allow-list vouches for them; without one the session makes an ephemeral key.
    if (!a->identity.empty())
      sessionOptions.identityKey = std::make_shared<const crypto::SecretBytes>(std::move(loadIdentity(a->identity).ed25519PrivateKey));
    runParticipant(*a, channel, std::move(sessionOptions), [] { return gStop != 0; });
    return 0;
  };
}

}  // namespace fedtl::launch
