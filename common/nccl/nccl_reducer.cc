// The real NCCL reducer (builds with NCCL and the CUDA runtime).
//
// Communicators are created non-blocking (ncclConfig_t::blocking = 0): set-up and collectives
// return at once, and this file polls ncclCommGetAsyncError and cudaStreamQuery against a
// deadline. Past it, or on any NCCL error, every communicator of the reducer is aborted, because
// after a failed or half-issued collective its state is no longer trustworthy.
#include "common/nccl/nccl_reducer.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/nccl/cuda_check.h"

namespace fedtl::nccl {

static_assert(sizeof(ncclUniqueId) == sizeof(UniqueId::bytes), "UniqueId must hold an ncclUniqueId");

namespace {

using Clock = std::chrono::steady_clock;

std::string ncclText(ncclResult_t result, ncclComm_t comm) {
  std::string text = ncclGetErrorString(result);
  const char* last = ncclGetLastError(comm);  // NCCL's own account of what went wrong, when it has one
  if (last != nullptr && *last != '\0') text += std::string(": ") + last;
  return text;
}

bool issued(ncclResult_t result) { return result == ncclSuccess || result == ncclInProgress; }

}  // namespace

struct NcclReducer::State {
  struct Member {
    ncclComm_t comm = nullptr;
    cudaStream_t stream = nullptr;
    int device = -1;
    int rank = -1;
  };

  std::vector<Member> members;
  int size = 0;
  bool aborted = false;
  ReducerOptions options;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  ~State() {
    if (!aborted) finalize();
    for (auto& m : members) {
      if (m.stream == nullptr) continue;
      int previous = 0;
      bool restore = cudaGetDevice(&previous) == cudaSuccess;
      cudaSetDevice(m.device);
      cudaStreamDestroy(m.stream);
      if (restore) cudaSetDevice(previous);
    }
    cudaGetLastError();
  }

  // Makes a stream and joins the communicator for each local rank, waiting at most initTimeout
  // for every rank of the communicator to join.
  void init(const ncclUniqueId& id, int communicatorSize, const std::vector<int>& ranks,
            const std::vector<int>& devices, const ReducerOptions& reducerOptions) {
    size = communicatorSize;
    options = reducerOptions;
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      Member m;
      m.rank = ranks[i];
      m.device = devices[i];
      detail::DeviceScope scope(m.device);
      // A stream of its own that does not synchronise with the legacy default stream.
      detail::checkCuda(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "cudaStreamCreate on device ",
                        m.device);
      members.push_back(m);
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // set-up returns at once; waitIssued bounds the wait for the other ranks
    auto deadline = Clock::now() + options.initTimeout;
    bool grouped = members.size() > 1;
    ncclResult_t result = grouped ? ncclGroupStart() : ncclSuccess;
    for (auto& m : members) {
      if (!issued(result)) break;
      detail::DeviceScope scope(m.device);
      result = ncclCommInitRankConfig(&m.comm, size, id, m.rank, &config);
    }
    if (grouped) {
      ncclResult_t end = ncclGroupEnd();
      if (issued(result)) result = end;
    }
    if (!issued(result)) fail("NCCL communicator set-up failed: " + ncclText(result, nullptr), false);
    for (auto& m : members)
      if (m.comm == nullptr) fail("NCCL communicator set-up returned no communicator", false);
    waitIssued(deadline, "NCCL communicator set-up");
  }

  // Aborts every communicator: returns without waiting for peers or queued work.
  void abortAll() noexcept {
    for (auto& m : members) {
      if (m.comm != nullptr) ncclCommAbort(m.comm);
      m.comm = nullptr;
    }
    aborted = true;
  }

  [[noreturn]] void fail(const std::string& message, bool timedOut) {
    abortAll();
    if (timedOut) throw NcclTimeout(message);
    throw NcclError(message);
  }

  // Orderly teardown (flushes NCCL's pending work), bounded by finalizeTimeout; aborts past it.
  void finalize() noexcept {
    bool grouped = members.size() > 1;
    if (grouped) ncclGroupStart();
    for (auto& m : members)
      if (m.comm != nullptr) ncclCommFinalize(m.comm);
    if (grouped) ncclGroupEnd();
    auto deadline = Clock::now() + options.finalizeTimeout;
    for (auto& m : members) {
      if (m.comm == nullptr) continue;
      ncclResult_t state = ncclInProgress;
      while (ncclCommGetAsyncError(m.comm, &state) == ncclSuccess && state == ncclInProgress && Clock::now() < deadline)
        std::this_thread::yield();
      if (state != ncclSuccess) {
        abortAll();
        return;
      }
    }
    for (auto& m : members) {
      if (m.comm != nullptr) ncclCommDestroy(m.comm);
      m.comm = nullptr;
    }
  }

  // Waits until NCCL has finished issuing the last calls on every communicator (non-blocking
  // communicators do that in the background).
  void waitIssued(Clock::time_point deadline, const char* what) {
    for (auto& m : members) {
      while (true) {
        ncclResult_t state = ncclInProgress;
        ncclResult_t query = ncclCommGetAsyncError(m.comm, &state);
        if (query != ncclSuccess) fail(std::string(what) + ": " + ncclText(query, m.comm), false);
        if (state == ncclSuccess) break;
        if (state != ncclInProgress)
          fail(std::string(what) + " failed on rank " + std::to_string(m.rank) + ": " + ncclText(state, m.comm), false);
        if (Clock::now() >= deadline)
          fail(std::string(what) + " did not finish in time on rank " + std::to_string(m.rank) + " of " +
                   std::to_string(size) + " (a peer missing or stalled?); the communicator was aborted",
               true);
        std::this_thread::yield();
      }
    }
  }

  // Waits until every stream has run the queued collective, watching for NCCL's asynchronous
  // errors (a peer that failed) meanwhile.
  void waitDone(Clock::time_point deadline, const char* what) {
    for (auto& m : members) {
      while (true) {
        cudaError_t status = cudaStreamQuery(m.stream);
        if (status == cudaSuccess) break;
        if (status != cudaErrorNotReady) {
          cudaGetLastError();
          fail(std::string(what) + " failed on device " + std::to_string(m.device) + ": " + cudaGetErrorString(status),
               false);
        }
        ncclResult_t state = ncclSuccess;
        ncclCommGetAsyncError(m.comm, &state);
        if (state != ncclSuccess && state != ncclInProgress)
          fail(std::string(what) + " failed on rank " + std::to_string(m.rank) + ": " + ncclText(state, m.comm), false);
        if (Clock::now() >= deadline)
          fail(std::string(what) + " did not complete in time on rank " + std::to_string(m.rank) + " of " +
                   std::to_string(size) + " (a peer missing or stalled?); the communicator was aborted",
               true);
        std::this_thread::yield();
      }
    }
  }

  // Issues one call per local rank (grouped when there are several, as NCCL requires of one
  // thread driving several ranks) and waits for all of them.
  void run(const std::function<ncclResult_t(Member&, std::size_t)>& issue, std::chrono::milliseconds timeout,
           const char* what) {
    FEDTL_ENFORCE(!aborted, NcclError,
                  "this NCCL communicator was aborted after an earlier failure or timeout; make a new NcclReducer");
    auto deadline = Clock::now() + timeout;
    bool grouped = members.size() > 1;
    ncclResult_t first = ncclSuccess;
    if (grouped) first = ncclGroupStart();
    for (std::size_t i = 0; i < members.size() && issued(first); ++i) first = issue(members[i], i);
    if (grouped) {
      ncclResult_t end = ncclGroupEnd();
      if (issued(first)) first = end;
    }
    if (!issued(first)) fail(std::string(what) + " could not be issued: " + ncclText(first, nullptr), false);
    waitIssued(deadline, what);
    waitDone(deadline, what);
  }

  // NCCL would report a host or wrong-device pointer as an opaque "invalid usage" at best; say
  // what is wrong instead.
  void checkBuffer(const void* pointer, const Member& m, const char* name) const {
    FEDTL_ENFORCE(pointer != nullptr, NcclError, name, " of rank ", m.rank, " is null");
    cudaPointerAttributes attributes{};
    cudaError_t status = cudaPointerGetAttributes(&attributes, pointer);
    if (status != cudaSuccess) cudaGetLastError();
    bool deviceMemory =
        status == cudaSuccess && (attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged);
    if (deviceMemory && attributes.device == m.device) return;
    std::string actual = deviceMemory ? "memory of CUDA device " + std::to_string(attributes.device) : "host memory";
    throw NcclError(std::string(name) + " of rank " + std::to_string(m.rank) + " must be memory of CUDA device " +
                    std::to_string(m.device) + ", not " + actual);
  }
};

UniqueId newUniqueId() {
  ncclUniqueId id;
  ncclResult_t result = ncclGetUniqueId(&id);
  FEDTL_ENFORCE(result == ncclSuccess, NcclError, "ncclGetUniqueId failed: ", ncclText(result, nullptr));
  UniqueId out;
  std::memcpy(out.bytes.data(), &id, sizeof(id));
  return out;
}

NcclReducer NcclReducer::localDevices(int ranks, const ReducerOptions& options) {
  std::vector<int> devices;
  for (int d = 0; d < ranks; ++d) devices.push_back(d);
  return localDevices(Span<const int>(devices), options);
}

NcclReducer NcclReducer::localDevices(Span<const int> devices, const ReducerOptions& options) {
  const int visible = deviceCount();
  FEDTL_ENFORCE(!devices.empty(), NcclError, "an NCCL communicator needs at least one device");
  for (int d : devices)
    FEDTL_ENFORCE(d >= 0 && d < visible, NcclError, "CUDA device ", d, " asked for, but this process sees ", visible,
                  " CUDA device(s): ", describe());
  ncclUniqueId id;
  ncclResult_t result = ncclGetUniqueId(&id);
  FEDTL_ENFORCE(result == ncclSuccess, NcclError, "ncclGetUniqueId failed: ", ncclText(result, nullptr));
  std::vector<int> ranks, deviceList(devices.begin(), devices.end());
  for (std::size_t i = 0; i < deviceList.size(); ++i) ranks.push_back(static_cast<int>(i));
  auto state = std::make_unique<State>();
  state->init(id, static_cast<int>(deviceList.size()), ranks, deviceList, options);
  return NcclReducer(std::move(state));
}

NcclReducer::NcclReducer(const UniqueId& id, int rank, int size, int device, const ReducerOptions& options) {
  FEDTL_ENFORCE(size > 0 && rank >= 0 && rank < size, NcclError, "NCCL rank ", rank, " of ", size, " is out of range");
  const int visible = deviceCount();
  FEDTL_ENFORCE(device >= 0 && device < visible, NcclError, "CUDA device ", device,
                " asked for, but this process sees ", visible, " CUDA device(s): ", describe());
  ncclUniqueId raw;
  std::memcpy(&raw, id.bytes.data(), sizeof(raw));
  auto state = std::make_unique<State>();
  state->init(raw, size, {rank}, {device}, options);
  state_ = std::move(state);
}

NcclReducer::NcclReducer(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
NcclReducer::~NcclReducer() = default;
NcclReducer::NcclReducer(NcclReducer&& other) noexcept = default;
NcclReducer& NcclReducer::operator=(NcclReducer&& other) noexcept = default;

int NcclReducer::localRanks() const noexcept { return state_ ? static_cast<int>(state_->members.size()) : 0; }
int NcclReducer::size() const noexcept { return state_ ? state_->size : 0; }

int NcclReducer::rank(int local) const {
  FEDTL_ENFORCE(local >= 0 && local < localRanks(), NcclError, "no local rank ", local);
  return state_->members[static_cast<std::size_t>(local)].rank;
}

int NcclReducer::device(int local) const {
  FEDTL_ENFORCE(local >= 0 && local < localRanks(), NcclError, "no local rank ", local);
  return state_->members[static_cast<std::size_t>(local)].device;
}

void NcclReducer::reduceSum(Span<const std::uint32_t* const> in, Span<std::uint32_t* const> out, std::size_t count,
                            int root, std::chrono::milliseconds timeout) {
  FEDTL_ENFORCE(state_ != nullptr, NcclError, "reduceSum on a moved-from NcclReducer");
  auto& s = *state_;
  FEDTL_ENFORCE(in.size() == s.members.size() && out.size() == s.members.size(), NcclError,
                "reduceSum needs one input ", "and one output per local rank (", s.members.size(), "), got ", in.size(),
                " and ", out.size());
  FEDTL_ENFORCE(root == kAllRanks || (root >= 0 && root < s.size), NcclError, "reduceSum root ", root,
                " is not a rank of this communicator of ", s.size, " (or kAllRanks)");
  if (count == 0) return;
  for (std::size_t i = 0; i < s.members.size(); ++i) {
    s.checkBuffer(in[i], s.members[i], "reduceSum input");
    if (root == kAllRanks || s.members[i].rank == root) s.checkBuffer(out[i], s.members[i], "reduceSum output");
  }
  s.run(
      [&](State::Member& m, std::size_t i) {
        // Unsigned 32-bit addition wraps mod 2^32: the ring secure aggregation masks live in.
        if (root == kAllRanks) return ncclAllReduce(in[i], out[i], count, ncclUint32, ncclSum, m.comm, m.stream);
        return ncclReduce(in[i], out[i], count, ncclUint32, ncclSum, root, m.comm, m.stream);
      },
      timeout, root == kAllRanks ? "NCCL all-reduce of uint32" : "NCCL reduce of uint32");
}

void NcclReducer::reduceSum(const std::uint32_t* in, std::uint32_t* out, std::size_t count, int root,
                            std::chrono::milliseconds timeout) {
  FEDTL_ENFORCE(localRanks() == 1, NcclError, "this reduceSum takes one buffer per local rank; the reducer drives ",
                localRanks(), " ranks");
  const std::uint32_t* inputs[] = {in};
  std::uint32_t* outputs[] = {out};
  reduceSum(Span<const std::uint32_t* const>(inputs), Span<std::uint32_t* const>(outputs), count, root, timeout);
}

void NcclReducer::allReduceAverage(Span<float* const> buffers, std::size_t count, std::chrono::milliseconds timeout) {
  FEDTL_ENFORCE(state_ != nullptr, NcclError, "allReduceAverage on a moved-from NcclReducer");
  auto& s = *state_;
  FEDTL_ENFORCE(buffers.size() == s.members.size(), NcclError, "allReduceAverage needs one buffer per local rank (",
                s.members.size(), "), got ", buffers.size());
  if (count == 0) return;
  for (std::size_t i = 0; i < s.members.size(); ++i) s.checkBuffer(buffers[i], s.members[i], "allReduceAverage buffer");
  s.run(
      [&](State::Member& m, std::size_t i) {
        return ncclAllReduce(buffers[i], buffers[i], count, ncclFloat32, ncclAvg, m.comm, m.stream);
      },
      timeout, "NCCL all-reduce average of float");
}

}  // namespace fedtl::nccl
