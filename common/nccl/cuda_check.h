// Private to the real sources of common/nccl (they alone see CUDA's headers): CUDA status checks
// that throw NcclError, and a scope that makes a device current and restores the caller's.
#pragma once

#include <cuda_runtime_api.h>

#include <utility>

#include "common/nccl/gpu_runtime.h"

namespace fedtl::nccl::detail {

template <typename... Parts>
void checkCuda(cudaError_t status, Parts&&... what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear it, so the next call does not report it again
  throw NcclError(::fedtl::detail::concat("CUDA ", std::forward<Parts>(what)..., " failed: ", cudaGetErrorName(status),
                                          " (", cudaGetErrorString(status), ")"));
}

// Makes `device` current for this thread while in scope. The caller's current device (torch's,
// say) is put back afterwards, so these functions leave no trace in the thread's CUDA state.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    restore_ = cudaGetDevice(&previous_) == cudaSuccess;
    if (!restore_) cudaGetLastError();
    checkCuda(cudaSetDevice(device), "cudaSetDevice(", device, ")");
  }
  ~DeviceScope() {
    if (restore_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool restore_ = false;
};

}  // namespace fedtl::nccl::detail
