#include "common/transport/zmq/zmq_transport.h"

#include <zmq.hpp>

#include "common/error.h"

namespace fedtl::transport {
namespace {

// One context per process is the libzmq recommendation; it outlives every socket.
zmq::context_t& context() {
  static zmq::context_t ctx(1);
  return ctx;
}

void applyCommon(zmq::socket_t& s, const LinkOptions& o) {
  s.set(zmq::sockopt::maxmsgsize, o.maxMessageBytes);
  s.set(zmq::sockopt::sndhwm, o.highWaterMark);
  s.set(zmq::sockopt::rcvhwm, o.highWaterMark);
  s.set(zmq::sockopt::linger, 1000);  // bounded: closing never hangs on an absent peer
  s.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(o.heartbeatInterval.count()));
  s.set(zmq::sockopt::heartbeat_ttl, static_cast<int>(o.heartbeatTimeout.count()));
  s.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(o.heartbeatTimeout.count()));
}

// A message that borrows the shared frame's bytes; libzmq drops its reference when the bytes
// are on the wire (or the message is discarded), so N peers share one buffer.
zmq::message_t borrow(const SharedFrame& frame) {
  auto* ref = new SharedFrame(frame);
  return zmq::message_t(
      const_cast<char*>(frame->data()), frame->size(), [](void*, void* hint) { delete static_cast<SharedFrame*>(hint); },
      ref);
}

// A received message as a Frame, without copying its bytes.
Frame adopt(zmq::message_t&& message) {
  auto owner = std::make_shared<zmq::message_t>(std::move(message));
  std::string_view bytes(static_cast<const char*>(owner->data()), owner->size());
  return Frame(std::move(owner), bytes);
}

bool waitFor(zmq::socket_t& s, short events, Millis timeout) {
  zmq::pollitem_t item{s.handle(), 0, events, 0};
  return zmq::poll(&item, 1, timeout) > 0;
}

}  // namespace

struct ZmqHub::Impl {
  zmq::socket_t router{context(), zmq::socket_type::router};
  std::string endpoint;
};

ZmqHub::ZmqHub(const std::string& bindAddress, const LinkOptions& options) : impl_(std::make_unique<Impl>()) {
  auto& r = impl_->router;
  applyCommon(r, options);
  r.set(zmq::sockopt::router_mandatory, 1);  // sending to an unknown peer fails instead of vanishing
  r.set(zmq::sockopt::router_handover, 1);   // a reconnecting participant takes its name back
  try {
    r.bind(bindAddress);
  } catch (const zmq::error_t& e) {
    throw ConfigError("cannot bind coordinator to '" + bindAddress + "': " + e.what());
  }
  impl_->endpoint = r.get(zmq::sockopt::last_endpoint);
}

ZmqHub::~ZmqHub() = default;

std::string ZmqHub::endpoint() const { return impl_->endpoint; }

bool ZmqHub::send(const std::string& peer, SharedFrame frame, Millis timeout) {
  auto& r = impl_->router;
  if (!waitFor(r, ZMQ_POLLOUT, timeout)) return false;
  try {
    if (!r.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    return r.send(borrow(frame), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return false;  // not connected (router_mandatory)
    throw;
  }
}

std::optional<Incoming> ZmqHub::receive(Millis timeout) {
  auto& r = impl_->router;
  if (!waitFor(r, ZMQ_POLLIN, timeout)) return {};
  zmq::message_t id, body;
  if (!r.recv(id, zmq::recv_flags::dontwait)) return {};
  // A DEALER sends [id][frame]; anything else is a misbehaving peer: drain and skip it.
  if (!id.more()) return {};
  if (!r.recv(body, zmq::recv_flags::dontwait)) return {};
  while (body.more()) {
    zmq::message_t extra;
    if (!r.recv(extra, zmq::recv_flags::dontwait)) break;
    if (!extra.more()) return {};
  }
  return Incoming{id.to_string(), adopt(std::move(body))};
}

struct ZmqLink::Impl {
  zmq::socket_t dealer{context(), zmq::socket_type::dealer};
};

ZmqLink::ZmqLink(const std::string& endpoint, std::string name, const LinkOptions& options)
    : name_(std::move(name)), impl_(std::make_unique<Impl>()) {
  FEDTL_ENFORCE(!name_.empty() && name_.size() <= 255 && name_[0] != '\0', ConfigError,
                "participant name must be 1..255 bytes and not start with a zero byte");
  auto& d = impl_->dealer;
  applyCommon(d, options);
  d.set(zmq::sockopt::routing_id, name_);
  d.set(zmq::sockopt::reconnect_ivl, static_cast<int>(options.reconnectInitial.count()));
  d.set(zmq::sockopt::reconnect_ivl_max, static_cast<int>(options.reconnectMax.count()));
  try {
    d.connect(endpoint);
  } catch (const zmq::error_t& e) {
    throw ConfigError("cannot connect to '" + endpoint + "': " + e.what());
  }
}

ZmqLink::~ZmqLink() = default;

bool ZmqLink::send(std::string_view frame, Millis timeout) {
  auto& d = impl_->dealer;
  if (!waitFor(d, ZMQ_POLLOUT, timeout)) return false;
  return d.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait).has_value();
}

std::optional<Frame> ZmqLink::receive(Millis timeout) {
  auto& d = impl_->dealer;
  if (!waitFor(d, ZMQ_POLLIN, timeout)) return {};
  zmq::message_t body;
  if (!d.recv(body, zmq::recv_flags::dontwait)) return {};
  while (body.more()) {  // the hub sends single-part frames; skip anything else whole
    zmq::message_t extra;
    if (!d.recv(extra, zmq::recv_flags::dontwait) || !extra.more()) return {};
  }
  return adopt(std::move(body));
}

}  // namespace fedtl::transport
