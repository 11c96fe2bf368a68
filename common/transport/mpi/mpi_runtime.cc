#include "common/transport/mpi/mpi_runtime.h"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace fedtl::transport {

struct MpiRuntime::Job {
  std::function<void()> work;
  std::promise<void> done;
};

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kIdleWait = std::chrono::microseconds(500);  // between polls when nothing moved

std::string mpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(length));
}

const char* threadLevelName(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
    default: return "an unknown thread level";
  }
}

}  // namespace

std::string mpiPeerName(int rank) { return "rank-" + std::to_string(rank); }

int mpiPeerRank(const std::string& name) {
  if (name.size() < 6 || name.compare(0, 5, "rank-") != 0 || name.size() > 14) return -1;
  int rank = 0;
  for (std::size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    rank = rank * 10 + (name[i] - '0');
  }
  return rank;
}

MpiRuntime::MpiRuntime(Millis finalizeTimeout) : finalizeTimeout_(finalizeTimeout) {
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, &started] { loop(started); });
  try {
    ready.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

MpiRuntime::~MpiRuntime() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void MpiRuntime::call(std::function<void()> job, Millis timeout) {
  auto j = std::make_shared<Job>();
  j->work = std::move(job);
  auto done = j->done.get_future();
  {
    std::lock_guard lock(mu_);
    FEDTL_ENFORCE(!stopping_, MpiError, "the MPI runtime is shutting down");
    jobs_.push_back(j);
    woken_ = true;
  }
  cv_.notify_all();
  FEDTL_ENFORCE(done.wait_for(timeout) == std::future_status::ready, MpiError, "an MPI operation took longer than ",
                timeout.count(), " ms (is every rank of the job running?)");
  done.get();
}

void MpiRuntime::attach(std::shared_ptr<MpiPoller> poller) {
  {
    std::lock_guard lock(mu_);
    poller_ = std::move(poller);
    woken_ = true;
  }
  cv_.notify_all();
}

void MpiRuntime::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void MpiRuntime::loop(std::promise<void>& started) {
  int provided = 0;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) {
    started.set_exception(std::make_exception_ptr(
        MpiError("MPI_Init_thread failed; run fedtl mpi under mpirun (Open MPI) with a working installation")));
    return;
  }
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    started.set_exception(std::make_exception_ptr(MpiError(detail::concat(
        "this MPI library provides only ", threadLevelName(provided),
        "; fedtl needs MPI_THREAD_FUNNELED (one thread makes every MPI call while others train): use an MPI built "
        "with thread support (Open MPI's default build has it)"))));
    return;
  }
  // Errors come back as codes (and become MpiError with their text) instead of aborting the job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  started.set_value();  // `started` lives on the constructor's stack: not touched again

  for (;;) {
    std::shared_ptr<Job> job;
    std::shared_ptr<MpiPoller> poller;
    bool stop = false;
    {
      std::lock_guard lock(mu_);
      if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      poller = poller_;
      stop = stopping_ && jobs_.empty() && !job;
    }
    if (stop) break;
    bool busy = false;
    if (job) {
      try {
        job->work();
        job->done.set_value();
      } catch (...) {
        job->done.set_exception(std::current_exception());
      }
      busy = true;
    }
    if (poller) {
      try {
        busy = poller->poll() || busy;
      } catch (const std::exception& e) {
        // A failed MPI call leaves the job's collectives out of step: end it rather than hang.
        spdlog::error("MPI transport failed on rank {}: {}; aborting the MPI job", rank_, e.what());
        MPI_Abort(MPI_COMM_WORLD, 3);
      }
    }
    if (!busy) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kIdleWait, [&] { return woken_ || stopping_; });
      woken_ = false;
    }
  }
  shutdownOnThread();
}

void MpiRuntime::shutdownOnThread() {
  const auto deadline = Clock::now() + finalizeTimeout_;
  std::shared_ptr<MpiPoller> poller;
  {
    std::lock_guard lock(mu_);
    poller = std::move(poller_);
  }
  try {
    if (poller) poller->drain(deadline);
  } catch (const std::exception& e) {
    spdlog::warn("MPI rank {}: {} while finishing its sends", rank_, e.what());
  }
  // Every rank arrives before any finalises; messages still arriving meanwhile are dropped
  // (their sender has finished: nobody waits for an answer any more).
  MPI_Request barrier = MPI_REQUEST_NULL;
  int rc = MPI_Ibarrier(MPI_COMM_WORLD, &barrier);
  int done = rc != MPI_SUCCESS;
  if (rc != MPI_SUCCESS) spdlog::warn("MPI rank {}: MPI_Ibarrier failed: {}", rank_, mpiErrorText(rc));
  auto wait = std::chrono::microseconds(50);
  while (!done) {
    int pending = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &pending, &status);
    if (poller) poller->discardIncoming();
    if (pending) {
      int bytes = 0;
      MPI_Get_count(&status, MPI_BYTE, &bytes);
      std::string sink(static_cast<std::size_t>(std::max(bytes, 0)), '\0');
      MPI_Recv(sink.data(), bytes, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    if (MPI_Test(&barrier, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
    if (done) break;
    if (Clock::now() > deadline) {
      spdlog::error("MPI rank {}: other ranks did not finish within {} s; aborting the MPI job", rank_,
                    std::chrono::duration_cast<std::chrono::seconds>(finalizeTimeout_).count());
      MPI_Abort(MPI_COMM_WORLD, 4);
    }
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::microseconds(20000));
  }
  poller.reset();
  MPI_Finalize();
}

}  // namespace fedtl::transport
