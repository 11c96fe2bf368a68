// ZeroMQ transport: the coordinator binds a ROUTER, each participant dials out with a DEALER
// whose routing id is its name (so sites behind NAT work and a restarted participant takes
// its old identity over). libzmq reconnects with exponential backoff, probes liveness with
// ZMTP heartbeats, and drops any connection that sends a frame above the size limit.
#pragma once

#include <memory>
#include <string>

#include "common/transport/transport.h"

namespace fedtl::transport {

class ZmqHub : public Hub {
 public:
  // bindAddress like "tcp://127.0.0.1:0" (0 = any free port) or "tcp://*:5555".
  explicit ZmqHub(const std::string& bindAddress, const LinkOptions& options = {});
  ~ZmqHub() override;
  std::string endpoint() const override;
  bool send(const std::string& peer, SharedFrame frame, Millis timeout) override;
  std::optional<Incoming> receive(Millis timeout) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ZmqLink : public Link {
 public:
  ZmqLink(const std::string& endpoint, std::string name, const LinkOptions& options = {});
  ~ZmqLink() override;
  const std::string& name() const override { return name_; }
  bool send(std::string_view frame, Millis timeout) override;
  std::optional<Frame> receive(Millis timeout) override;

 private:
  struct Impl;
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedtl::transport
