// fedtl built without MPI (FEDTL_WITH_MPI=OFF, or no MPI found): `fedtl mpi` says how to get it.
#include "common/error.h"
#include "launch/mpi_job.h"

namespace fedtl::launch {

int runMpiJob(MpiJobArgs&) {
  throw ConfigError(
      "this fedtl was built without MPI: install Open MPI (libopenmpi-dev) and rebuild with -DFEDTL_WITH_MPI=ON, or "
      "run `fedtl mpi --inproc N` to run the same job in one process");
}

}  // namespace fedtl::launch
