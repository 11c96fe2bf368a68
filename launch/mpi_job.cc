// fedtl mpi under mpirun. Rank 0 is the coordinator, every other rank belongs to participant
// (rank - 1) / R for R = --ranks-per-participant; that participant's first rank (its leader)
// is the one that talks to rank 0. Two communicators come from MPI_Comm_split: rank 0 with the
// leaders (the transport's), and each participant's own ranks (its site, for intra-site data
// parallel work; the extra ranks wait for the end for now).
//
// The backbone goes to every leader by MPI_Bcast before the rounds start, each leader checks
// its digest and caches it, so its hello already holds it. Then it is the ordinary coordinator
// and participant code over MpiHub / MpiLink. MPI has no dropout: a rank that dies ends the
// job, and relaunching with --resume continues after the last checkpointed round.
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/file_io.h"
#include "common/transport/mpi/mpi_runtime.h"
#include "common/transport/mpi/mpi_transport.h"
#include "launch/mpi_job.h"
#include "protocols/checkpoint_format.h"

namespace fedtl::launch {
namespace {

using Clock = std::chrono::steady_clock;
constexpr transport::Millis kSetupTimeout{600000};
// The leaders wait this long for the backbone (rank 0 may pretrain a scenario's first).
constexpr transport::Millis kBackboneTimeout{4 * 3600 * 1000};

void check(int rc, const char* what) {
  FEDTL_ENFORCE(rc == MPI_SUCCESS, transport::MpiError, what, " failed (MPI error ", rc, ")");
}

// Waits for `request` on the MPI thread, politely (the other ranks may be training on the same cores).
void waitPolitely(MPI_Request& request, Clock::time_point deadline, const char* what) {
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    FEDTL_ENFORCE(Clock::now() < deadline, transport::MpiError, what, " did not complete in time");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
}

// The backbone file from rank 0 to every leader (MPI_Bcast on the leaders' communicator).
std::string broadcastBackbone(transport::MpiRuntime& runtime, MPI_Comm leaders, std::string bytes, bool root,
                              transport::Millis timeout) {
  auto buffer = std::make_shared<std::string>(std::move(bytes));
  runtime.call(
      [buffer, leaders, root, timeout] {
        const auto deadline = Clock::now() + timeout;
        std::uint64_t size = buffer->size();
        MPI_Request request;
        check(MPI_Ibcast(&size, 1, MPI_UINT64_T, 0, leaders, &request), "MPI_Ibcast (backbone size)");
        waitPolitely(request, deadline, "the backbone broadcast");
        FEDTL_ENFORCE(size <= static_cast<std::uint64_t>(INT_MAX), ConfigError, "the backbone has ", size,
                      " bytes; MPI_Bcast moves at most ", INT_MAX);
        if (!root) buffer->assign(static_cast<std::size_t>(size), '\0');
        check(MPI_Ibcast(buffer->data(), static_cast<int>(size), MPI_BYTE, 0, leaders, &request),
              "MPI_Ibcast (backbone)");
        waitPolitely(request, deadline, "the backbone broadcast");
      },
      timeout + transport::Millis(60000));
  return std::move(*buffer);
}

int runRank(transport::MpiRuntime& runtime, MpiJobArgs& a) {
  const int rank = runtime.rank(), size = runtime.size();
  const int perParticipant = a.ranksPerParticipant;
  FEDTL_ENFORCE(perParticipant >= 1 && size >= 1 + perParticipant && (size - 1) % perParticipant == 0, ConfigError,
                "mpirun -np ", size, " does not fit --ranks-per-participant ", perParticipant,
                ": rank 0 is the coordinator and each participant takes ", perParticipant, " ranks, so use -np 1+N*",
                perParticipant, " for N participants");
  const int participants = (size - 1) / perParticipant;
  const int index = rank == 0 ? -1 : (rank - 1) / perParticipant;
  const bool leader = rank == 0 || (rank - 1) % perParticipant == 0;
  MPI_Comm leaders = MPI_COMM_NULL, site = MPI_COMM_NULL;
  runtime.call(
      [&] {
        check(MPI_Comm_split(MPI_COMM_WORLD, leader ? 0 : MPI_UNDEFINED, rank, &leaders), "MPI_Comm_split (leaders)");
        check(MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : index, rank, &site), "MPI_Comm_split (site)");
      },
      kSetupTimeout);

  transport::MpiTransportOptions options;
  options.maxMessageBytes = static_cast<std::size_t>(
      std::min<double>(INT_MAX, a.coordinator.maxMessageMb * (1 << 20)));
  if (rank == 0) {
    const std::string path = coordinatorBackbonePath(a.coordinator);
    auto bytes = readFile(path, std::size_t{8} << 30);
    broadcastBackbone(runtime, leaders, std::string(bytes.begin(), bytes.end()), true, kSetupTimeout);
    bytes = {};
    transport::MpiHub hub(runtime, leaders, options);
    return runCoordinator(a.coordinator, hub,
                          "MPI, " + std::to_string(participants) + " participants of " +
                              std::to_string(perParticipant) + " rank" + (perParticipant > 1 ? "s" : ""));
  }
  if (!leader) {
    // Intra-site data parallel training is not implemented yet: the extra ranks only wait.
    spdlog::info("rank {}: extra rank of participant {} (site communicator of {} ranks); idle until the job ends", rank,
                 index + 1, perParticipant);
    runtime.setFinalizeTimeout(
        std::chrono::duration_cast<transport::Millis>(std::chrono::duration<double>(a.idleHours * 3600)));
    return 0;
  }
  // A leader: the backbone first (cached under its digest, as a download would be), then the rounds.
  std::string backbone = broadcastBackbone(runtime, leaders, {}, false, kBackboneTimeout);
  ParticipantArgs p = a.participant;
  p.participants = participants;
  p.index = index;
  transport::MpiLink link(runtime, leaders, options);
  p.id = link.name();
  p.cacheDir = participantCacheDir(a.participant, p.id);
  std::filesystem::create_directories(p.cacheDir);
  const std::string digest = protocols::checkpointDigestHex(backbone, "the broadcast backbone");
  writeFileAtomic((std::filesystem::path(p.cacheDir) / (digest + ".fedtl")).string(), backbone);
  backbone = {};
  runParticipant(p, link, {}, [] { return false; });
  return 0;
}

}  // namespace

int runMpiJob(MpiJobArgs& a) {
  transport::MpiRuntime runtime;
  try {
    return runRank(runtime, a);
  } catch (const std::exception& e) {
    // The other ranks would wait for this one until their timeouts: end the job now.
    std::fprintf(stderr, "fedtl: error on MPI rank %d: %s; aborting the MPI job\n", runtime.rank(), e.what());
    std::fflush(stderr);
    runtime.call([] { MPI_Abort(MPI_COMM_WORLD, 2); }, transport::Millis(10000));
    std::_Exit(2);
  }
}

}  // namespace fedtl::launch
