// Data-parallel fine-tuning for builds without a CUDA-enabled LibTorch and NCCL: no devices, and
// a ConfigError that says what the build lacks.
#include "common/error.h"
#include "common/nccl/gpu_runtime.h"
#include "fedtl/config.h"
#include "participant/data_parallel.h"

namespace fedtl::participant {

int dataParallelDeviceCount() noexcept { return 0; }

DataParallelStats trainDataParallel(ml::TransferModel&, const std::function<ml::TransferModel()>&,
                                    const std::vector<ml::ParamGroup>&, const torch::Tensor&, const torch::Tensor&,
                                    const ml::LoopOptions&, const DataParallelOptions&) {
  if (FEDTL_HAVE_NCCL)
    throw ConfigError(
        "data-parallel fine-tuning needs a CUDA-enabled LibTorch, and this build's LibTorch is CPU-only (NCCL was "
        "found). Configure with CMAKE_PREFIX_PATH at a CUDA LibTorch, e.g. python3 -c 'import torch; "
        "print(torch.utils.cmake_prefix_path)' of a CUDA PyTorch");
  throw ConfigError(
      "data-parallel fine-tuning needs NCCL, the CUDA runtime and a CUDA-enabled LibTorch; this build has "
      "no NCCL (" +
      nccl::describe() + "). Configure with -DFEDTL_WITH_NCCL=ON and a CUDA LibTorch");
}

}  // namespace fedtl::participant
