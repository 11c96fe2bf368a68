// The MPI scope of one process, owned by one thread. MPI_Init_thread asks for
// MPI_THREAD_FUNNELED (only the thread that initialised MPI calls it) and the level Open MPI
// provides is checked; that thread then makes every MPI call of the process (jobs handed to it
// with call(), the transport's point-to-point traffic and collectives through an attached
// Poller) and calls MPI_Finalize when the runtime is destroyed. Callers on other threads talk
// to it through bounded queues and waits that all end by a deadline.
//
// MPI has no dropout: a rank that dies takes the job down (mpirun ends every rank). The
// coordinator checkpoints every round, so `--resume` continues a relaunched job.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/transport/transport.h"

namespace fedtl::transport {

// MPI failed, or an MPI wait passed its deadline.
class MpiError : public Error {
 public:
  using Error::Error;
};

// Work the MPI thread does between jobs: a hub's or link's message traffic. poll() makes
// progress without blocking and says whether it did anything (the thread idles otherwise);
// drain() finishes what was queued, by the deadline, before the runtime finalises.
class MpiPoller {
 public:
  virtual ~MpiPoller() = default;
  virtual bool poll() = 0;
  virtual void drain(std::chrono::steady_clock::time_point deadline) = 0;
  // Receives and drops whatever still arrives while the ranks wait for each other to finish.
  virtual void discardIncoming() = 0;
};

class MpiRuntime {
 public:
  // Starts the MPI thread and initialises MPI on it. Throws MpiError when MPI cannot start or
  // provides less than MPI_THREAD_FUNNELED. `finalizeTimeout` bounds the wait at shutdown for
  // every rank to arrive (all ranks finalise together).
  explicit MpiRuntime(Millis finalizeTimeout = Millis(600000));
  // Drains the attached poller, waits for every rank (draining incoming messages meanwhile),
  // finalises MPI and joins the thread. A rank that does not arrive by the deadline aborts
  // the job (MPI_Abort): the alternative is a hang.
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The finalize wait (see the constructor); ranks that wait for the whole run set it long.
  void setFinalizeTimeout(Millis timeout) { finalizeTimeout_ = timeout; }

  // Runs `job` on the MPI thread and waits up to `timeout` for it; rethrows what it threw.
  // On timeout throws MpiError (the job still runs: capture what it uses by value).
  void call(std::function<void()> job, Millis timeout);
  // The poller the MPI thread serves from now on (nullptr: none). Its lifetime is shared.
  void attach(std::shared_ptr<MpiPoller> poller);
  // Wakes the MPI thread from its idle wait (new work was queued for the poller).
  void wake();

 private:
  struct Job;
  void loop(std::promise<void>& started);
  void shutdownOnThread();

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::shared_ptr<MpiPoller> poller_;
  bool stopping_ = false;
  bool woken_ = false;
  int rank_ = 0, size_ = 0;
  Millis finalizeTimeout_;
};

// The name under which a participant rank is known to the hub ("rank-3").
std::string mpiPeerName(int rank);
// The rank of such a name, or -1.
int mpiPeerRank(const std::string& name);

}  // namespace fedtl::transport
