#include "common/transport/zmq/zmq_transport.h"

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <atomic>

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

// Logs why connections end: libzmq drops a peer that sends a frame above ZMQ_MAXMSGSIZE or
// breaks the wire protocol without telling the application, so this is the only trace of it.
class ConnectionLog : public zmq::monitor_t {
 public:
  ConnectionLog(zmq::socket_t& socket, std::int64_t maxMessageBytes) : maxMessageBytes_(maxMessageBytes) {
    static std::atomic<int> counter{0};
    init(socket, "inproc://fedtl-hub-monitor-" + std::to_string(counter++),
         ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
             ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  }
  void drain() {
    while (check_event(0)) {
    }
  }

 private:
  void on_event_disconnected(const zmq_event_t&, const char* addr) override {
    spdlog::info("connection {} closed: the peer left, stopped answering heartbeats, or sent a frame above the "
                 "{}-byte limit",
                 addr, maxMessageBytes_);
  }
  void on_event_handshake_failed_no_detail(const zmq_event_t& e, const char* addr) override {
    spdlog::warn("connection {} refused during the handshake (error {})", addr, e.value);
  }
  void on_event_handshake_failed_protocol(const zmq_event_t& e, const char* addr) override {
    spdlog::warn("connection {} refused: it broke the ZMTP protocol (code {:#x})", addr, e.value);
  }
  void on_event_handshake_failed_auth(const zmq_event_t& e, const char* addr) override {
    spdlog::warn("connection {} refused: authentication failed (status {})", addr, e.value);
  }
  std::int64_t maxMessageBytes_;
};

}  // namespace

struct ZmqHub::Impl {
  zmq::socket_t router{context(), zmq::socket_type::router};
  std::string endpoint;
  std::unique_ptr<ConnectionLog> connections;
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
  impl_->connections = std::make_unique<ConnectionLog>(r, options.maxMessageBytes);
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
  impl_->connections->drain();
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
