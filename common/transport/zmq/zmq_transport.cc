#include "common/transport/zmq/zmq_transport.h"

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/identity.h"

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

std::string protocolErrorText(int code) {
  switch (code) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "a CURVE box did not decrypt";
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "the two sides use different security mechanisms";
    case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
      return "the key exchange failed";
    default:
      break;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "ZMTP protocol error %#x", static_cast<unsigned>(code));
  return buf;
}

// Says when a repeating event is worth a log line: the first time, then at most once per
// period, with how many were left out in between (a refused peer retries every few seconds).
class Throttle {
 public:
  // True when this occurrence should be logged; `skipped` is then the count left out since.
  bool due(long& skipped, std::chrono::seconds period = std::chrono::seconds(30)) {
    const auto now = std::chrono::steady_clock::now();
    if (logged_ && now - last_ < period) {
      ++skipped_;
      return false;
    }
    skipped = skipped_;
    skipped_ = 0;
    last_ = now;
    logged_ = true;
    return true;
  }
  void reset() { logged_ = false; }

 private:
  bool logged_ = false;
  long skipped_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

std::string skippedNote(long skipped) {
  return skipped > 0 ? " [" + std::to_string(skipped) + " more since the last report]" : std::string();
}

// Logs why the hub's connections end or never start: libzmq drops a peer that sends a frame
// above ZMQ_MAXMSGSIZE, breaks the wire protocol or fails the security handshake without
// telling the application, so this is the only trace of it. Refusals that repeat (a refused
// peer keeps retrying) are logged once per 30 s and kind.
class ConnectionLog : public zmq::monitor_t {
 public:
  ConnectionLog(zmq::socket_t& socket, std::int64_t maxMessageBytes, bool secure)
      : maxMessageBytes_(maxMessageBytes), secure_(secure) {
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
    if (refusedNotClosed_ > 0) {  // the end of a connection refused in its handshake, logged as such
      --refusedNotClosed_;
      return;
    }
    spdlog::info(
        "connection {} closed: the peer left, stopped answering heartbeats, or sent a frame above the "
        "{}-byte limit",
        addr, maxMessageBytes_);
  }
  void on_event_handshake_failed_no_detail(const zmq_event_t& e, const char* addr) override {
    // The peer hung up mid-handshake: typically it detected the mismatch first.
    refused("no-detail", addr,
            "the peer hung up during the handshake (error " + std::to_string(e.value) + "): " +
                (secure_ ? "it probably has no CURVE keys (runs --insecure) or is not a fedtl participant"
                         : "it probably uses CURVE keys, which this coordinator (--insecure) does not"));
  }
  void on_event_handshake_failed_protocol(const zmq_event_t& e, const char* addr) override {
    if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
      refused("mechanism", addr,
              secure_ ? "the peer has no CURVE keys (runs --insecure) and this coordinator requires them"
                      : "the peer uses CURVE keys and this coordinator runs --insecure without them");
    } else if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
      refused("crypto", addr, "its CURVE handshake did not decrypt (the peer pinned a different coordinator key)");
    } else {
      refused("protocol", addr, "it broke the ZMTP protocol (" + protocolErrorText(e.value) + ")");
    }
  }
  void on_event_handshake_failed_auth(const zmq_event_t& e, const char* addr) override {
    refused(
        "auth", addr,
        "authentication failed (ZAP status " + std::to_string(e.value) + ": its CURVE key is not on the allow-list)");
  }
  void refused(const std::string& kind, const char* addr, const std::string& why) {
    ++refusedNotClosed_;
    long skipped = 0;
    if (throttles_[kind].due(skipped)) spdlog::warn("connection {} refused: {}{}", addr, why, skippedNote(skipped));
  }
  std::int64_t maxMessageBytes_;
  bool secure_;
  long refusedNotClosed_ = 0;
  std::map<std::string, Throttle> throttles_;
};

// Logs a participant's view of its connection to the coordinator: whether the (secure)
// handshake succeeded and, when it fails, the likely reason. libzmq keeps reconnecting with
// backoff; a failure that repeats is logged again at most every 30 s, with a count.
class LinkLog : public zmq::monitor_t {
 public:
  LinkLog(zmq::socket_t& socket, std::string name, bool secure) : name_(std::move(name)), secure_(secure) {
    static std::atomic<int> counter{0};
    init(socket, "inproc://fedtl-link-monitor-" + std::to_string(counter++),
         ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  }
  void drain() {
    while (check_event(0)) {
    }
  }

 private:
  void on_event_handshake_succeeded(const zmq_event_t&, const char* addr) override {
    throttles_.clear();
    if (!connected_)
      spdlog::info("{}: {} connection to the coordinator at {} established", name_,
                   secure_ ? "encrypted (CURVE, pinned key)" : "UNENCRYPTED", addr);
    connected_ = true;
  }
  void on_event_disconnected(const zmq_event_t&, const char* addr) override {
    if (connected_) spdlog::info("{}: connection to the coordinator at {} lost; reconnecting", name_, addr);
    connected_ = false;
  }
  void on_event_handshake_failed_no_detail(const zmq_event_t& e, const char* addr) override {
    const std::string error = " (error " + std::to_string(e.value) + ")";
    if (secure_) {
      failed("no-detail", addr,
             "the coordinator closed the connection during the CURVE handshake: it does not hold the pinned key "
             "(--coordinator-key) or runs without keys; nothing is sent to it" +
                 error);
    } else {
      failed("no-detail", addr,
             "the coordinator closed the connection during the handshake: it probably requires CURVE keys, and this "
             "participant runs --insecure" +
                 error);
    }
  }
  void on_event_handshake_failed_protocol(const zmq_event_t& e, const char* addr) override {
    if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
      failed("mechanism", addr,
             secure_ ? "the coordinator runs without CURVE keys (--insecure) and this participant has keys: "
                       "refusing to talk to it unencrypted"
                     : "the coordinator requires CURVE keys and this participant runs --insecure: give it "
                       "--identity and --coordinator-key");
    } else if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
      failed("crypto", addr,
             "the CURVE handshake did not decrypt: the server is not the coordinator whose key is pinned");
    } else {
      failed("protocol", addr, "the handshake broke the protocol (" + protocolErrorText(e.value) + ")");
    }
  }
  void on_event_handshake_failed_auth(const zmq_event_t& e, const char* addr) override {
    failed("auth", addr,
           "the coordinator refused this participant's key (ZAP status " + std::to_string(e.value) +
               "): it is not on its allow-list; its operator must add " + name_ + ".pub");
  }
  void failed(const std::string& kind, const char* addr, const std::string& why) {
    connected_ = false;
    long skipped = 0;
    if (!throttles_[kind].due(skipped)) return;
    spdlog::error("{}: cannot connect to the coordinator at {}: {}; retrying with backoff{}", name_, addr, why,
                  skippedNote(skipped));
  }
  std::string name_;
  bool secure_;
  bool connected_ = false;
  std::map<std::string, Throttle> throttles_;  // one per kind of failure
};

// The process's one ZAP handler (RFC 27), bound to inproc://zeromq.zap.01 in the process-wide
// context. libzmq asks it about every CURVE handshake on a hub with keys; it admits a client
// key only if the allow-list registered for the hub's ZAP domain holds it, and tells libzmq
// the name that key is allowed under (the User-Id every message from that connection carries).
// Owned jointly by the hubs with keys: a thread with finite poll timeouts, stopped and joined
// when the last of them goes.
class ZapHandler {
 public:
  static std::shared_ptr<ZapHandler> acquire() {
    static std::mutex mutex;
    static std::weak_ptr<ZapHandler> current;
    std::lock_guard<std::mutex> lock(mutex);
    if (auto existing = current.lock()) return existing;
    std::shared_ptr<ZapHandler> handler(new ZapHandler());
    current = handler;
    return handler;
  }
  ~ZapHandler() {
    stop_ = true;
    thread_.join();
  }
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Registers an allow-list (CURVE public key in Z85 -> name) under a fresh ZAP domain.
  std::string add(std::map<std::string, std::string> allowed) {
    static std::atomic<int> counter{0};
    std::string domain = "fedtl-hub-" + std::to_string(counter++);
    std::lock_guard<std::mutex> lock(mutex_);
    domains_[domain] = std::move(allowed);
    return domain;
  }
  void remove(const std::string& domain) {
    std::lock_guard<std::mutex> lock(mutex_);
    domains_.erase(domain);
  }

 private:
  ZapHandler() {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, &ready] { run(ready); });
    try {
      started.get();
    } catch (...) {
      stop_ = true;
      thread_.join();
      throw;
    }
  }

  void run(std::promise<void>& ready) {
    std::optional<zmq::socket_t> socket;
    try {
      socket.emplace(context(), zmq::socket_type::rep);
      socket->set(zmq::sockopt::linger, 0);
      // A handler that just went away may still hold the address for a moment (libzmq
      // releases inproc endpoints asynchronously): retry for a few seconds before giving up.
      for (int attempt = 0;; ++attempt) {
        try {
          socket->bind("inproc://zeromq.zap.01");
          break;
        } catch (const zmq::error_t& e) {
          if (e.num() != EADDRINUSE || attempt >= 60)
            throw ConfigError(std::string("cannot install the ZAP handler (inproc://zeromq.zap.01): ") + e.what() +
                              (e.num() == EADDRINUSE ? "; another ZAP handler runs in this process" : ""));
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();
    while (!stop_) {
      if (!waitFor(*socket, ZMQ_POLLIN, Millis(100))) continue;
      try {
        answer(*socket);
      } catch (const zmq::error_t& e) {
        spdlog::error("ZAP handler: {}", e.what());
      }
    }
  }

  // One request, one reply (the REP socket requires the reply, even to a malformed request).
  void answer(zmq::socket_t& socket) {
    std::vector<zmq::message_t> request;
    do {
      request.emplace_back();
      if (!socket.recv(request.back(), zmq::recv_flags::dontwait)) {
        request.pop_back();
        break;
      }
    } while (request.back().more());
    if (request.empty()) return;  // nothing received: nothing to answer
    auto reply = [&](const char* code, const char* text, const std::string& userId) {
      const std::string version = "1.0", requestId = request.size() > 1 ? request[1].to_string() : std::string();
      socket.send(zmq::buffer(version), zmq::send_flags::sndmore);
      socket.send(zmq::buffer(requestId), zmq::send_flags::sndmore);
      socket.send(zmq::buffer(std::string(code)), zmq::send_flags::sndmore);
      socket.send(zmq::buffer(std::string(text)), zmq::send_flags::sndmore);
      socket.send(zmq::buffer(userId), zmq::send_flags::sndmore);
      socket.send(zmq::message_t(), zmq::send_flags::none);  // no metadata
    };
    if (request.size() < 6 || request[0].to_string() != "1.0") return reply("500", "malformed ZAP request", "");
    const std::string domain = request[2].to_string(), address = request[3].to_string(),
                      mechanism = request[5].to_string();
    if (mechanism != "CURVE" || request.size() != 7 || request[6].size() != kCurveKeySize) {
      spdlog::warn("refused a {} connection from {}: this coordinator accepts CURVE with an allowed key only",
                   mechanism, address);
      return reply("400", "CURVE required", "");
    }
    char z85[kCurveKeyZ85Size + 1];
    zmq_z85_encode(z85, static_cast<const std::uint8_t*>(request[6].data()), kCurveKeySize);
    const std::string key(z85, kCurveKeyZ85Size);
    std::string name;
    bool knownDomain = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto d = domains_.find(domain);
      knownDomain = d != domains_.end();
      if (knownDomain) {
        auto k = d->second.find(key);
        if (k != d->second.end()) name = k->second;
      }
    }
    if (!knownDomain) return reply("400", "unknown ZAP domain", "");
    if (name.empty()) {
      deniedLog(address, key);
      return reply("400", "key not on the allow-list", "");
    }
    spdlog::info("connection from {} authenticated as '{}' (CURVE key {})", address, name, key);
    reply("200", "OK", name);
  }

  // A denied key retries with backoff: say so the first time, then at most once a minute.
  void deniedLog(const std::string& address, const std::string& key) {
    if (denied_.size() >= 4096) denied_.clear();  // bounded, whatever keys strangers try
    long skipped = 0;
    if (denied_[key].due(skipped, std::chrono::seconds(60)))
      spdlog::warn("denied connection from {}: unknown CURVE key {} (not on the allow-list){}", address, key,
                   skippedNote(skipped));
  }

  std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::string>> domains_;
  std::map<std::string, Throttle> denied_;  // only touched by the handler's thread
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void setCurveKey(zmq::socket_t& s, int option, const void* key, std::size_t size) {
  if (zmq_setsockopt(s.handle(), option, key, size) != 0) throw zmq::error_t();
}

void checkKeyPair(const CurveKeyPair& pair, const char* whose) {
  FEDTL_ENFORCE(isCurveKeyZ85(pair.publicKey), ConfigError, whose, " CURVE public key is not a 40-character Z85 key");
  FEDTL_ENFORCE(pair.secretKey.size() == kCurveKeySize, ConfigError, whose, " CURVE secret key must be ", kCurveKeySize,
                " bytes");
  FEDTL_ENFORCE(zmq_has("curve"), ConfigError, "this libzmq was built without CURVE support");
}

}  // namespace

struct ZmqHub::Impl {
  // Declared first, so it outlives the router that consults it.
  std::shared_ptr<ZapHandler> zap;
  std::string zapDomain;
  zmq::socket_t router{context(), zmq::socket_type::router};
  std::string endpoint;
  std::unique_ptr<ConnectionLog> connections;
  bool secure = false;

  ~Impl() {
    connections.reset();
    router.close();
    if (zap) zap->remove(zapDomain);
  }

  void open(const std::string& bindAddress, const LinkOptions& options, const HubSecurity* security) {
    auto& r = router;
    applyCommon(r, options);
    r.set(zmq::sockopt::router_mandatory, 1);  // sending to an unknown peer fails instead of vanishing
    r.set(zmq::sockopt::router_handover, 1);   // a reconnecting participant takes its name back
    if (security) {
      checkKeyPair(security->server, "the coordinator's");
      for (const auto& [key, name] : security->allowed) {
        FEDTL_ENFORCE(isCurveKeyZ85(key), ConfigError, "allow-list entry '", name, "' has a malformed CURVE key");
        FEDTL_ENFORCE(!name.empty() && name.size() <= 255, ConfigError, "allow-list names must be 1..255 bytes");
      }
      // The handler is running before the socket can accept anyone: without one, libzmq would
      // let every CURVE client in.
      zap = ZapHandler::acquire();
      zapDomain = zap->add(security->allowed);
      r.set(zmq::sockopt::zap_domain, zapDomain);
      // Refuse rather than admit when the handler cannot be reached. The option is a draft in
      // libzmq 4.3 (number 93, ZMQ_ZAP_ENFORCE_DOMAIN): set where the library has it, and the
      // handler above outlives this socket anyway.
      constexpr int kZapEnforceDomain = 93;
      const int enforce = 1;
      (void)zmq_setsockopt(r.handle(), kZapEnforceDomain, &enforce, sizeof enforce);
      r.set(zmq::sockopt::curve_server, 1);
      setCurveKey(r, ZMQ_CURVE_SECRETKEY, security->server.secretKey.data(), kCurveKeySize);
      secure = true;
    }
    try {
      r.bind(bindAddress);
    } catch (const zmq::error_t& e) {
      throw ConfigError("cannot bind coordinator to '" + bindAddress + "': " + e.what());
    }
    endpoint = r.get(zmq::sockopt::last_endpoint);
    connections = std::make_unique<ConnectionLog>(r, options.maxMessageBytes, secure);
  }
};

ZmqHub::ZmqHub(const std::string& bindAddress, const LinkOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->open(bindAddress, options, nullptr);
}

ZmqHub::ZmqHub(const std::string& bindAddress, const LinkOptions& options, const HubSecurity& security)
    : impl_(std::make_unique<Impl>()) {
  impl_->open(bindAddress, options, &security);
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
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Waits in slices, so connection events are logged while the engine waits.
    impl_->connections->drain();
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (!waitFor(r, ZMQ_POLLIN, std::clamp(left, Millis(0), Millis(250)))) {
      if (std::chrono::steady_clock::now() >= deadline) return {};
      continue;
    }
    zmq::message_t id, body;
    if (!r.recv(id, zmq::recv_flags::dontwait)) continue;
    // A DEALER sends [id][frame]; anything else is a misbehaving peer: drain and skip it.
    if (!id.more()) continue;
    if (!r.recv(body, zmq::recv_flags::dontwait)) continue;
    bool whole = true;
    while (body.more()) {
      zmq::message_t extra;
      if (!r.recv(extra, zmq::recv_flags::dontwait)) break;
      if (!extra.more()) {
        whole = false;
        break;
      }
    }
    if (!whole) continue;
    std::string peer = id.to_string();
    if (impl_->secure) {
      // The ZAP handler named the connection after its key; a routing id that differs would
      // let one allowed participant speak as another.
      const char* allowedAs = zmq_msg_gets(body.handle(), "User-Id");
      if (!allowedAs || peer != allowedAs) {
        spdlog::warn("dropping a frame from connection '{}': its CURVE key is allowed as '{}' only", peer,
                     allowedAs ? allowedAs : "(nobody)");
        continue;
      }
    }
    return Incoming{std::move(peer), adopt(std::move(body))};
  }
}

struct ZmqLink::Impl {
  zmq::socket_t dealer{context(), zmq::socket_type::dealer};
  std::unique_ptr<LinkLog> log;

  ~Impl() {
    log.reset();
    dealer.close();
  }

  void open(const std::string& endpoint, const std::string& name, const LinkOptions& options,
            const LinkSecurity* security) {
    FEDTL_ENFORCE(!name.empty() && name.size() <= 255 && name[0] != '\0', ConfigError,
                  "participant name must be 1..255 bytes and not start with a zero byte");
    auto& d = dealer;
    applyCommon(d, options);
    d.set(zmq::sockopt::routing_id, name);
    d.set(zmq::sockopt::reconnect_ivl, static_cast<int>(options.reconnectInitial.count()));
    d.set(zmq::sockopt::reconnect_ivl_max, static_cast<int>(options.reconnectMax.count()));
    if (security) {
      checkKeyPair(security->client, "the participant's");
      FEDTL_ENFORCE(isCurveKeyZ85(security->serverPublicKey), ConfigError,
                    "the coordinator's CURVE public key is not a 40-character Z85 key");
      setCurveKey(d, ZMQ_CURVE_SERVERKEY, security->serverPublicKey.data(), kCurveKeyZ85Size);
      setCurveKey(d, ZMQ_CURVE_PUBLICKEY, security->client.publicKey.data(), kCurveKeyZ85Size);
      setCurveKey(d, ZMQ_CURVE_SECRETKEY, security->client.secretKey.data(), kCurveKeySize);
    }
    log = std::make_unique<LinkLog>(d, name, security != nullptr);
    try {
      d.connect(endpoint);
    } catch (const zmq::error_t& e) {
      throw ConfigError("cannot connect to '" + endpoint + "': " + e.what());
    }
  }
};

ZmqLink::ZmqLink(const std::string& endpoint, std::string name, const LinkOptions& options)
    : name_(std::move(name)), impl_(std::make_unique<Impl>()) {
  impl_->open(endpoint, name_, options, nullptr);
}

ZmqLink::ZmqLink(const std::string& endpoint, std::string name, const LinkOptions& options,
                 const LinkSecurity& security)
    : name_(std::move(name)), impl_(std::make_unique<Impl>()) {
  impl_->open(endpoint, name_, options, &security);
}

ZmqLink::~ZmqLink() = default;

bool ZmqLink::send(std::string_view frame, Millis timeout) {
  impl_->log->drain();
  auto& d = impl_->dealer;
  if (!waitFor(d, ZMQ_POLLOUT, timeout)) return false;
  return d.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait).has_value();
}

std::optional<Frame> ZmqLink::receive(Millis timeout) {
  auto& d = impl_->dealer;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    impl_->log->drain();
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (waitFor(d, ZMQ_POLLIN, std::clamp(left, Millis(0), Millis(250)))) break;
    if (std::chrono::steady_clock::now() >= deadline) return {};
  }
  zmq::message_t body;
  if (!d.recv(body, zmq::recv_flags::dontwait)) return {};
  while (body.more()) {  // the hub sends single-part frames; skip anything else whole
    zmq::message_t extra;
    if (!d.recv(extra, zmq::recv_flags::dontwait) || !extra.more()) return {};
  }
  return adopt(std::move(body));
}

}  // namespace fedtl::transport
