// NCCL collectives for fedtl, torch-free:
//   - the secure-aggregation sum of masked uint32 vectors on GPUs (ncclUint32 wraps mod 2^32,
//     exactly like the CPU paths, so pairwise masks cancel inside the reduction);
//   - the float gradient average of data-parallel fine-tuning across a site's local GPUs.
//
// Every wait is finite: communicators are non-blocking, and a set-up or collective that does not
// finish by its deadline is aborted (ncclCommAbort) and reported as NcclTimeout, never a hang.
// Buffers are device pointers whose contents are ready when the call is made: work queued on
// other streams (torch's, say) must be synchronised first. Calls return when the results are in
// place.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/nccl/gpu_runtime.h"
#include "common/span.h"

namespace fedtl::nccl {

// An ncclUniqueId (NCCL_UNIQUE_ID_BYTES): made by one process, handed to every rank out of band.
struct UniqueId {
  std::array<std::uint8_t, 128> bytes{};
};

// A fresh id; the process that makes it runs NCCL's bootstrap listener for the communicator.
UniqueId newUniqueId();

// Root for reduceSum meaning every rank receives the result (an all-reduce).
constexpr int kAllRanks = -1;

struct ReducerOptions {
  std::chrono::milliseconds initTimeout{std::chrono::seconds(60)};      // until every rank has joined
  std::chrono::milliseconds finalizeTimeout{std::chrono::seconds(10)};  // orderly teardown, then abort
};

// An NCCL communicator and one CUDA stream per local rank. Moves, never copies.
class NcclReducer {
 public:
  // A communicator over local devices 0..ranks-1, all driven from this thread.
  static NcclReducer localDevices(int ranks, const ReducerOptions& options = {});
  // A communicator over the given local devices (rank i on devices[i]), driven from this thread.
  static NcclReducer localDevices(Span<const int> devices, const ReducerOptions& options = {});
  // This process's rank `rank` of `size` in a communicator spanning processes, on local `device`.
  NcclReducer(const UniqueId& id, int rank, int size, int device, const ReducerOptions& options = {});

  ~NcclReducer();
  NcclReducer(NcclReducer&& other) noexcept;
  NcclReducer& operator=(NcclReducer&& other) noexcept;
  NcclReducer(const NcclReducer&) = delete;
  NcclReducer& operator=(const NcclReducer&) = delete;

  int localRanks() const noexcept;  // ranks this object drives (one per local device)
  int size() const noexcept;        // ranks in the whole communicator
  int rank(int local) const;        // communicator rank of local rank `local`
  int device(int local) const;      // CUDA device of local rank `local`

  // out = Σ in over every rank, element-wise mod 2^32. in[i] and out[i] belong to local rank i
  // (count elements in device memory on its device); out[i] may be null where local rank i is
  // not the root. root: a communicator rank, or kAllRanks. Throws NcclTimeout after `timeout`.
  void reduceSum(Span<const std::uint32_t* const> in, Span<std::uint32_t* const> out, std::size_t count, int root,
                 std::chrono::milliseconds timeout);
  // The same for a reducer with one local rank.
  void reduceSum(const std::uint32_t* in, std::uint32_t* out, std::size_t count, int root,
                 std::chrono::milliseconds timeout);

  // In place, every rank's buffer becomes the element-wise mean over all ranks (the gradient
  // average of data-parallel training). buffers[i] belongs to local rank i.
  void allReduceAverage(Span<float* const> buffers, std::size_t count, std::chrono::milliseconds timeout);

 private:
  struct State;
  explicit NcclReducer(std::unique_ptr<State> state) noexcept;

  std::unique_ptr<State> state_;
};

}  // namespace fedtl::nccl
