// common/nccl for builds without NCCL or the CUDA runtime: the queries report no device, and
// everything that would touch a GPU throws NcclError saying how to build the real backend, so
// call sites compile and behave the same in every build, without #ifdefs.
#include "common/nccl/gpu_runtime.h"
#include "common/nccl/nccl_reducer.h"

namespace fedtl::nccl {

namespace {

[[noreturn]] void notBuilt(const char* what) {
  throw NcclError(std::string(what) +
                  ": fedtl was built without NCCL and the CUDA runtime. Configure with -DFEDTL_WITH_NCCL=ON on a "
                  "machine with nccl.h, libnccl and the CUDA toolkit (or point NCCL_INCLUDE_DIR, NCCL_LIBRARY and "
                  "CUDAToolkit_ROOT at them); see docs/architecture.md, \"GPU and NCCL\"");
}

}  // namespace

bool builtWithNccl() noexcept { return false; }
int deviceCount() noexcept { return 0; }
bool available() noexcept { return false; }
std::string describe() { return "built without NCCL (FEDTL_WITH_NCCL=OFF, or NCCL or the CUDA runtime not found)"; }
void synchronizeDevice(int) { notBuilt("synchronizeDevice"); }

DeviceMemory::DeviceMemory(int, std::size_t) { notBuilt("DeviceMemory"); }
DeviceMemory::~DeviceMemory() = default;
DeviceMemory::DeviceMemory(DeviceMemory&&) noexcept {}
DeviceMemory& DeviceMemory::operator=(DeviceMemory&&) noexcept { return *this; }
void DeviceMemory::release() noexcept {}
void DeviceMemory::upload(const void*, std::size_t) { notBuilt("DeviceMemory::upload"); }
void DeviceMemory::download(void*, std::size_t) const { notBuilt("DeviceMemory::download"); }
void DeviceMemory::copyFrom(const DeviceMemory&, std::size_t) { notBuilt("DeviceMemory::copyFrom"); }

struct NcclReducer::State {};

UniqueId newUniqueId() { notBuilt("newUniqueId"); }

NcclReducer NcclReducer::localDevices(int, const ReducerOptions&) { notBuilt("NcclReducer"); }
NcclReducer NcclReducer::localDevices(Span<const int>, const ReducerOptions&) { notBuilt("NcclReducer"); }
NcclReducer::NcclReducer(const UniqueId&, int, int, int, const ReducerOptions&) { notBuilt("NcclReducer"); }
NcclReducer::NcclReducer(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
NcclReducer::~NcclReducer() = default;
NcclReducer::NcclReducer(NcclReducer&&) noexcept = default;
NcclReducer& NcclReducer::operator=(NcclReducer&&) noexcept = default;

int NcclReducer::localRanks() const noexcept { return 0; }
int NcclReducer::size() const noexcept { return 0; }
int NcclReducer::rank(int) const { notBuilt("NcclReducer::rank"); }
int NcclReducer::device(int) const { notBuilt("NcclReducer::device"); }

void NcclReducer::reduceSum(Span<const std::uint32_t* const>, Span<std::uint32_t* const>, std::size_t, int,
                            std::chrono::milliseconds) {
  notBuilt("NcclReducer::reduceSum");
}
void NcclReducer::reduceSum(const std::uint32_t*, std::uint32_t*, std::size_t, int, std::chrono::milliseconds) {
  notBuilt("NcclReducer::reduceSum");
}
void NcclReducer::allReduceAverage(Span<float* const>, std::size_t, std::chrono::milliseconds) {
  notBuilt("NcclReducer::allReduceAverage");
}

}  // namespace fedtl::nccl
