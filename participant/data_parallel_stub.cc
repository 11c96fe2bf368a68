// Data-parallel fine-tuning for builds without a CUDA-enabled LibTorch and NCCL: no devices, and
// a ConfigError that says what the build lacks.
#include <string>

#include "common/error.h"
#include "common/nccl/gpu_runtime.h"
#include "fedtl/config.h"
#include "participant/data_parallel.h"

namespace fedtl::participant {

namespace {

[[noreturn]] void notBuilt() {
  // Both messages start alike, so callers and tests can tell "this build" from "this machine".
  const std::string lacks =
      FEDTL_HAVE_NCCL ? "NCCL and the CUDA runtime were found, but this build's LibTorch is CPU-only"
                      : "this build has no NCCL (" + nccl::describe() + ") and a CPU-only LibTorch";
  throw ConfigError("built without CUDA/NCCL: training on CUDA devices needs NCCL, the CUDA runtime and a "
                    "CUDA-enabled LibTorch; " + lacks +
                    ". Configure against a CUDA-enabled LibTorch with -DFEDTL_WITH_NCCL=ON (CMAKE_PREFIX_PATH at "
                    "python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' of a CUDA PyTorch), or train on "
                    "the CPU (no CUDA devices)");
}

}  // namespace

int dataParallelDeviceCount() noexcept { return 0; }

void checkDataParallelDevices(const std::vector<int>&) { notBuilt(); }

DataParallelStats trainDataParallel(ml::TransferModel&, const std::function<ml::TransferModel()>&,
                                    const std::vector<ml::ParamGroup>&, const torch::Tensor&, const torch::Tensor&,
                                    const ml::LoopOptions&, const DataParallelOptions&) {
  notBuilt();
}

}  // namespace fedtl::participant
