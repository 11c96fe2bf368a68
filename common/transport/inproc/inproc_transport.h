// An in-process transport: participants and the coordinator in one process exchange frames
// through bounded queues. The simulation harness and tests use it.
#pragma once

#include <memory>
#include <string>

#include "common/transport/transport.h"

namespace fedtl::transport {

class InprocHub : public Hub {
 public:
  explicit InprocHub(std::size_t queueCapacity = 64);
  ~InprocHub() override;
  std::string endpoint() const override { return "inproc://hub"; }
  bool send(const std::string& peer, SharedFrame frame, Millis timeout) override;
  std::optional<Incoming> receive(Millis timeout) override;

  // A participant's end, connected to this hub under `name`. A second link with the same
  // name replaces the first (a participant that restarted), whose operations then fail.
  std::unique_ptr<Link> connect(const std::string& name);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace fedtl::transport
