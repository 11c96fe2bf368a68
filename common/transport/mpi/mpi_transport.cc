#include "common/transport/mpi/mpi_transport.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace fedtl::transport {
namespace {

using Clock = std::chrono::steady_clock;

// One tag per kind of message from rank 0. Receivers peek with MPI_ANY_TAG, and MPI keeps the
// messages of one sender that match a receive in order, so announcements stay in sequence
// with the frames around them.
enum Tag : int { kTagFrame = 1, kTagBroadcast = 2, kTagReduce = 3 };

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw MpiError(detail::concat(what, " failed: ", std::string(text, static_cast<std::size_t>(length))));
}

// Sends in flight, each holding what it sends alive until MPI is done with it.
class PendingSends {
 public:
  void post(const void* data, std::size_t bytes, int dest, int tag, MPI_Comm comm, std::shared_ptr<const void> keep) {
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, comm, &request), "MPI_Isend");
    sends_.push_back({request, std::move(keep)});
  }
  // Tests every send; true when one completed.
  bool progress() {
    bool any = false;
    for (auto it = sends_.begin(); it != sends_.end();) {
      int done = 0;
      check(MPI_Test(&it->request, &done, MPI_STATUS_IGNORE), "MPI_Test (send)");
      if (done) {
        it = sends_.erase(it);
        any = true;
      } else {
        ++it;
      }
    }
    return any;
  }
  std::size_t size() const { return sends_.size(); }

 private:
  struct Send {
    MPI_Request request;
    std::shared_ptr<const void> keep;
  };
  std::deque<Send> sends_;
};

// The collective in progress (one at a time, in the same order on every rank).
struct Collective {
  MPI_Request request = MPI_REQUEST_NULL;
  Clock::time_point deadline;
  const char* what = "";
  std::shared_ptr<const void> keep;  // the buffers MPI reads or writes
  std::function<void()> onDone;
};

// Progresses the collective; true while one runs (the MPI thread keeps polling instead of
// idling: nonblocking collectives move only inside MPI calls). Throws MpiError past its deadline.
bool progressCollective(std::optional<Collective>& c, Millis timeout) {
  if (!c) return false;
  int done = 0;
  check(MPI_Test(&c->request, &done, MPI_STATUS_IGNORE), c->what);
  if (done) {
    auto onDone = std::move(c->onDone);
    c.reset();
    if (onDone) onDone();
    return true;
  }
  FEDTL_ENFORCE(Clock::now() < c->deadline, MpiError, c->what, " did not complete within ",
                std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                " s: a rank stopped taking part (busy, hung or dead)");
  std::this_thread::yield();  // oversubscribed ranks share the cores
  return true;
}

// Receives the message `message` (matched, `bytes` long) into a fresh buffer, or into nothing
// when it exceeds `limit` (then the result is empty and the message is gone).
std::shared_ptr<std::string> receiveMatched(MPI_Message& message, int bytes, std::size_t limit, int source) {
  if (bytes < 0 || static_cast<std::size_t>(bytes) > limit) {
    char nothing = 0;
    MPI_Mrecv(&nothing, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE);  // MPI_ERR_TRUNCATE: expected
    spdlog::warn("MPI transport: dropped a {} byte frame from rank {} (the limit is {} bytes)", bytes, source, limit);
    return nullptr;
  }
  auto buffer = std::make_shared<std::string>(static_cast<std::size_t>(bytes), '\0');
  check(MPI_Mrecv(buffer->data(), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  return buffer;
}

void discardAll(MPI_Comm comm) {
  for (int i = 0; i < 64; ++i) {
    int found = 0;
    MPI_Message message;
    MPI_Status status;
    if (MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &found, &message, &status) != MPI_SUCCESS || !found) return;
    int bytes = 0;
    MPI_Get_count(&status, MPI_BYTE, &bytes);
    std::string sink(static_cast<std::size_t>(std::max(bytes, 0)), '\0');
    MPI_Mrecv(sink.data(), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE);
  }
}

// Waits on `cv` until `ready` or the timeout; false on timeout or when closed.
template <class Ready>
bool waitFor(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Millis timeout, const bool& closed,
             Ready ready) {
  return cv.wait_for(lock, timeout, [&] { return closed || ready(); }) && !closed;
}

// The element type of a reduction, announced with it (both are 4 bytes a value).
enum class ReduceType : std::uint64_t { kUint32 = 0, kFloat = 1 };

struct ReduceJob {
  std::uint64_t key = 0;
  ReduceType type = ReduceType::kUint32;
  std::vector<std::uint32_t> contributors;  // ranks
  std::vector<std::uint32_t> sum;           // kUint32
  std::vector<float> floatSum;              // kFloat
  std::promise<bool> done;
  std::size_t count() const { return type == ReduceType::kFloat ? floatSum.size() : sum.size(); }
};

}  // namespace

// ---- The hub (rank 0) ----

namespace {

// Polls a hub's or link's state until its queued frames and any collective are done; MpiError
// past `deadline`.
template <class State>
void drainQueued(State& state, Clock::time_point deadline, const char* recipients) {
  for (;;) {
    {
      std::lock_guard lock(state.mu);
      if (state.outbound.empty() && state.sends.size() == 0 && !state.collective) return;
    }
    FEDTL_ENFORCE(Clock::now() < deadline, MpiError, "frames for ", recipients, " were still queued at shutdown");
    if (!state.poll()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

struct MpiHub::State : MpiPoller {
  struct Op {
    Tag kind = kTagFrame;
    int dest = 0;
    SharedFrame frame;
    std::shared_ptr<ReduceJob> reduce;
  };

  State(MPI_Comm c, int n, MpiTransportOptions o) : comm(c), size(n), options(o) {}

  bool poll() override {
    bool busy = sends.progress();
    busy = progressCollective(collective, options.collectiveTimeout) || busy;
    busy = receive() || busy;
    while (!collective && sends.size() < options.queueCapacity) {
      Op op;
      {
        std::lock_guard lock(mu);
        if (outbound.empty()) break;
        op = std::move(outbound.front());
        outbound.pop_front();
      }
      cv.notify_all();
      start(op);
      busy = true;
    }
    return busy;
  }

  void drain(Clock::time_point deadline) override { drainQueued(*this, deadline, "the participants"); }

  void discardIncoming() override { discardAll(comm); }

  // One incoming frame, if there is room for it.
  bool receive() {
    {
      std::lock_guard lock(mu);
      if (inbox.size() >= options.queueCapacity) return false;
    }
    int found = 0;
    MPI_Message message;
    MPI_Status status;
    check(MPI_Improbe(MPI_ANY_SOURCE, kTagFrame, comm, &found, &message, &status), "MPI_Improbe");
    if (!found) return false;
    int bytes = 0;
    MPI_Get_count(&status, MPI_BYTE, &bytes);
    auto buffer = receiveMatched(message, bytes, options.maxMessageBytes, status.MPI_SOURCE);
    if (!buffer) return true;
    {
      std::lock_guard lock(mu);
      inbox.push_back({mpiPeerName(status.MPI_SOURCE), Frame(SharedFrame(std::move(buffer)))});
    }
    cv.notify_all();
    return true;
  }

  void start(Op& op) {
    const auto deadline = Clock::now() + options.collectiveTimeout;
    switch (op.kind) {
      case kTagFrame: {
        const auto* frame = op.frame.get();
        sends.post(frame->data(), frame->size(), op.dest, kTagFrame, comm, std::move(op.frame));
        return;
      }
      case kTagBroadcast: {
        auto announcement = std::make_shared<std::uint64_t>(op.frame->size());
        for (int r = 1; r < size; ++r)
          sends.post(announcement.get(), sizeof(std::uint64_t), r, kTagBroadcast, comm, announcement);
        Collective c;
        c.what = "MPI_Ibcast";
        c.deadline = deadline;
        // Rank 0 only reads the buffer; MPI's signature is not const.
        check(MPI_Ibcast(const_cast<char*>(op.frame->data()), static_cast<int>(op.frame->size()), MPI_BYTE, 0, comm,
                         &c.request),
              "MPI_Ibcast");
        c.keep = std::move(op.frame);
        collective = std::move(c);
        return;
      }
      case kTagReduce: {
        auto job = std::move(op.reduce);
        const std::uint64_t header[3] = {job->key, job->count(), static_cast<std::uint64_t>(job->type)};
        auto announcement = std::make_shared<std::string>(sizeof header + job->contributors.size() * 4, '\0');
        std::memcpy(announcement->data(), header, sizeof header);
        std::memcpy(announcement->data() + sizeof header, job->contributors.data(), job->contributors.size() * 4);
        for (int r = 1; r < size; ++r)
          sends.post(announcement->data(), announcement->size(), r, kTagReduce, comm, announcement);
        // Rank 0 adds zeros.
        std::fill(job->sum.begin(), job->sum.end(), 0u);
        std::fill(job->floatSum.begin(), job->floatSum.end(), 0.0f);
        const bool floats = job->type == ReduceType::kFloat;
        Collective c;
        c.what = "MPI_Ireduce";
        c.deadline = deadline;
        check(MPI_Ireduce(MPI_IN_PLACE, floats ? static_cast<void*>(job->floatSum.data()) : job->sum.data(),
                          static_cast<int>(job->count()), floats ? MPI_FLOAT : MPI_UINT32_T, MPI_SUM, 0, comm,
                          &c.request),
              "MPI_Ireduce");
        c.onDone = [job] { job->done.set_value(true); };
        c.keep = job;
        collective = std::move(c);
        return;
      }
    }
  }

  // Queues an operation, waiting up to `timeout` for room.
  bool enqueue(Op op, Millis timeout) {
    std::unique_lock lock(mu);
    if (!waitFor(lock, cv, timeout, closed, [&] { return outbound.size() < options.queueCapacity; })) return false;
    outbound.push_back(std::move(op));
    return true;
  }

  MPI_Comm comm;
  int size;
  MpiTransportOptions options;
  std::mutex mu;
  std::condition_variable cv;  // room in outbound, a frame in the inbox, closing
  std::deque<Op> outbound;
  std::deque<Incoming> inbox;
  bool closed = false;
  // The MPI thread's own.
  PendingSends sends;
  std::optional<Collective> collective;
};

MpiHub::MpiHub(MpiRuntime& runtime, MPI_Comm comm, MpiTransportOptions options) : runtime_(runtime) {
  FEDTL_ENFORCE(options.maxMessageBytes <= static_cast<std::size_t>(INT_MAX), ConfigError,
                "the MPI transport's message limit is at most ", INT_MAX, " bytes (MPI counts in int)");
  int rank = -1, size = 0;
  runtime_.call(
      [&] {
        check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
        check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
      },
      Millis(60000));
  FEDTL_ENFORCE(rank == 0, ConfigError, "the MPI hub runs on rank 0 of its communicator, not on rank ", rank);
  FEDTL_ENFORCE(size >= 2, ConfigError, "an MPI job needs rank 0 and at least one participant rank; start it with "
                "mpirun -np N+1 for N participants");
  state_ = std::make_shared<State>(comm, size, options);
  runtime_.attach(state_);
}

MpiHub::~MpiHub() {
  {
    std::lock_guard lock(state_->mu);
    state_->closed = true;
  }
  state_->cv.notify_all();
  runtime_.wake();  // the queued frames still go out: the runtime drains them at shutdown
}

std::string MpiHub::endpoint() const { return "mpi://rank-0 (" + std::to_string(state_->size - 1) + " participant ranks)"; }

std::vector<std::string> MpiHub::peers() const {
  std::vector<std::string> names;
  for (int r = 1; r < state_->size; ++r) names.push_back(mpiPeerName(r));
  return names;
}

bool MpiHub::send(const std::string& peer, SharedFrame frame, Millis timeout) {
  const int rank = mpiPeerRank(peer);
  if (rank < 1 || rank >= state_->size) return false;
  if (frame->size() > state_->options.maxMessageBytes) {
    spdlog::warn("MPI transport: a {} byte frame for {} exceeds the limit of {} bytes; not sent", frame->size(), peer,
                 state_->options.maxMessageBytes);
    return false;
  }
  State::Op op;
  op.kind = kTagFrame;
  op.dest = rank;
  op.frame = std::move(frame);
  const bool queued = state_->enqueue(std::move(op), timeout);
  if (queued) runtime_.wake();
  return queued;
}

std::optional<Incoming> MpiHub::receive(Millis timeout) {
  std::unique_lock lock(state_->mu);
  if (!waitFor(lock, state_->cv, timeout, state_->closed, [&] { return !state_->inbox.empty(); })) return {};
  Incoming in = std::move(state_->inbox.front());
  state_->inbox.pop_front();
  return in;
}

std::vector<bool> MpiHub::broadcast(const std::vector<std::string>& peers, const SharedFrame& frame, Millis timeout) {
  std::set<int> ranks;
  for (const auto& peer : peers) ranks.insert(mpiPeerRank(peer));
  const bool everyone = ranks.size() == peers.size() && static_cast<int>(ranks.size()) == state_->size - 1 &&
                        *ranks.begin() == 1 && *ranks.rbegin() == state_->size - 1;
  // Only a broadcast to every participant rank is a collective; a part of them gets sends.
  if (!everyone || frame->size() > state_->options.maxMessageBytes) return Hub::broadcast(peers, frame, timeout);
  State::Op op;
  op.kind = kTagBroadcast;
  op.frame = frame;
  const bool queued = state_->enqueue(std::move(op), timeout);
  if (queued) runtime_.wake();
  return std::vector<bool>(peers.size(), queued);
}

namespace {

// Runs `job` (either element type) on the hub's MPI thread and waits for it.
bool runReduce(MpiRuntime& runtime, MpiHub::State& state, std::uint64_t key,
               const std::vector<std::string>& contributors, const std::shared_ptr<ReduceJob>& job, Millis timeout) {
  job->key = key;
  for (const auto& name : contributors) {
    const int rank = mpiPeerRank(name);
    if (rank < 1 || rank >= state.size) {
      spdlog::warn("MPI transport: {} is not a participant rank; no reduction", name);
      return false;
    }
    job->contributors.push_back(static_cast<std::uint32_t>(rank));
  }
  if (job->count() > static_cast<std::size_t>(INT_MAX)) {
    spdlog::warn("MPI transport: a reduction of {} values exceeds MPI's int count", job->count());
    return false;
  }
  auto done = job->done.get_future();
  MpiHub::State::Op op;
  op.kind = kTagReduce;
  op.reduce = job;
  const auto start = Clock::now();
  if (!state.enqueue(std::move(op), timeout)) return false;
  runtime.wake();
  const auto left = timeout - std::chrono::duration_cast<Millis>(Clock::now() - start);
  if (done.wait_for(std::max(left, Millis(0))) != std::future_status::ready || !done.get()) {
    spdlog::warn("MPI transport: the reduction (key {}) did not complete within {} ms", key, timeout.count());
    return false;
  }
  return true;
}

}  // namespace

bool MpiHub::reduceSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<std::uint32_t>& sum,
                       Millis timeout) {
  auto job = std::make_shared<ReduceJob>();
  job->sum = std::move(sum);
  sum.clear();
  if (!runReduce(runtime_, *state_, key, contributors, job, timeout)) return false;
  sum = std::move(job->sum);
  return true;
}

bool MpiHub::reduceFloatSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<float>& sum,
                            Millis timeout) {
  auto job = std::make_shared<ReduceJob>();
  job->type = ReduceType::kFloat;
  job->floatSum = std::move(sum);
  sum.clear();
  if (!runReduce(runtime_, *state_, key, contributors, job, timeout)) return false;
  sum = std::move(job->floatSum);
  return true;
}

// ---- A participant's link (rank > 0) ----

struct MpiLink::State : MpiPoller {
  State(MPI_Comm c, MpiTransportOptions o) : comm(c), options(o) {}

  bool poll() override {
    bool busy = sends.progress();
    busy = progressCollective(collective, options.collectiveTimeout) || busy;
    // While a collective runs nothing newer is read: a broadcast frame must reach the inbox
    // before the frames sent after it.
    if (!collective) busy = receive() || busy;
    while (sends.size() < options.queueCapacity) {
      std::shared_ptr<const std::string> frame;
      {
        std::lock_guard lock(mu);
        if (outbound.empty()) break;
        frame = std::move(outbound.front());
        outbound.pop_front();
      }
      cv.notify_all();
      const auto* bytes = frame.get();
      sends.post(bytes->data(), bytes->size(), 0, kTagFrame, comm, std::move(frame));
      busy = true;
    }
    return busy;
  }

  void drain(Clock::time_point deadline) override { drainQueued(*this, deadline, "the coordinator"); }

  void discardIncoming() override { discardAll(comm); }

  bool receive() {
    int found = 0;
    MPI_Status status;
    check(MPI_Iprobe(0, MPI_ANY_TAG, comm, &found, &status), "MPI_Iprobe");
    if (!found) return false;
    const int tag = status.MPI_TAG;
    if (tag == kTagFrame) {
      std::lock_guard lock(mu);
      if (inbox.size() >= options.queueCapacity) return false;  // the session reads first
    }
    MPI_Message message;
    check(MPI_Improbe(0, tag, comm, &found, &message, &status), "MPI_Improbe");
    FEDTL_ENFORCE(found, MpiError, "a probed message from rank 0 vanished");
    int bytes = 0;
    MPI_Get_count(&status, MPI_BYTE, &bytes);
    if (tag == kTagFrame) {
      auto buffer = receiveMatched(message, bytes, options.maxMessageBytes, 0);
      if (buffer) push(Frame(SharedFrame(std::move(buffer))));
      return true;
    }
    // Announcements are small; anything else is not from a fedtl hub.
    auto announcement = receiveMatched(message, bytes, 1 << 20, 0);
    FEDTL_ENFORCE(announcement, MpiError, "an oversized announcement from rank 0");
    const auto deadline = Clock::now() + options.collectiveTimeout;
    if (tag == kTagBroadcast) {
      std::uint64_t size = 0;
      FEDTL_ENFORCE(announcement->size() == sizeof size, MpiError, "a malformed broadcast announcement");
      std::memcpy(&size, announcement->data(), sizeof size);
      // Joining is not optional (it is a collective): a frame above the limit ends the job.
      FEDTL_ENFORCE(size <= options.maxMessageBytes, MpiError, "rank 0 broadcasts a ", size,
                    " byte frame, above this rank's limit of ", options.maxMessageBytes,
                    " bytes; give every rank the same --max-message-mb");
      auto buffer = std::make_shared<std::string>(static_cast<std::size_t>(size), '\0');
      Collective c;
      c.what = "MPI_Ibcast";
      c.deadline = deadline;
      check(MPI_Ibcast(buffer->data(), static_cast<int>(size), MPI_BYTE, 0, comm, &c.request), "MPI_Ibcast");
      c.onDone = [this, buffer] { push(Frame(SharedFrame(buffer))); };
      collective = std::move(c);
      return true;
    }
    if (tag == kTagReduce) {
      std::uint64_t header[3];
      FEDTL_ENFORCE(announcement->size() >= sizeof header && (announcement->size() - sizeof header) % 4 == 0, MpiError,
                    "a malformed reduction announcement");
      std::memcpy(header, announcement->data(), sizeof header);
      const std::uint64_t key = header[0], count = header[1];
      FEDTL_ENFORCE(count <= static_cast<std::uint64_t>(INT_MAX), MpiError, "a reduction of ", count, " values");
      FEDTL_ENFORCE(header[2] <= static_cast<std::uint64_t>(ReduceType::kFloat), MpiError,
                    "a reduction of unknown element type ", header[2]);
      const bool floats = static_cast<ReduceType>(header[2]) == ReduceType::kFloat;
      std::set<std::uint32_t> named;
      for (std::size_t at = sizeof header; at < announcement->size(); at += 4) {
        std::uint32_t r = 0;
        std::memcpy(&r, announcement->data() + at, 4);
        named.insert(r);
      }
      const bool isNamed = named.count(static_cast<std::uint32_t>(rank)) > 0;
      auto values = std::make_shared<std::vector<std::uint32_t>>();
      std::shared_ptr<const std::vector<float>> floatValues;
      {
        std::lock_guard lock(mu);
        bool found = false;
        if (floats) {
          // Shared, not consumed or copied: a round whose reduction failed may be retried with
          // the same contributions, and a newer one replaces it without freeing what MPI reads.
          found = isNamed && floatContribution.first == key && floatContribution.second &&
                  floatContribution.second->size() == count;
          if (found) floatValues = floatContribution.second;
        } else {
          auto it = contributions.find(key);
          found = isNamed && it != contributions.end() && it->second.size() == count;
          if (found) *values = std::move(it->second);
          // This key and older ones are done with.
          contributions.erase(contributions.begin(), contributions.upper_bound(key));
        }
        if (isNamed && !found)
          spdlog::warn("{}: named in reduction {} without a matching contribution; adding zeros", mpiPeerName(rank),
                       key);
      }
      Collective c;
      c.what = "MPI_Ireduce";
      c.deadline = deadline;
      if (floats) {
        if (!floatValues)
          floatValues = std::make_shared<const std::vector<float>>(static_cast<std::size_t>(count), 0.0f);
        check(
            MPI_Ireduce(floatValues->data(), nullptr, static_cast<int>(count), MPI_FLOAT, MPI_SUM, 0, comm, &c.request),
            "MPI_Ireduce");
        c.keep = floatValues;
      } else {
        if (values->size() != count) values->assign(static_cast<std::size_t>(count), 0u);
        check(MPI_Ireduce(values->data(), nullptr, static_cast<int>(count), MPI_UINT32_T, MPI_SUM, 0, comm, &c.request),
              "MPI_Ireduce");
        c.keep = values;
      }
      collective = std::move(c);
      return true;
    }
    spdlog::warn("{}: dropped a message with unknown tag {} from rank 0", mpiPeerName(rank), tag);
    return true;
  }

  void push(Frame frame) {
    {
      std::lock_guard lock(mu);
      inbox.push_back(std::move(frame));
    }
    cv.notify_all();
  }

  MPI_Comm comm;
  int rank = 0;
  MpiTransportOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<const std::string>> outbound;
  std::deque<Frame> inbox;
  std::map<std::uint64_t, std::vector<std::uint32_t>> contributions;  // by key, newest last
  std::pair<std::uint64_t, std::shared_ptr<const std::vector<float>>> floatContribution;  // the latest only
  bool closed = false;
  // The MPI thread's own.
  PendingSends sends;
  std::optional<Collective> collective;
};

namespace {
constexpr std::size_t kKeptContributions = 4;  // a participant contributes to one reduction at a time
}

MpiLink::MpiLink(MpiRuntime& runtime, MPI_Comm comm, MpiTransportOptions options) : runtime_(runtime) {
  FEDTL_ENFORCE(options.maxMessageBytes <= static_cast<std::size_t>(INT_MAX), ConfigError,
                "the MPI transport's message limit is at most ", INT_MAX, " bytes (MPI counts in int)");
  int rank = -1;
  runtime_.call([&] { check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank"); }, Millis(60000));
  FEDTL_ENFORCE(rank > 0, ConfigError, "an MPI link runs on a rank above 0 of its communicator");
  name_ = mpiPeerName(rank);
  state_ = std::make_shared<State>(comm, options);
  state_->rank = rank;
  runtime_.attach(state_);
}

MpiLink::~MpiLink() {
  {
    std::lock_guard lock(state_->mu);
    state_->closed = true;
  }
  state_->cv.notify_all();
  runtime_.wake();
}

bool MpiLink::send(std::string_view frame, Millis timeout) {
  if (frame.size() > state_->options.maxMessageBytes) {
    spdlog::warn("{}: a {} byte frame exceeds the MPI transport's limit of {} bytes; not sent", name_, frame.size(),
                 state_->options.maxMessageBytes);
    return false;
  }
  auto copy = std::make_shared<const std::string>(frame);
  {
    std::unique_lock lock(state_->mu);
    if (!waitFor(lock, state_->cv, timeout, state_->closed,
                 [&] { return state_->outbound.size() < state_->options.queueCapacity; }))
      return false;
    state_->outbound.push_back(std::move(copy));
  }
  runtime_.wake();
  return true;
}

std::optional<Frame> MpiLink::receive(Millis timeout) {
  std::unique_lock lock(state_->mu);
  if (!waitFor(lock, state_->cv, timeout, state_->closed, [&] { return !state_->inbox.empty(); })) return {};
  Frame frame = std::move(state_->inbox.front());
  state_->inbox.pop_front();
  return frame;
}

bool MpiLink::contribute(std::uint64_t key, std::vector<std::uint32_t> values, Millis) {
  std::lock_guard lock(state_->mu);
  if (state_->closed) return false;
  state_->contributions[key] = std::move(values);
  while (state_->contributions.size() > kKeptContributions) state_->contributions.erase(state_->contributions.begin());
  return true;
}

bool MpiLink::contributeFloat(std::uint64_t key, std::vector<float> values, Millis) {
  std::lock_guard lock(state_->mu);
  if (state_->closed) return false;
  state_->floatContribution = {key, std::make_shared<const std::vector<float>>(std::move(values))};
  return true;
}

}  // namespace fedtl::transport
