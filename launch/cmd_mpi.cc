// fedtl mpi: one command for a whole federated job. Under `mpirun -np N+1` rank 0 is the
// coordinator and ranks 1..N the participants (see mpi_job.cc); with --inproc N the same
// coordinator and N participants run in this process over the in-process transport. Either way
// it is the code of `fedtl coordinator` and `fedtl participant` (runCoordinator,
// runParticipant): only the transport differs. Every flag can come from a TOML file
// (`fedtl mpi --config FILE`, keys in an [mpi] section).
#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <thread>

#include "common/data/sources.h"
#include "common/error.h"
#include "common/transport/inproc/inproc_transport.h"
#include "launch/commands.h"
#include "launch/mpi_job.h"

namespace fedtl::launch {
namespace {

constexpr std::chrono::seconds kParticipantsEndWait{60};  // after the goodbye, then they are stopped

// Runs the coordinator on this thread and the participants on one thread each, over an
// InprocHub. The participants train one at a time (they share torch's global random state).
int runInproc(MpiJobArgs& a) {
  const int n = a.inproc;
  transport::InprocHub hub(64);
  std::vector<std::unique_ptr<transport::Link>> links;
  for (int i = 0; i < n; ++i) links.push_back(hub.connect("rank-" + std::to_string(i + 1)));
  std::mutex trainLock;
  std::atomic<bool> stop{false};
  std::atomic<int> finished{0};
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      try {
        ParticipantArgs p = a.participant;
        p.id = links[static_cast<std::size_t>(i)]->name();
        p.participants = n;
        p.index = i;
        p.cacheDir = participantCacheDir(a.participant, p.id);
        runParticipant(p, *links[static_cast<std::size_t>(i)], {}, [&] { return stop.load(); }, &trainLock);
      } catch (...) {
        errors[static_cast<std::size_t>(i)] = std::current_exception();
      }
      ++finished;
    });
  }
  int rc = 1;
  std::exception_ptr failure;
  try {
    rc = runCoordinator(a.coordinator, hub, "in-process, " + std::to_string(n) + " participant threads");
  } catch (...) {
    failure = std::current_exception();
  }
  // The goodbye ends every session; one that missed it is stopped after a bounded wait.
  const auto deadline = std::chrono::steady_clock::now() + (failure ? std::chrono::seconds(0) : kParticipantsEndWait);
  while (finished.load() < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop = true;
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return rc;
}

}  // namespace

std::string participantCacheDir(const ParticipantArgs& args, const std::string& name) {
  return (args.cacheDir.empty() ? data::dataCacheDir() : args.cacheDir) + "/participant-" + name;
}

Command addMpiCommand(CLI::App& app) {
  auto a = std::make_shared<MpiJobArgs>();
  addCoordinatorOptions(app, a->coordinator, /*network=*/false);
  addParticipantOptions(app, a->participant, /*standalone=*/false);
  app.add_option("--ranks-per-participant", a->ranksPerParticipant,
                 "MPI ranks per participant (a multi-GPU site): the first talks to the coordinator; the others form "
                 "its site communicator and, for now, wait for the end")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--inproc", a->inproc,
                 "no MPI: run the coordinator and N participants (one thread each) in this process over the "
                 "in-process transport")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--idle-hours", a->idleHours,
                 "how long a participant's extra ranks wait for the job to end before aborting it")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  return [a] {
    FEDTL_ENFORCE(!a->participant.data.empty(), ConfigError,
                  "give the participants' data with --data (mnist, fashion-mnist, idx:DIR, images:DIR or "
                  "scenario:NAME); each takes its slice");
    a->participant.seed = a->coordinator.seed;  // one seed for the partition and the run
    if (a->inproc > 0) return runInproc(*a);
    return runMpiJob(*a);
  };
}

}  // namespace fedtl::launch
