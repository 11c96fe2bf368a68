// `fedtl mpi`: its flags (the coordinator's and the participants' in one command) and the two
// ways it runs: under mpirun (mpi_job.cc; mpi_job_stub.cc when fedtl is built without MPI) and
// in one process over the in-process transport (--inproc N, cmd_mpi.cc).
#pragma once

#include "launch/commands.h"

namespace fedtl::launch {

struct MpiJobArgs {
  CoordinatorArgs coordinator;
  ParticipantArgs participant;  // its seed is the coordinator's --seed
  int ranksPerParticipant = 1;
  int inproc = 0;            // > 0: no MPI, that many participant threads in this process
  double idleHours = 24;     // how long a participant's extra ranks wait for the job to end
};

// Under mpirun: rank 0 runs runCoordinator over an MpiHub, each participant's first rank runs
// runParticipant over an MpiLink. Errors on any rank abort the whole job (MPI_Abort).
int runMpiJob(MpiJobArgs& args);

// The cache folder of participant `name` under --cache-dir (or the data cache).
std::string participantCacheDir(const ParticipantArgs& args, const std::string& name);

}  // namespace fedtl::launch
