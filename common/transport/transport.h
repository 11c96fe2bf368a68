// The narrow message-passing interface between a coordinator and its participants. Bytes
// only: frames are encoded and checked by protocols/. Every wait takes a finite timeout.
//
// A Hub is the coordinator's end: participants connect to it and are told apart by name.
// A Link is one participant's end: it dials the hub and keeps reconnecting on its own.
// Implementations live one per folder: inproc/ (simulation and tests), zmq/ (multi-site),
// mpi/ (mpirun launches inside a cluster).
//
// Besides messages there is one collective, "sum these vectors to the coordinator", in two
// element types: uint32 (secure aggregation's masked inputs, which cancel only in the ring mod
// 2^32) and float (plaintext FedAvg's weighted updates). It comes in two realisations, and the
// round engine uses whichever the hub has:
//  - streamed (inproc, zmq; reducesInTransport() is false): each participant's vector travels in
//    a frame and the engine folds it into its running sum as it arrives, under the upload
//    window, so the coordinator holds O(model size) however many participants there are;
//  - in the transport (mpi; reducesInTransport() is true): each participant hands its vector to
//    Link::contribute and says so in a small frame; the hub then sums exactly the vectors of
//    the contributors it names (MPI_Reduce on MPI_UINT32_T: the masks cancel inside the
//    reduction tree and the coordinator never holds one participant's vector; MPI_FLOAT for
//    plaintext updates, whose sum then depends on the reduction tree's order in the last bits).
// A participant keeps few contributions: uint32 ones by key (one SecAgg session at a time, a
// handful kept), and only its latest float one (a newer key replaces it).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedtl::transport {

using Millis = std::chrono::milliseconds;

// A frame to send, shared rather than copied: one round's parameters go to every selected
// participant from a single buffer, so a broadcast costs one model size, not one per peer.
using SharedFrame = std::shared_ptr<const std::string>;
inline SharedFrame share(std::string frame) { return std::make_shared<const std::string>(std::move(frame)); }

// A received frame. It keeps alive whatever buffer the transport filled instead of copying
// the bytes out, so a large update is held once while it is decoded.
class Frame {
 public:
  Frame() = default;
  explicit Frame(std::string bytes) : Frame(share(std::move(bytes))) {}
  explicit Frame(SharedFrame bytes) : view_(*bytes), owner_(std::move(bytes)) {}
  Frame(std::shared_ptr<const void> owner, std::string_view bytes) : view_(bytes), owner_(std::move(owner)) {}
  std::string_view bytes() const { return view_; }
  std::size_t size() const { return view_.size(); }

 private:
  std::string_view view_;
  std::shared_ptr<const void> owner_;
};

struct Incoming {
  std::string peer;  // the participant's name
  Frame frame;       // one whole frame
};

class Hub {
 public:
  virtual ~Hub() = default;
  // The address participants dial (for tcp, with the port actually bound).
  virtual std::string endpoint() const = 0;
  // Queues a frame for peer without copying it. False when the peer is not connected or its
  // queue stays full for `timeout`: a slow or absent participant never blocks for longer.
  virtual bool send(const std::string& peer, SharedFrame frame, Millis timeout) = 0;
  // The next frame from any participant, or nothing after `timeout`.
  virtual std::optional<Incoming> receive(Millis timeout) = 0;

  // Sends one frame to each of `peers` (a round start, an evaluation request); says which were
  // reached. By default a send to each in turn; MPI uses MPI_Bcast when the peers are all ranks.
  virtual std::vector<bool> broadcast(const std::vector<std::string>& peers, const SharedFrame& frame,
                                      Millis timeout) {
    std::vector<bool> sent;
    sent.reserve(peers.size());
    for (const auto& peer : peers) sent.push_back(send(peer, frame, timeout));
    return sent;
  }

  // The collective (see the top of this file). With reducesInTransport(): replaces `sum` (its
  // size is the vectors' length) by the mod-2^32 sum of the vectors that `contributors` handed
  // to Link::contribute under `key`, everyone else adding zeros. False, with `sum` emptied, when
  // it cannot (then the attempt fails like any missing stage).
  virtual bool reducesInTransport() const { return false; }
  virtual bool reduceSum(std::uint64_t key, const std::vector<std::string>& contributors,
                         std::vector<std::uint32_t>& sum, Millis timeout) {
    sum.clear();
    return false;
  }
  // The float variant: the same for the float vectors handed to Link::contributeFloat (plain
  // floating-point addition, in whatever order the transport takes it).
  // (Its own name: a braced list of numbers would not tell the overloads apart.)
  virtual bool reduceFloatSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<float>& sum,
                              Millis timeout) {
    sum.clear();
    return false;
  }
};

class Link {
 public:
  virtual ~Link() = default;
  virtual const std::string& name() const = 0;
  virtual bool send(std::string_view frame, Millis timeout) = 0;
  virtual std::optional<Frame> receive(Millis timeout) = 0;

  // This participant's part of the collective (see the top of this file): keeps `values` for
  // the hub's reduceSum under `key`. Only where reducesInTransport(); false otherwise.
  virtual bool reducesInTransport() const { return false; }
  virtual bool contribute(std::uint64_t key, std::vector<std::uint32_t> values, Millis timeout) { return false; }
  // The float variant, for the hub's reduceFloatSum; replaces any earlier float contribution.
  virtual bool contributeFloat(std::uint64_t key, std::vector<float> values, Millis timeout) { return false; }
};

// Socket options shared by implementations that have them.
struct LinkOptions {
  std::int64_t maxMessageBytes = std::int64_t{1} << 31;  // larger frames drop the connection
  int highWaterMark = 16;                                  // frames queued per peer and direction
  Millis reconnectInitial{100};                            // reconnect backoff starts here ...
  Millis reconnectMax{5000};                               // ... and doubles up to this
  Millis heartbeatInterval{2000};                          // transport-level liveness probes
  // Silence after which a connection is dropped. Generous: a busy peer (decoding a large
  // model on a loaded machine) must not lose its connection, and the round engine never
  // relies on it (every stage has its own deadline).
  Millis heartbeatTimeout{30000};
};

}  // namespace fedtl::transport
