// fedtl participant: a long-running daemon at a site. It dials the coordinator, fine-tunes the
// distributed backbone on local data that never leaves it, and sends back only updates.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

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

}  // namespace

Command addParticipantCommand(CLI::App& app) {
  struct Args {
    std::string connect, id, data, partition = "iid", cacheDir, identity, coordinatorKey;
    int participants = 1, index = 0;
    std::int64_t labelsPerClass = 0;
    std::uint64_t seed = 0;
    bool insecure = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--connect", a->connect, "coordinator address, e.g. tcp://coordinator.example:5555")->required();
  app.add_option("--id", a->id, "this participant's name (printable ASCII, no spaces; default: the --identity name)");
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
  app.add_option("--identity", a->identity, "this participant's secret key file (DIR/NAME.key from fedtl keygen)");
  app.add_option("--coordinator-key", a->coordinatorKey,
                 "the coordinator's public key file (its .pub): no other server is ever talked to");
  app.add_flag("--insecure", a->insecure, "run without keys: channels unencrypted and unauthenticated (trusted networks only)");
  return [a] {
    // Keys first: a missing or exposed key file fails before the data is loaded.
    auto security = linkSecurity(a->identity, a->coordinatorKey, a->insecure, a->id);
    auto sets = participantSlice(loadFederatedData(a->data), a->partition, a->participants, a->index, a->labelsPerClass,
                                 a->seed);
    if (a->cacheDir.empty()) a->cacheDir = data::dataCacheDir() + "/participant-" + a->id;
    std::filesystem::create_directories(a->cacheDir);
    participant::FederatedTrainer trainer(sets.train, sets.test, a->cacheDir);
    auto link = security ? std::make_unique<transport::ZmqLink>(a->connect, a->id, transport::LinkOptions{}, *security)
                         : std::make_unique<transport::ZmqLink>(a->connect, a->id);
    security.reset();  // the secret key now lives in libzmq only
    InsecureRoundWarning warning(*link);
    transport::Link& channel = a->insecure ? static_cast<transport::Link&>(warning) : *link;
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    std::fprintf(stderr, "participant %s: %lld training and %lld test samples, dialing %s (%s)\n", a->id.c_str(),
                 static_cast<long long>(sets.train.size()), static_cast<long long>(sets.test.size()), a->connect.c_str(),
                 a->insecure ? "INSECURE: no keys" : "CURVE, coordinator key pinned");
    participant::SessionOptions sessionOptions;
    // The pinned coordinator key also checks its signatures on the backbone and round parameters.
    if (!a->coordinatorKey.empty()) sessionOptions.coordinatorKey = loadPublicIdentity(a->coordinatorKey).ed25519PublicKey;
    // The identity's Ed25519 key signs this participant's SecAgg key advertisements, so the
    // coordinator's allow-list vouches for them; without one the session makes an ephemeral key.
    if (!a->identity.empty())
      sessionOptions.identityKey = std::make_shared<const crypto::SecretBytes>(std::move(loadIdentity(a->identity).ed25519PrivateKey));
    participant::ParticipantSession session(channel, trainer, sessionOptions);
    auto report = session.run([] { return gStop != 0; });
    std::fprintf(stderr, "participant %s: %lld rounds trained, ended: %s\n", a->id.c_str(),
                 static_cast<long long>(report.roundsTrained), report.endReason.c_str());
    return 0;
  };
}

}  // namespace fedtl::launch
