// MPI transport, for `mpirun ... fedtl mpi`: rank 0 of a communicator is the coordinator's hub,
// ranks 1..n-1 are participants, named "rank-K" by their rank K in that communicator.
//
// Every MPI call happens on the MpiRuntime's thread; hub and links hand it work through bounded
// queues, and every wait of a caller ends by its timeout.
//  - Frames travel point to point (MPI_Isend; the receiver peeks with MPI_Iprobe and refuses,
//    unread, nothing: an oversized frame is received into nothing and dropped with a log line).
//    Frames above maxMessageBytes (at most INT_MAX, MPI's count) are refused at the sender.
//  - broadcast() to every participant rank is one MPI_Ibcast: a small point-to-point
//    announcement (same tag order as the frames, so it stays in sequence with them) tells each
//    rank's MPI thread how many bytes follow; the frame then lands in its inbox like any other.
//  - The collective (transport.h): reduceSum announces the key, length, element type and
//    contributors to every participant rank, then MPI_Ireduce(MPI_UINT32_T, MPI_SUM) to rank 0,
//    which adds zeros; each rank adds the vector it contributed under that key if it is named,
//    zeros otherwise. Unsigned addition wraps mod 2^32, so SecAgg masks cancel inside the
//    reduction tree. reduceFloatSum is the same on MPI_FLOAT (plaintext weighted updates).
// A collective that does not complete within collectiveTimeout aborts the job (MPI_Abort): a
// collective cannot be cancelled, and MPI has no dropout anyway.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstdint>
#include <memory>
#include <string>

#include "common/transport/mpi/mpi_runtime.h"
#include "common/transport/transport.h"

namespace fedtl::transport {

struct MpiTransportOptions {
  std::size_t maxMessageBytes = INT_MAX;  // frames and broadcasts above this are refused (at most INT_MAX)
  std::size_t queueCapacity = 64;          // frames queued per direction (and sends in flight)
  Millis collectiveTimeout{600000};        // a broadcast or reduction stuck longer aborts the job
};

class MpiHub : public Hub {
 public:
  // Rank 0 of `comm`, whose other ranks each run an MpiLink. The runtime must outlive the hub.
  MpiHub(MpiRuntime& runtime, MPI_Comm comm, MpiTransportOptions options = {});
  // Queued frames (the goodbyes) are still sent: the runtime drains them before it finalises.
  ~MpiHub() override;
  MpiHub(const MpiHub&) = delete;
  MpiHub& operator=(const MpiHub&) = delete;

  std::string endpoint() const override;
  bool send(const std::string& peer, SharedFrame frame, Millis timeout) override;
  std::optional<Incoming> receive(Millis timeout) override;
  std::vector<bool> broadcast(const std::vector<std::string>& peers, const SharedFrame& frame,
                              Millis timeout) override;
  bool reducesInTransport() const override { return true; }
  bool reduceSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<std::uint32_t>& sum,
                 Millis timeout) override;
  bool reduceFloatSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<float>& sum,
                      Millis timeout) override;
  // The participants' names, "rank-1" .. "rank-(n-1)".
  std::vector<std::string> peers() const;

  struct State;

 private:
  MpiRuntime& runtime_;
  std::shared_ptr<State> state_;
};

class MpiLink : public Link {
 public:
  // Rank `rank` > 0 of `comm`, talking to its rank 0. The runtime must outlive the link.
  MpiLink(MpiRuntime& runtime, MPI_Comm comm, MpiTransportOptions options = {});
  ~MpiLink() override;
  MpiLink(const MpiLink&) = delete;
  MpiLink& operator=(const MpiLink&) = delete;

  const std::string& name() const override { return name_; }
  bool send(std::string_view frame, Millis timeout) override;
  std::optional<Frame> receive(Millis timeout) override;
  bool reducesInTransport() const override { return true; }
  bool contribute(std::uint64_t key, std::vector<std::uint32_t> values, Millis timeout) override;
  bool contributeFloat(std::uint64_t key, std::vector<float> values, Millis timeout) override;

  struct State;

 private:
  MpiRuntime& runtime_;
  std::string name_;
  std::shared_ptr<State> state_;
};

}  // namespace fedtl::transport
