// The real CUDA queries and device memory (builds with NCCL and the CUDA runtime).
#include "common/nccl/gpu_runtime.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <utility>

#include "common/nccl/cuda_check.h"

namespace fedtl::nccl {

bool builtWithNccl() noexcept { return true; }

int deviceCount() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // without a driver or device the query fails: that means none
    return 0;
  }
  return count;
}

bool available() noexcept { return deviceCount() > 0; }

std::string describe() {
  int ncclVersion = 0, runtimeVersion = 0, driverVersion = 0;
  ncclGetVersion(&ncclVersion);
  cudaRuntimeGetVersion(&runtimeVersion);
  cudaDriverGetVersion(&driverVersion);
  auto cudaText = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  std::string text = "NCCL " + std::to_string(ncclVersion / 10000) + "." + std::to_string(ncclVersion / 100 % 100) +
                     "." + std::to_string(ncclVersion % 100) + ", CUDA runtime " + cudaText(runtimeVersion) +
                     ", driver " + (driverVersion > 0 ? cudaText(driverVersion) : std::string("none"));
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return text + ", no CUDA device (" + cudaGetErrorString(status) + ")";
  }
  text += ", " + std::to_string(count) + " device(s)";
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, d) == cudaSuccess)
      text += std::string(d == 0 ? ": " : ", ") + props.name + " (sm_" + std::to_string(props.major) +
              std::to_string(props.minor) + ")";
  }
  return text;
}

void synchronizeDevice(int device) {
  detail::DeviceScope scope(device);
  detail::checkCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

DeviceMemory::DeviceMemory(int device, std::size_t bytes) : bytes_(bytes), device_(device) {
  detail::DeviceScope scope(device);
  detail::checkCuda(cudaMalloc(&data_, bytes == 0 ? 1 : bytes), "cudaMalloc of ", bytes, " bytes on device ", device);
}

DeviceMemory::~DeviceMemory() { release(); }

DeviceMemory::DeviceMemory(DeviceMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      device_(std::exchange(other.device_, -1)) {}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    device_ = std::exchange(other.device_, -1);
  }
  return *this;
}

void DeviceMemory::release() noexcept {
  if (data_ == nullptr) return;
  int previous = 0;
  bool restore = cudaGetDevice(&previous) == cudaSuccess;
  cudaSetDevice(device_);
  cudaFree(data_);
  if (restore) cudaSetDevice(previous);
  cudaGetLastError();
  data_ = nullptr;
}

void DeviceMemory::upload(const void* host, std::size_t bytes) {
  FEDTL_ENFORCE(bytes <= bytes_, NcclError, "upload of ", bytes, " bytes into device memory of ", bytes_);
  detail::DeviceScope scope(device_);
  detail::checkCuda(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host to device");
}

void DeviceMemory::download(void* host, std::size_t bytes) const {
  FEDTL_ENFORCE(bytes <= bytes_, NcclError, "download of ", bytes, " bytes from device memory of ", bytes_);
  detail::DeviceScope scope(device_);
  detail::checkCuda(cudaMemcpy(host, data_, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device to host");
}

void DeviceMemory::copyFrom(const DeviceMemory& source, std::size_t bytes) {
  FEDTL_ENFORCE(bytes <= bytes_ && bytes <= source.bytes_, NcclError, "device copy of ", bytes, " bytes from ",
                source.bytes_, " into ", bytes_);
  detail::DeviceScope scope(device_);
  if (source.device_ == device_) {
    detail::checkCuda(cudaMemcpy(data_, source.data_, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy device to device");
  } else {
    detail::checkCuda(cudaMemcpyPeer(data_, device_, source.data_, source.device_, bytes), "cudaMemcpyPeer");
  }
  // A device-to-device cudaMemcpy may return before the copy is done; callers expect it done.
  detail::checkCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize after a device copy");
}

}  // namespace fedtl::nccl
