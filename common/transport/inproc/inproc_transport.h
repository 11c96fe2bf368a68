// An in-process transport: participants and the coordinator in one process exchange frames
// through bounded queues. The simulation harness and tests use it.
#pragma once

#include <memory>
#include <string>

#include "common/transport/transport.h"

namespace fedtl::transport {

class InprocHub : public Hub {
 public:
  // `reduceInTransport`: the collective is a shared sum (every link's contribution kept until
  // reduceSum adds those named), as MPI's reduction would be, instead of vectors in frames
  // summed by the engine (streamed, the default). For tests of the engine over both.
  explicit InprocHub(std::size_t queueCapacity = 64, bool reduceInTransport = false);
  ~InprocHub() override;
  std::string endpoint() const override { return "inproc://hub"; }
  bool send(const std::string& peer, SharedFrame frame, Millis timeout) override;
  std::optional<Incoming> receive(Millis timeout) override;
  bool reducesInTransport() const override;
  bool reduceSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<std::uint32_t>& sum,
                 Millis timeout) override;
  bool reduceFloatSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<float>& sum,
                      Millis timeout) override;

  // A participant's end, connected to this hub under `name`. A second link with the same
  // name replaces the first (a participant that restarted), whose operations then fail.
  std::unique_ptr<Link> connect(const std::string& name);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace fedtl::transport
