// The CUDA side of fedtl's NCCL backend, torch-free: which GPUs this process can use, and
// device memory owned RAII-style (for tests, benchmarks and callers without torch).
//
// Builds without NCCL and the CUDA runtime link nccl_stub.cc instead of the real sources: its
// queries report no device and everything else throws NcclError saying how to get the real
// backend, so call sites never need #ifdefs (docs/architecture.md, "GPU and NCCL").
#pragma once

#include <cstddef>
#include <string>

#include "common/error.h"
#include "common/span.h"

namespace fedtl::nccl {

// CUDA or NCCL failed, no usable device is there, or this build has no NCCL.
class NcclError : public Error {
 public:
  using Error::Error;
};

// A collective or a communicator's set-up did not finish within its timeout. The communicator
// has been aborted; make a new one.
class NcclTimeout : public NcclError {
 public:
  using NcclError::NcclError;
};

// Whether this build has the real backend (NCCL and the CUDA runtime were found at configure time).
bool builtWithNccl() noexcept;

// CUDA devices this process can use: 0 without a GPU or driver, or in a build without NCCL.
// Never throws.
int deviceCount() noexcept;

// builtWithNccl() and at least one device.
bool available() noexcept;

// One line for logs: the NCCL, CUDA runtime and driver versions and the devices, or why there
// are none.
std::string describe();

// Waits until all work queued on `device` has finished (cudaDeviceSynchronize).
void synchronizeDevice(int device);

// `bytes` of memory on one CUDA device. Moves, never copies; transfers return when complete.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(int device, std::size_t bytes);
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& other) noexcept;
  DeviceMemory& operator=(DeviceMemory&& other) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t bytes() const noexcept { return bytes_; }
  int device() const noexcept { return device_; }
  template <typename T>
  T* as() const noexcept {
    return static_cast<T*>(data_);
  }

  // Host to device and back, into or from the start of this memory; `bytes` may not exceed bytes().
  void upload(const void* host, std::size_t bytes);
  void download(void* host, std::size_t bytes) const;
  template <typename T>
  void upload(Span<const T> host) {
    upload(static_cast<const void*>(host.data()), host.size_bytes());
  }
  template <typename T>
  void download(Span<T> host) const {
    download(static_cast<void*>(host.data()), host.size_bytes());
  }
  // The first `bytes` of `source` (on any device) into the start of this memory.
  void copyFrom(const DeviceMemory& source, std::size_t bytes);

 private:
  void release() noexcept;

  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  int device_ = -1;
};

}  // namespace fedtl::nccl
